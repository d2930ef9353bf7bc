"""Export: build the offline bundle on a connected machine (``./install.sh export``).

==============================  ==========================================================
module                          purpose
==============================  ==========================================================
:mod:`.refs`                    which images: profile components, --image, files, Helm values
:mod:`.images`                  pull (Docker SDK) and save each image to its own archive
:mod:`.archive`                 stream bytes through zstd/gzip into a file, hashed, atomically
:mod:`.files`                   --chart and --snap files copied in with their checksums
:mod:`.wheels`                  the installer's own wheels for an offline ``install.sh``
:mod:`.exporter`                the run: phases, merged manifest, report
==============================  ==========================================================
"""
