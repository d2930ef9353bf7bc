"""Who wrote the bundle: an OpenSSH signature of ``manifest.yaml`` in ``manifest.yaml.sig``.

Checksums prove that each file is the one the manifest lists; only a signature proves who wrote
the manifest. ``manifest.yaml`` carries every file's sha256, so one signature over it covers the
whole bundle: a file swapped together with its checksum changes the manifest and breaks it.

Why OpenSSH (``ssh-keygen -Y sign`` / ``-Y verify``, OpenSSH 8.1+; ssh-keygen(1), PROTOCOL.sshsig
in openssh-portable): every Ubuntu server and build machine already has ``ssh-keygen``
(openssh-client), operators already hold SSH keys (and agents, hardware keys), and the trust file is
OpenSSH's plain ``allowed_signers`` format (``NAME KEYTYPE BASE64``), so nothing new is installed
and no key format is invented. Every call is an argv list through the command runner.

The signature file is parsed here as well (PROTOCOL.sshsig: armored base64 of ``"SSHSIG"``,
uint32 version, string publickey, string namespace, ...): that names the signing key's fingerprint
even when the key is unknown or the signature no longer matches, and refuses garbage with a clear
message before ``ssh-keygen`` is asked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from installer.bundle.manifest import MANIFEST_NAME
from installer.engine.commands import CommandRunner
from installer.engine.files import UnsafeInput, atomic_write, read_small_file
from installer.errors import BundleError, StepFailed, UsageError

SIGNATURE_NAME: Final = MANIFEST_NAME + ".sig"
"""``ssh-keygen -Y sign FILE`` names its output ``FILE.sig``; kept for anyone who checks by hand."""
NAMESPACE: Final = "jupyterhub-offline-bundle"
"""The ``-n`` namespace: a signature made for another use (git commits, ``file``) is not accepted here."""
TRUST_NAME: Final = "trusted-signers"
"""The trust file (an ``allowed_signers`` file) kept in the state folder after an install that had one."""
SSH_KEYGEN: Final = "ssh-keygen"
MAX_SIGNATURE_BYTES: Final = 64 << 10
MAX_MANIFEST_BYTES: Final = 64 << 20
_ARMOR_BEGIN: Final = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END: Final = "-----END SSH SIGNATURE-----"
_MAGIC: Final = b"SSHSIG"
_TIMEOUT: Final = 60.0
_NO_SSH_KEYGEN_HINT: Final = ("Install openssh-client (`apt install openssh-client`; Ubuntu has it by default), "
                              "or leave trust unconfigured.")

Status = Literal["trusted", "unverified", "unsigned"]


@dataclass(frozen=True)
class SignatureInfo:
    """What the signature file says about itself (read without checking it)."""

    fingerprint: str
    """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
    key_type: str
    namespace: str


@dataclass(frozen=True)
class Signature:
    """The verdict on a bundle's signature.

    ``trusted``: a key of the trust file signed this very manifest. ``unverified``: it carries a valid
    signature but no trust file is configured, so who signed it is not known. ``unsigned``: no signature.
    """

    status: Status
    signer: str | None = None
    fingerprint: str | None = None
    trust: Path | None = None

    def describe(self) -> str:
        """One line for screens and logs: ``signed by NAME (SHA256:...)`` or ``not signed``."""
        if self.status == "trusted":
            return f"signed by {self.signer} ({self.fingerprint})"
        if self.status == "unverified":
            return f"signed by key {self.fingerprint} (not checked: no trust file)"
        return "not signed"

    def warning(self) -> str | None:
        """What to say when trust is not configured, else ``None``."""
        if self.status == "unverified":
            return (f"the bundle is signed by key {self.fingerprint}, but no trust file is configured, so who "
                    "signed it is not checked; pass --trust FILE (an allowed_signers file) or set bundle.trust")
        if self.status == "unsigned":
            return (f"the bundle is not signed ({SIGNATURE_NAME} missing): nothing proves who wrote its manifest; "
                    "sign it on the connected machine with --sign KEY, and pass --trust FILE here")
        return None

    def to_dict(self) -> dict[str, str | None]:
        """For ``--json`` reports and the state folder."""
        return {"status": self.status, "signer": self.signer, "fingerprint": self.fingerprint,
                "trust": str(self.trust) if self.trust else None, "summary": self.describe()}


