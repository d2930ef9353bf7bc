"""Components: each package owns its profile section (``settings``), its bundle
artifacts, its preflight needs and its install steps, and describes itself in one
:class:`~installer.components.base.Component` (its ``component.py``). A new component
is a new package here plus one line in :data:`installer.components.registry.COMPONENTS`.
"""
