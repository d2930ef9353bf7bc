"""``--dry-run`` predicts the real run (issue 13, points 6 and 14), through the real CLI as a process.

On a host whose preflight fails, the dry-run ends with the exit code the real run
would end with (3), and its failure block keeps every line indented. On a host where
MicroK8s's containerd is not running yet (every fresh host), the import step says
what it would import; only an archive that is really damaged is reported as failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakehost import GIB, base_host
from twin.charts import build_bundle

from installer.config.profile import Profile
from installer.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_host(tmp_path: Path) -> dict[str, Any]:
    """A bundle for the default profile and a fresh Ubuntu host tree with too little memory for preflight."""
    bundle = tmp_path / "offline-images"
    build_bundle(bundle, Profile(bundle=bundle))
    host = base_host(tmp_path / "host", memory=2 * GIB)
    profile = tmp_path / "site.yaml"
    profile.write_text(f"bundle: {bundle}\n")
    return {"bundle": bundle, "host": host.root, "profile": profile, "tmp": tmp_path}


def dry_run(site: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``./install.sh --profile P --dry-run`` on the fake host (no containerd socket exists there)."""
    return subprocess.run(
        [sys.executable, "-m", "installer", "--profile", str(site["profile"]), "--dry-run",
         "--host-root", str(site["host"]), "--state-dir", str(site["tmp"] / "state"),
         "--log-file", str(site["tmp"] / "dry.log")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_dry_run_exits_with_the_code_of_the_real_run(fresh_host: dict[str, Any]) -> None:
    """Preflight would fail: exit 3, said at the end; the failure block's lines stay indented."""
    done = dry_run(fresh_host)
    assert done.returncode == ExitCode.PREFLIGHT_FAILED, done.stdout[-3000:] + done.stderr
    assert "a real run would stop at: preflight" in done.stdout
    assert "dry-run: on this host a real run would fail (exit 3)" in done.stderr
    block = done.stdout[done.stdout.index("      FAIL  preflight"):]
    block = block[: block.index("\n[2/")]
    assert all(line.startswith("      ") for line in block.splitlines()), block  # nothing at column 0
    assert "\n            If you accept the risk" in block


def test_dry_run_predicts_the_import_instead_of_failing_it(fresh_host: dict[str, Any]) -> None:
    """No containerd yet: "would import N archives (X MB)", no FAIL; a damaged archive alone is named."""
    done = dry_run(fresh_host)
    out = done.stdout
    archives = sorted((fresh_host["bundle"] / "images").iterdir())
    assert "holds nothing" not in out and "FAIL  import-images" not in out, out
    assert f"would import {len(archives)} image archive(s) (" in out
    assert "plan  import-images" in out
    damaged = archives[0]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, another checksum
    damaged.write_bytes(bytes(data))
    done = dry_run(fresh_host)
    failed = [line for line in done.stdout.splitlines() if line.lstrip().startswith("FAIL  images/")]
    assert len(failed) == 1 and damaged.name in failed[0] and "sha256 mismatch" in failed[0], failed
    assert f"would import {len(archives) - 1} image archive(s) (" in done.stdout
    assert done.returncode == ExitCode.PREFLIGHT_FAILED  # the first step a real run would stop at decides


def test_dry_run_summary_does_not_call_images_to_import_present(tmp_path: Path) -> None:
    """A dry-run that would pass ends with "Images: N would be imported", never "N already present" for them."""
    bundle = tmp_path / "offline-images"
    build_bundle(bundle, Profile(bundle=bundle))
    host = base_host(tmp_path / "host")
    profile = tmp_path / "site.yaml"
    profile.write_text(f"bundle: {bundle}\n")
    done = dry_run({"bundle": bundle, "host": host.root, "profile": profile, "tmp": tmp_path})
    archives = len(list((bundle / "images").iterdir()))
    assert done.returncode == ExitCode.OK, done.stdout[-3000:] + done.stderr
    summary = next(line for line in done.stdout.splitlines() if line.startswith("Images: "))
    assert summary.startswith(f"Images: {archives} would be imported ("), summary
    assert summary.endswith(", 0 already present"), summary


def test_a_failing_dry_run_does_not_say_the_install_failed(fresh_host: dict[str, Any]) -> None:
    """Nothing was installed in a dry-run: its end line says what a real run would do."""
    done = dry_run(fresh_host)
    assert done.returncode == ExitCode.PREFLIGHT_FAILED
    assert "The install failed" not in done.stderr, done.stderr
    assert "A real run would fail at step preflight (exit 3)" in done.stderr, done.stderr
