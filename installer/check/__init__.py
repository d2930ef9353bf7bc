"""The acceptance check (issue 14): a server per catalog entry through the hub's API, probed, then removed."""
