"""A signed bundle: ``manifest.yaml.sig`` made by ``ssh-keygen -Y sign``, checked before anything else.

Real keys made by ``ssh-keygen`` in a temp folder, the real CLI as a process, a real containerd for
``import``: a bundle signed by a trusted key is "signed by NAME (fingerprint)"; every refused case
exits 2 naming its reason, and nothing reaches containerd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from imagegen import make_image_archive

from tests.faults.support import cli, wait_for

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")


@dataclass
class Key:
    """An SSH key pair made by ssh-keygen, and its fingerprint as ``ssh-keygen -l`` prints it."""

    private: Path
    name: str

    @property
    def public(self) -> Path:
        return self.private.with_name(self.private.name + ".pub")

    @property
    def fingerprint(self) -> str:
        out = subprocess.run(["ssh-keygen", "-l", "-f", str(self.public)], capture_output=True, text=True, check=True)
        return out.stdout.split()[1]

    def trust_line(self) -> str:
        return f"{self.name} {' '.join(self.public.read_text().split()[:2])}\n"


def make_key(folder: Path, name: str) -> Key:
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / name.split("@", maxsplit=1)[0]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)], check=True)
    return Key(private, name)


@dataclass
class Site:
    bundle: Path
    builder: Key
    stranger: Key
    trust: Path
    state: Path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A two-image bundle locked and signed by ``builder``; a trust file listing only ``builder``."""
    bundle = tmp_path / "offline-images"
    make_image_archive(bundle / "images" / "alpha.tar", "docker.io/sig/alpha:1", seed=1, size=32 * 1024)
    make_image_archive(bundle / "images" / "beta.tar", "docker.io/sig/beta:1", seed=2, size=32 * 1024)
    builder = make_key(tmp_path / "keys", "builder@site")
    stranger = make_key(tmp_path / "keys", "stranger@elsewhere")
    done = cli("bundle", "lock", "--bundle", str(bundle), "--sign", str(builder.private))
    assert done.returncode == 0, done.stderr
    assert (bundle / "manifest.yaml.sig").is_file()
    trust = tmp_path / "trusted-signers"
    trust.write_text(builder.trust_line())
    return Site(bundle, builder, stranger, trust, tmp_path / "state")


