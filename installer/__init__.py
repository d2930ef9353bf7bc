"""Offline JupyterHub installer for air-gapped GPU servers.

The engine (everything but :mod:`installer.tui`) never imports Textual or Rich;
the wizard and the headless console are both sinks of the engine's events.
"""

__version__ = "0.1.0"
