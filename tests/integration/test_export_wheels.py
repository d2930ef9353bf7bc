"""``export --wheels`` downloads the installer's wheels; ``install.sh`` then installs with the network cut.

The download needs PyPI (or the mirror pip is configured with). Outside CI the test
skips when that index cannot be reached; under CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from repocopy import fresh_copy

from installer.bundle.manifest import load_manifest
from installer.cli import main
from installer.export.archive import file_sha256

REPO = Path(__file__).resolve().parents[2]
HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _index_url() -> str:
    done = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                          capture_output=True, text=True, check=False)
    return os.environ.get("PIP_INDEX_URL") or (done.stdout.strip() if done.returncode == 0 else "") \
        or "https://pypi.org/simple/"


def _index_reachable() -> bool:
    try:
        with urllib.request.urlopen(_index_url().rstrip("/") + "/pip/", timeout=10):
            return True
    except OSError:
        return False


def test_wheels_export_then_install_sh_with_no_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = fresh_copy(tmp_path / "usb")
    out = copy / "offline-images"
    code = main(["export", "--out", str(out), "--no-profile-images", "--wheels",
                 "--python-version", HERE_PYTHON, "--python-version", "3.12", "--json"])
    report = json.loads(capsys.readouterr().out)
    if code != 0 and not os.environ.get("CI") and not _index_reachable():
        pytest.skip(f"the package index {_index_url()} is not reachable: {report['missing']}")
    assert code == 0, report["missing"]
    manifest = load_manifest(out)
    names = sorted(Path(w.file).name for w in manifest.wheels)
    assert any(n.startswith("jupyterhub_offline_installer-") for n in names)
    for wanted in ("pydantic_core-", "zstandard-", "textual-", "docker-", "PyYAML-", "psutil-", "pip-"):
        assert any(n.lower().startswith(wanted.lower()) for n in names), (wanted, names)
    for cp in (HERE_PYTHON, "3.12"):  # binary wheels for both target Pythons
        tag = "cp" + cp.replace(".", "")
        assert any(n.startswith("pydantic_core-") and f"-{tag}-" in n for n in names), (tag, names)
    for wheel in manifest.wheels:
        assert file_sha256(out / wheel.file) == wheel.sha256
    # the air-gapped side: no network namespace at all, a fresh venv from those wheels only
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_INDEX_URL")}
    env["INSTALLER_VENV"] = str(tmp_path / "venv")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], check=False).returncode != 0:
        pytest.fail("`unshare -n` is needed to cut the network (util-linux, as root)")
    done = subprocess.run(["unshare", "-n", "bash", str(copy / "install.sh"), "schema"], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "from offline-images/wheels (no network)" in done.stderr
    assert '"jupyterhub"' in done.stdout
    installed = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                               capture_output=True, text=True, check=True).stdout
    assert "jupyterhub-offline-installer" in {p["name"] for p in json.loads(installed)}