def verify(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("verify", "--bundle", str(site.bundle), "--state-dir", str(site.state), *args)


def do_import(site: Site, containerd: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("import", "--bundle", str(site.bundle), "--containerd-socket", str(containerd.socket),
               "--namespace", containerd.namespace, "--ctr", "ctr", "--state-dir", str(site.state), *args)


def refused(done: subprocess.CompletedProcess[str], *says: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for text in says:
        assert text in done.stderr, f"{text!r} not in:\n{done.stderr}"


def resign_with(site: Site, key: Key) -> None:
    done = cli("bundle", "lock", "--bundle", str(site.bundle), "--force", "--sign", str(key.private))
    assert done.returncode == 0, done.stderr


def test_signed_by_a_trusted_key_names_the_signer(site: Site) -> None:
    done = verify(site, "--trust", str(site.trust))
    assert done.returncode == 0, done.stderr
    assert f"signed by builder@site ({site.builder.fingerprint})" in done.stderr
    assert "manifest.yaml.sig is in the folder but not in the manifest" not in done.stderr


def test_json_reports_the_signer(site: Site) -> None:
    import json

    done = verify(site, "--trust", str(site.trust), "--json")
    assert done.returncode == 0, done.stderr
    signature = json.loads(done.stdout)["signature"]
    assert signature["status"] == "trusted"
    assert (signature["signer"], signature["fingerprint"]) == ("builder@site", site.builder.fingerprint)


def test_signed_by_an_untrusted_key_is_refused_naming_its_fingerprint(site: Site) -> None:
    resign_with(site, site.stranger)
    refused(verify(site, "--trust", str(site.trust)), site.stranger.fingerprint, "does not list")


def test_unsigned_is_refused_when_trust_is_configured_and_a_warning_otherwise(site: Site) -> None:
    (site.bundle / "manifest.yaml.sig").unlink()
    refused(verify(site, "--trust", str(site.trust)), "not signed", str(site.trust))
    done = verify(site)
    assert done.returncode == 0, done.stderr
    assert "warning: the bundle is not signed" in done.stderr


def test_a_manifest_edited_after_signing_is_refused_naming_it(site: Site) -> None:
    manifest = site.bundle / "manifest.yaml"
    manifest.write_text(manifest.read_text() + "# an innocent comment\n")
    refused(verify(site, "--trust", str(site.trust)), str(manifest), "changed after it was signed")
    refused(verify(site), str(manifest), "changed after it was signed")  # without trust too: the sig proves it


def test_a_file_swapped_with_its_checksum_is_caught_by_the_signature(site: Site) -> None:
    """The attacker replaces an archive and rewrites its checksum: every checksum matches, the signature does not."""
    signature = (site.bundle / "manifest.yaml.sig").read_bytes()
    make_image_archive(site.bundle / "images" / "beta.tar", "docker.io/sig/beta:1", seed=666, size=32 * 1024)
    done = cli("bundle", "lock", "--bundle", str(site.bundle), "--force")  # a manifest with the new checksums
    assert done.returncode == 0, done.stderr
    unsigned = verify(site)
    assert unsigned.returncode == 0, "the checksums alone must not catch this: " + unsigned.stdout
    (site.bundle / "manifest.yaml.sig").write_bytes(signature)  # the builder's signature, kept
    refused(verify(site, "--trust", str(site.trust)), "manifest.yaml", "changed after it was signed")


@pytest.mark.parametrize("garbage", [b"not a signature\n", b"", b"\x00\xff" * 50,
                                     b"-----BEGIN SSH SIGNATURE-----\nU1NISUcAAAAB\n-----END SSH SIGNATURE-----\n"])
def test_a_garbage_signature_is_refused(site: Site, garbage: bytes) -> None:
    (site.bundle / "manifest.yaml.sig").write_bytes(garbage)
    refused(verify(site, "--trust", str(site.trust)), "manifest.yaml.sig", "SSH signature")
    refused(verify(site), "manifest.yaml.sig", "SSH signature")


def test_a_signature_for_another_namespace_is_refused(site: Site, tmp_path: Path) -> None:
    """A signature the builder made for something else (a git commit) is not one for this bundle."""
    out = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(site.builder.private), "-n", "git"],
                         input=(site.bundle / "manifest.yaml").read_bytes(), capture_output=True, check=True)
    (site.bundle / "manifest.yaml.sig").write_bytes(out.stdout)
    refused(verify(site, "--trust", str(site.trust)), "'git'", site.builder.fingerprint)


def test_the_profile_and_the_state_folder_configure_trust(site: Site, tmp_path: Path) -> None:
    """``bundle.trust`` in the profile, and a trust file kept in the state folder, each make trust required."""
    resign_with(site, site.stranger)
    profile = tmp_path / "site.yaml"
    profile.write_text(yaml.safe_dump({"bundle": {"path": str(site.bundle), "trust": "trusted-signers"}}))
    refused(cli("verify", "--profile", str(profile), "--state-dir", str(site.state)), site.stranger.fingerprint)
    site.state.mkdir()
    shutil.copy(site.trust, site.state / "trusted-signers")
    refused(verify(site), site.stranger.fingerprint)


def test_a_missing_trust_file_is_bad_input(site: Site, tmp_path: Path) -> None:
    refused(verify(site, "--trust", str(tmp_path / "nope")), str(tmp_path / "nope"), "does not exist")


def test_top_up_without_sign_drops_the_stale_signature(site: Site) -> None:
    """Re-locking without --sign would leave a signature that no longer matches: it is removed, and said so."""
    make_image_archive(site.bundle / "images" / "gamma.tar", "docker.io/sig/gamma:1", seed=3, size=32 * 1024)
    done = cli("bundle", "lock", "--bundle", str(site.bundle), "--force")
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stderr and "--sign KEY" in done.stderr
    assert not (site.bundle / "manifest.yaml.sig").exists()


@pytest.mark.containerd
@pytest.mark.parametrize("case", ["untrusted", "unsigned", "edited", "garbage"])
def test_import_refuses_before_containerd_sees_a_byte(site: Site, clean_containerd: Any, case: str) -> None:
    if case == "untrusted":
        resign_with(site, site.stranger)
    elif case == "unsigned":
        (site.bundle / "manifest.yaml.sig").unlink()
    elif case == "edited":
        manifest = site.bundle / "manifest.yaml"
        manifest.write_text(manifest.read_text() + "# edited\n")
    else:
        (site.bundle / "manifest.yaml.sig").write_text("garbage\n")
    refused(do_import(site, clean_containerd, "--trust", str(site.trust)))
    assert clean_containerd.images() == []
    assert clean_containerd.ctr("content", "ls", "-q").stdout.split() == [], "blobs reached containerd"


@pytest.mark.containerd
def test_import_of_a_trusted_bundle_imports(site: Site, clean_containerd: Any) -> None:
    done = do_import(site, clean_containerd, "--trust", str(site.trust))
    assert done.returncode == 0, done.stderr
    assert f"signed by builder@site ({site.builder.fingerprint})" in done.stderr
    assert sorted(clean_containerd.images()) == ["docker.io/sig/alpha:1", "docker.io/sig/beta:1"]


def test_the_welcome_screen_names_the_signer_or_says_not_signed(site: Site) -> None:
    from installer.wizard.backend import summarize_bundle

    summary = summarize_bundle(site.bundle, site.trust)
    assert summary.signature == f"signed by builder@site ({site.builder.fingerprint})"
    assert summary.verified is None and not summary.problems
    resign_with(site, site.stranger)
    refused_summary = summarize_bundle(site.bundle, site.trust)
    assert refused_summary.verified is False and site.stranger.fingerprint in refused_summary.problems[0]
    (site.bundle / "manifest.yaml.sig").unlink()
    assert summarize_bundle(site.bundle).signature == "not signed"


def test_a_key_with_a_passphrase_signs_through_ssh_agent_and_fails_clearly_without(site: Site, tmp_path: Path) -> None:
    """No terminal is given to ssh-keygen: without the agent the sign fails with the hint (never hangs);
    with the key in ssh-agent, ``--sign KEY.pub`` signs."""
    key = tmp_path / "keys" / "guarded"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "correct horse", "-C", "guarded@site", "-f", str(key)],
                   check=True)
    no_agent = cli("bundle", "lock", "--bundle", str(site.bundle), "--force", "--sign", str(key),
                   env={"SSH_AUTH_SOCK": str(tmp_path / "no-agent")})
    assert no_agent.returncode == 1, no_agent.stderr
    assert "ssh-agent" in no_agent.stderr and "Traceback" not in no_agent.stderr
    askpass = tmp_path / "askpass"
    askpass.write_text("#!/bin/sh\necho 'correct horse'\n")
    askpass.chmod(0o700)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        env = {"SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
        wait_for(sock.exists, "ssh-agent's socket")
        subprocess.run(["ssh-add", str(key)], env={**os.environ, **env}, stdin=subprocess.DEVNULL, check=True,
                       capture_output=True)
        signed = cli("bundle", "lock", "--bundle", str(site.bundle), "--force", "--sign", str(key) + ".pub", env=env)
        assert signed.returncode == 0, signed.stderr
    finally:
        agent.kill()
        agent.wait()
    (site.trust).write_text(Key(key, "guarded@site").trust_line())
    done = verify(site, "--trust", str(site.trust))
    assert done.returncode == 0, done.stderr
    assert f"signed by guarded@site ({Key(key, 'guarded@site').fingerprint})" in done.stderr


def test_a_trusted_key_limited_to_another_namespace_is_named_as_such(site: Site) -> None:
    """The trust file may restrict a key (``namespaces="git"``): the signature is sound, so the refusal says
    the trust file does not allow it, not that the manifest changed."""
    name, key_type, blob = site.builder.trust_line().split()
    site.trust.write_text(f'{name} namespaces="git" {key_type} {blob}\n')
    refused(verify(site, "--trust", str(site.trust)), "does not allow that key", site.builder.fingerprint)


def test_add_node_will_not_serve_a_bundle_the_trust_file_refuses(site: Site, tmp_path: Path) -> None:
    """Signed by a stranger, with trust in the profile: refused before any token is made or anything served."""
    resign_with(site, site.stranger)
    profile = tmp_path / "lab.yaml"
    profile.write_text(yaml.safe_dump({"bundle": {"path": str(site.bundle), "trust": str(site.trust)}}))
    done = cli("add-node", "--profile", str(profile), "--port", "0", "--minutes", "1")
    refused(done, site.stranger.fingerprint)
    assert "add-node" not in done.stdout
