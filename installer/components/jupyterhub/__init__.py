"""jupyterhub component."""
