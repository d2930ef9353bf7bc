"""One module per wizard screen, in the order the operator meets them."""
