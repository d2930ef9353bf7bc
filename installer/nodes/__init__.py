"""More than one server: the member's bundle server and join command (``add-node``), the new node's
fetch, verify and import over the LAN and its join steps (``join``), and the node listing.

The join steps are plan steps like the install's (phase "host"); MicroK8s's own ``add-node`` and
``join`` run through the one command runner (facts in docs/upstream-facts.md, "Clustering").
"""
