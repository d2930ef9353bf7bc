"""The wizard's state and the actions behind its screens, with no Textual: the tui package draws them."""
