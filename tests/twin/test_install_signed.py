"""The install's bundle check asks who signed the bundle before anything else (issue 18).

The real session against the MicroK8s twin, with ``bundle.trust`` in the profile and keys made by
``ssh-keygen``: a bundle signed by a stranger stops at the bundle check with nothing imported; one
signed by the trusted key installs, says who signed it, keeps the trust file in the state folder
(later runs require it without being told) and leaves the signer for ``status``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import base_host
from twin.charts import build_bundle

from installer.bundle.signature import TRUST_NAME, recorded_signature, sign_manifest
from installer.config.profile import load_profile
from installer.engine.commands import RealRunner
from installer.install_run import InstallOptions, run_install
from tests.faults.support import cli
from tests.twin.test_install_e2e import Events, write_profile

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only"),
              pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")]


def _key(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / name.split("@", maxsplit=1)[0]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)], check=True)
    return private


def test_install_refuses_a_stranger_and_installs_what_the_trusted_key_signed(
        tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.fixture import make_twin, use_twin

    twin = make_twin(tmp_path, clean_containerd, base_host)
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    path = write_profile("cpu", tmp_path / "cpu.yaml", bundle)
    data = yaml.safe_load(path.read_text())
    data["bundle"] = {"path": str(bundle), "trust": "trusted-signers"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    profile = load_profile(path)
    build_bundle(bundle, profile)
    builder, stranger = _key(tmp_path / "keys", "builder@site"), _key(tmp_path / "keys", "stranger@elsewhere")
    public = builder.with_name(builder.name + ".pub").read_text().split()[:2]
    (tmp_path / "trusted-signers").write_text(f"builder@site {' '.join(public)}\n")
    state = tmp_path / "state"
    options = InstallOptions(profile=profile, state_dir=state, host_root=twin.host.root, bundle_dir=bundle,
                             containerd_socket=twin.containerd.socket, namespace=twin.containerd.namespace)

    sign_manifest(bundle, stranger, RealRunner())
    events = Events()
    result = run_install(options, events)
    assert result.exit_code == 2, (result.error, events.steps())
    assert [s for s, status in events.steps().items() if status == "failed"] == ["bundle-check"]
    assert result.error is not None and "does not list" in result.error.message
    assert clean_containerd.images() == [], "images were imported from a bundle the trust file refuses"
    assert twin.state()["snaps"] == {}

    sign_manifest(bundle, builder, RealRunner())
    events = Events()
    result = run_install(options, events)
    assert result.ok, (result.error, events.steps())
    assert any(m.startswith(f"bundle {bundle}: signed by builder@site (SHA256:") for m in events.logs())
    assert (state / TRUST_NAME).read_text() == (tmp_path / "trusted-signers").read_text()
    assert (recorded_signature(state) or "").startswith(f"bundle {bundle}: signed by builder@site")
    status = cli("status", "--state-dir", str(state))
    assert f"bundle {bundle}: signed by builder@site (SHA256:" in status.stdout, status.stdout

    # The kept trust file binds later runs that do not name one.
    (bundle / "manifest.yaml.sig").unlink()
    plain = load_profile(write_profile("cpu", tmp_path / "plain.yaml", bundle))
    result = run_install(InstallOptions(profile=plain, state_dir=state, host_root=twin.host.root, bundle_dir=bundle,
                                        containerd_socket=twin.containerd.socket,
                                        namespace=twin.containerd.namespace), Events())
    assert result.exit_code == 2 and result.error is not None and "not signed" in result.error.message
