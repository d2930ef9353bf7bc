"""The offline bundle: its manifest, archive inspection, verification and image import.

Who calls what:

==============================  ==========================================================
module                          purpose
==============================  ==========================================================
:mod:`.manifest`                load/save ``manifest.yaml``; ``normalize_ref``
:mod:`.archive`                 read a docker/OCI archive's own index without extracting it
:mod:`.scan`                    hand-assembled folders: learn the contents, ``lock`` them
:mod:`.verify`                  sizes, sha256 (parallel) and refs against the manifest
:mod:`.importer`                import into containerd (or docker) with progress and retry
:mod:`.requirements`            which artifacts the chosen components need, and which are missing
:mod:`.step`                    ``ImportImagesStep`` for the install plan
==============================  ==========================================================
"""
