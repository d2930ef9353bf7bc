"""The signed round trip against the real daemons: ``export --sign`` -> ``verify --trust`` -> ``import --trust``.

Images are pushed to the loopback registry, exported by the real dockerd, signed with a key made by
``ssh-keygen``, checked and imported into the real containerd through the CLI as an operator runs it.
A top-up export (``--image`` into the same folder) signs again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from installer.cli import main

pytestmark = [pytest.mark.dockerd, pytest.mark.containerd,
              pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")]


def _push(registry: Any, image_archive: Any, name: str, seed: int) -> str:
    path, _ = image_archive(f"build/{name}", name=f"{name.replace('/', '_').replace(':', '_')}.tar", seed=seed,
                            size=256 * 1024)
    return str(registry.push_archive(path, name))


def _fingerprint(public: Path) -> str:
    return subprocess.run(["ssh-keygen", "-l", "-f", str(public)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


def test_export_sign_verify_trust_import(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                         registry: Any, image_archive: Any, clean_containerd: Any) -> None:
    key = tmp_path / "keys" / "builder"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "builder@site", "-f", str(key)], check=True)
    public = key.with_name("builder.pub")
    trust = tmp_path / "trusted-signers"
    trust.write_text("builder@site " + " ".join(public.read_text().split()[:2]) + "\n")
    signed_by = f"signed by builder@site ({_fingerprint(public)})"
    out, state = tmp_path / "offline-images", tmp_path / "state"
    alpha = _push(registry, image_archive, "signed/alpha:1", seed=201)
    export = ["export", "--out", str(out), "--no-profile-images", "--docker-host", dockerd.url, "--json"]

    assert main([*export, "--image", alpha, "--sign", str(key)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["signature"].startswith(f"signed: {out / 'manifest.yaml.sig'}")

    assert main(["verify", "--bundle", str(out), "--trust", str(trust), "--state-dir", str(state)]) == 0
    assert signed_by in capsys.readouterr().err

    assert main(["import", "--bundle", str(out), "--trust", str(trust), "--containerd-socket",
                 str(clean_containerd.socket), "--namespace", clean_containerd.namespace, "--ctr", "ctr",
                 "--state-dir", str(state)]) == 0
    assert signed_by in capsys.readouterr().err
    assert clean_containerd.images() == [alpha]

    # A top-up export into the same folder signs the new manifest again.
    beta = _push(registry, image_archive, "signed/beta:1", seed=202)
    assert main([*export, "--image", beta, "--sign", str(key)]) == 0
    capsys.readouterr()
    assert main(["verify", "--bundle", str(out), "--trust", str(trust), "--state-dir", str(state), "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["signature"]["status"] == "trusted" and verified["ok"]
    assert (verified["checked"], verified["failed"]) == (2, 0)

    # A top-up without --sign leaves no stale signature behind, and trust then refuses the bundle.
    gamma = _push(registry, image_archive, "signed/gamma:1", seed=203)
    assert main([*export, "--image", gamma]) == 0
    assert "manifest.yaml.sig" in json.loads(capsys.readouterr().out)["signature"]
    assert not (out / "manifest.yaml.sig").exists()
    assert main(["verify", "--bundle", str(out), "--trust", str(trust), "--state-dir", str(state)]) == 2
