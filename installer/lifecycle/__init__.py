"""Day two: what an install left on the host (:mod:`.installed`), the upgrade from a new bundle
(:mod:`.changes`, :mod:`.upgrade`) and the uninstall (:mod:`.uninstall`).

The sessions build plans of ordinary steps (:mod:`.steps`) and run them through the same
runner, journal and lock as the install, so an interrupted change resumes the same way.
"""
