"""microk8s component."""
