"""The Textual wizard. Only this package imports Textual; it drives the engine through events."""
