"""Tests of the acceptance check (issue 14): its REST client against a real JupyterHub, its probes against the twin."""
