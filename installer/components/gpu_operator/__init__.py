"""gpu_operator component."""