def signature_path(bundle: Path) -> Path:
    """``manifest.yaml.sig`` in ``bundle``."""
    return Path(bundle) / SIGNATURE_NAME


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    """One RFC 4253 ``string`` (uint32 length, then bytes)."""
    if offset + 4 > len(blob):
        raise ValueError("truncated")
    (length,) = struct.unpack(">I", blob[offset:offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("truncated")
    return blob[offset + 4:end], end


def parse_signature(text: str, where: Path) -> SignatureInfo:
    """The signing key's fingerprint, type and namespace, from an armored SSH signature.

    Raises:
        BundleError: the file is not an SSH signature (garbage, truncated, another format).
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    hint = (f"Sign the manifest again on the connected machine (`./install.sh bundle lock --bundle DIR --force "
            f"--sign KEY`, or export with --sign KEY), or delete {where.name} and accept an unsigned bundle.")
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        msg = f"{where} is not an SSH signature (it lacks the '{_ARMOR_BEGIN}' armor)"
        raise BundleError(msg, hint)
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
        if blob[:6] != _MAGIC:
            raise ValueError("no SSHSIG preamble")
        (version,) = struct.unpack(">I", blob[6:10])
        if version != 1:
            raise ValueError(f"version {version}")
        public_key, offset = _read_string(blob, 10)
        namespace, offset = _read_string(blob, offset)
        key_type, _ = _read_string(public_key, 0)
        info = SignatureInfo(
            fingerprint="SHA256:" + base64.b64encode(hashlib.sha256(public_key).digest()).decode().rstrip("="),
            key_type=key_type.decode("ascii"), namespace=namespace.decode("utf-8"))
    except (binascii.Error, ValueError, struct.error, UnicodeDecodeError) as exc:
        msg = f"{where} is not a readable SSH signature ({exc})"
        raise BundleError(msg, hint) from None
    if info.namespace != NAMESPACE:
        msg = (f"{where} was made for '{info.namespace}', not for a bundle ('{NAMESPACE}'), by key "
               f"{info.fingerprint}")
        raise BundleError(msg, hint)
    return info


def _read(path: Path, limit: int, what: str) -> bytes:
    try:
        return read_small_file(path, limit)
    except (OSError, UnsafeInput) as exc:
        msg = f"cannot read {what} {path}: {exc}"
        raise BundleError(msg, f"Check {path}.") from None


def sign_manifest(bundle: Path, key: Path, runner: CommandRunner) -> Path:
    """Sign ``bundle/manifest.yaml`` with ``key`` into ``manifest.yaml.sig`` (replacing an older one).

    ``key`` is a private key file, or a public key whose private half is in ``ssh-agent``
    (ssh-keygen(1), ``-Y sign``): a key with a passphrase is signed through the agent, since the
    runner gives commands no terminal to ask on. The message goes on stdin and the signature comes
    back on stdout, so an existing ``.sig`` never makes ssh-keygen ask whether to overwrite it.
    """
    key = Path(key)
    if not key.is_file():
        msg = f"--sign {key}: no such key file"
        raise UsageError(msg, "Give an SSH private key (e.g. ~/.ssh/id_ed25519), or its .pub with the key in "
                              "ssh-agent.")
    manifest = _read(Path(bundle) / MANIFEST_NAME, MAX_MANIFEST_BYTES, "the manifest")
    result = runner.run([SSH_KEYGEN, "-Y", "sign", "-f", str(key), "-n", NAMESPACE], stdin=manifest, check=False,
                        timeout=_TIMEOUT, raw_stdout=True)
    if result.returncode == 127:
        msg = f"{SSH_KEYGEN} is not installed, so the bundle cannot be signed"
        raise StepFailed(msg, _NO_SSH_KEYGEN_HINT)
    if not result.ok or _ARMOR_BEGIN not in result.stdout:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        msg = f"could not sign {Path(bundle) / MANIFEST_NAME} with {key}: {last}"
        raise StepFailed(msg, "A key with a passphrase must be in ssh-agent (`ssh-add KEY`); then pass KEY or "
                              "KEY.pub to --sign.")
    target = signature_path(bundle)
    atomic_write(target, result.stdout.encode(), 0o644)
    return target


def check_signature(bundle: Path, trust: Path | None, runner: CommandRunner) -> Signature:
    """Check ``manifest.yaml.sig`` against ``manifest.yaml`` and, when given, the trust file.

    Without trust a missing signature is only reported (see :meth:`Signature.warning`), but one that
    is garbage or does not match the manifest is refused all the same: it proves the manifest changed.

    Raises:
        BundleError: with trust, the bundle is unsigned or signed by a key the trust file does not
            list; in any case, the signature is unreadable or does not match the manifest.
        StepFailed: ``ssh-keygen`` is missing although there is a signature to check.
    """
    bundle = Path(bundle)
    manifest_path, sig_path = bundle / MANIFEST_NAME, signature_path(bundle)
    if trust is not None:
        _check_trust_file(trust)
    if not os.path.lexists(sig_path):
        if trust is not None:
            msg = f"the bundle {bundle} is not signed ({SIGNATURE_NAME} is missing), and trust is configured ({trust})"
            raise BundleError(msg, "Sign it on the connected machine (`./install.sh export ... --sign KEY`, or "
                                   "`./install.sh bundle lock --force --sign KEY`), then copy the bundle again.")
        return Signature("unsigned")
    info = parse_signature(_read(sig_path, MAX_SIGNATURE_BYTES, "the signature").decode("utf-8", "replace"), sig_path)
    if not os.path.lexists(manifest_path):
        msg = f"{sig_path} signs a manifest, but {manifest_path} is missing"
        raise BundleError(msg, "Copy the bundle again, with its manifest.yaml.")
    manifest = _read(manifest_path, MAX_MANIFEST_BYTES, "the manifest")
    if trust is None:
        _ssh_keygen(runner, ["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig_path)], manifest,
                    _changed(manifest_path, f"key {info.fingerprint}"))
        return Signature("unverified", fingerprint=info.fingerprint)
    found = runner.run([SSH_KEYGEN, "-Y", "find-principals", "-s", str(sig_path), "-f", str(trust)], check=False,
                       mutates=False, timeout=_TIMEOUT)
    _require_ssh_keygen(found.returncode)
    principals = [line.strip() for line in found.stdout.splitlines() if line.strip()]
    if not found.ok or not principals:
        msg = (f"the bundle {bundle} is signed by key {info.fingerprint} ({info.key_type}), which the trust file "
               f"{trust} does not list")
        raise BundleError(msg, "If you trust that key, add its public key to the trust file as a line "
                               "'NAME KEYTYPE BASE64' (an allowed_signers file); otherwise get the bundle from its "
                               "builder again.")
    signer = principals[0].split(",")[0]
    try:
        _ssh_keygen(runner, ["-Y", "verify", "-f", str(trust), "-I", signer, "-n", NAMESPACE, "-s", str(sig_path)],
                    manifest, _changed(manifest_path, f"{signer} ({info.fingerprint})"))
    except BundleError:
        # A sound signature that verify still refuses: the trust file's line limits the key (namespaces=,
        # valid-before=...), which is not the same as a manifest changed after signing.
        _ssh_keygen(runner, ["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig_path)], manifest,
                    _changed(manifest_path, f"{signer} ({info.fingerprint})"))
        msg = (f"the bundle {bundle} is signed by {signer} ({info.fingerprint}), but the trust file {trust} does "
               f"not allow that key to sign a bundle now (its line's options, such as namespaces= or valid-before=)")
        raise BundleError(msg, f"Allow the namespace '{NAMESPACE}' (or remove the limit) on that key's line, or "
                               "have the bundle signed by a key the file allows.") from None
    return Signature("trusted", signer=signer, fingerprint=info.fingerprint, trust=trust)


def _changed(manifest_path: Path, who: str) -> BundleError:
    msg = (f"{manifest_path} does not match its signature by {who}: the manifest was changed after it was "
           "signed (or a file was swapped together with its checksum)")
    return BundleError(msg, "Do not install from it. Copy the bundle again from its builder, or have it exported "
                            "and signed again.")


def _require_ssh_keygen(returncode: int | None) -> None:
    if returncode == 127:
        msg = f"{SSH_KEYGEN} is not installed, so the bundle's signature cannot be checked"
        raise StepFailed(msg, _NO_SSH_KEYGEN_HINT)


def _ssh_keygen(runner: CommandRunner, args: list[str], message: bytes, error: BundleError) -> None:
    """Run a read-only ``ssh-keygen -Y`` check with ``message`` on stdin; raise ``error`` when it fails."""
    result = runner.run([SSH_KEYGEN, *args], stdin=message, check=False, mutates=False, timeout=_TIMEOUT)
    _require_ssh_keygen(result.returncode)
    if not result.ok:
        raise error


def _check_trust_file(trust: Path) -> None:
    if not Path(trust).is_file():
        msg = f"trust file {trust} does not exist"
        raise BundleError(msg, "Give an allowed_signers file: one line per trusted key, 'NAME KEYTYPE BASE64' "
                               "(e.g. `echo \"builder $(cat id_ed25519.pub)\" > trusted-signers`).")


def resolve_trust(explicit: Path | None, profile_trust: Path | None, state_dir: Path | None) -> Path | None:
    """The trust file in effect: ``--trust``, else the profile's ``bundle.trust``, else the state folder's."""
    if explicit is not None:
        return Path(explicit)
    if profile_trust is not None:
        return Path(profile_trust)
    if state_dir is not None and (Path(state_dir) / TRUST_NAME).is_file():
        return Path(state_dir) / TRUST_NAME
    return None


def keep_trust(trust: Path, state_dir: Path) -> Path:
    """Copy the trust file into the state folder, so later runs (and ``import``) require it without being told."""
    target = Path(state_dir) / TRUST_NAME
    if Path(trust).resolve() != target.resolve():
        atomic_write(target, _read(Path(trust), MAX_SIGNATURE_BYTES, "the trust file"), 0o644)
    return target


def have_ssh_keygen() -> bool:
    """True when ``ssh-keygen`` is on PATH (preflight asks only when trust is configured)."""
    return shutil.which(SSH_KEYGEN) is not None


RECORD_NAME: Final = "bundle-signature.json"
"""Who signed the bundle the last install used, for ``status``."""


def record_signature(signature: Signature, bundle: Path, state_dir: Path) -> None:
    """Keep the last install's verdict in the state folder (``status`` reads it back)."""
    document = {**signature.to_dict(), "bundle": str(bundle)}
    atomic_write(Path(state_dir) / RECORD_NAME, (json.dumps(document, indent=2) + "\n").encode(), 0o600)


def recorded_signature(state_dir: Path) -> str | None:
    """``bundle DIR: signed by NAME (SHA256:...)`` as the last install found it; ``None`` before any install."""
    try:
        document = json.loads(read_small_file(Path(state_dir) / RECORD_NAME, MAX_SIGNATURE_BYTES))
        return f"bundle {document['bundle']}: {document['summary']}"
    except (OSError, UnsafeInput, ValueError, KeyError, TypeError):
        return None
