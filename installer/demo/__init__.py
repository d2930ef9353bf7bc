"""`./install.sh --demo`: a small bundle built on the spot and a private containerd.

Nothing in the core imports this package: the demo hands its runner to the install."""
