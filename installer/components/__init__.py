"""Components: each package owns its profile section (``settings``), its bundle
artifacts, its preflight needs and its install steps. A new component is a new
package here plus one line in :data:`installer.config.profile.Profile`.
"""
