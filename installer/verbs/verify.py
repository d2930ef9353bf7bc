"""``./install.sh verify``: check every file of the bundle against its manifest.

Size and sha256 of each file (hashed in parallel), the refs and image IDs inside
each image archive, and nothing missing. A mismatch names the file, what was
expected and what was found, and the exit code is 2. A folder without a manifest
cannot be checked against checksums: its archives' own indexes are read instead,
with a warning, and ``bundle lock`` writes a manifest for next time.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Final

from installer.bundle.manifest import MANIFEST_NAME, load_manifest
from installer.bundle.requirements import check_sections
from installer.bundle.scan import (
    CLASH_HINT,
    NO_CHECKSUM_HINT,
    NO_CHECKSUM_WARNING,
    clash_message,
    ref_clashes,
    scan_folder,
)
from installer.bundle.signature import Signature, check_signature, resolve_trust
from installer.bundle.verify import verify_bundle
from installer.engine.commands import RealRunner
from installer.engine.printable import printable
from installer.errors import ExitCode
from installer.verbs.common import (
    add_bundle_option,
    add_json_option,
    add_profile_option,
    emit_json,
    profile_from_args,
    stderr,
)

NAME = "verify"
HELP = "check the offline bundle's files (size, sha256, image refs) against its manifest"
EXAMPLES = """\
./install.sh verify
  ./install.sh verify --trust trusted-signers
  ./install.sh verify --bundle /media/usb/offline-images --jobs 4
  ./install.sh verify --bundle offline-images --json > verify.json"""

DEFAULT_JOBS: Final = 2


def add_bundle_options(parser: argparse.ArgumentParser) -> None:
    """``--profile``, ``--bundle``, ``--jobs``, ``--json`` (shared with ``import`` and ``bundle``)."""
    add_profile_option(parser, help="profile YAML (its bundle folder and components; default: built-in)")
    add_bundle_option(parser,
                      help="offline-images folder (default: the profile's, else offline-images/ next to install.sh)")
    parser.add_argument("--jobs", "-j", type=int, default=DEFAULT_JOBS, metavar="N",
                        help=f"parallel workers (default: {DEFAULT_JOBS})")
    add_json_option(parser)


def bundle_dir(args: argparse.Namespace) -> Path:
    """``--bundle`` if given, else the profile's bundle folder."""
    bundle = getattr(args, "bundle", None)
    return Path(bundle) if bundle else profile_from_args(args).bundle_dir()


def add_trust_options(parser: argparse.ArgumentParser) -> None:
    """``--trust FILE`` (shared with ``import``)."""
    parser.add_argument("--trust", type=Path, metavar="FILE", default=None,
                        help="an OpenSSH allowed_signers file: refuse a bundle not signed by one of its keys "
                             "(default: the profile's bundle.trust, else the one an install kept in the state folder)")


def signature_of(args: argparse.Namespace, bundle: Path) -> Signature:
    """Check the bundle's signature first of all: refuse it (exit 2) or say who signed it on stderr.

    The trust file is ``--trust``, else the profile's ``bundle.trust``, else the state folder's.
    """
    from installer.install_run import default_state_dir  # the install's module; only its state folder is needed

    state_dir = getattr(args, "state_dir", None) or default_state_dir()
    trust = resolve_trust(getattr(args, "trust", None), profile_from_args(args).bundle_trust(), state_dir)
    signature = check_signature(bundle, trust, RealRunner())
    warning = signature.warning()
    stderr(f"warning: {warning}" if warning else f"{bundle}: {signature.describe()}")
    return signature


def configure(parser: argparse.ArgumentParser) -> None:
    """Options."""
    add_bundle_options(parser)
    add_trust_options(parser)
    parser.add_argument("--state-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="the installer's state folder, where an install keeps its trust file "
                             "(default: the installer's)")
    parser.add_argument("--no-refs", action="store_true",
                        help="check sizes and checksums only, not the images inside archives (faster for .gz)")


def _run_without_manifest(bundle: Path, args: argparse.Namespace, signature: Signature) -> ExitCode:
    scan = scan_folder(bundle, jobs=max(1, args.jobs))
    problems = scan.problems + [clash_message(clash) for clash in ref_clashes(scan.images)]
    warning = NO_CHECKSUM_WARNING.format(bundle=bundle)
    if args.json:
        emit_json({"bundle": str(bundle), "ok": not problems, "manifest": False, "warning": warning,
                   "signature": signature.to_dict(),
                   "images": [{"file": i.file, "size": i.size, "refs": list(i.info.refs),
                               "digests": [im.config_digest for im in i.info.images]} for i in scan.images],
                   "problems": problems})
    else:
        stderr(f"warning: {warning}")
        stderr(f"hint: {NO_CHECKSUM_HINT.format(bundle=bundle)}")
        for image in scan.images:
            print(printable(f"readable  {image.file}: {', '.join(image.info.refs) or '(untagged)'}"))
        for problem in problems:
            print(printable(f"FAIL      {problem}"))
        if len(problems) > len(scan.problems):
            stderr(f"hint: {CLASH_HINT}")
    return ExitCode.BAD_INPUT if problems else ExitCode.OK


def run(args: argparse.Namespace) -> ExitCode:
    """Verify and print the verdicts; exit 2 on any mismatch."""
    bundle = bundle_dir(args)
    signature = signature_of(args, bundle)
    if not os.path.lexists(bundle / MANIFEST_NAME) and bundle.is_dir():
        return _run_without_manifest(bundle, args, signature)
    manifest = load_manifest(bundle / MANIFEST_NAME)
    check_sections(manifest, bundle / MANIFEST_NAME)
    report = verify_bundle(bundle, manifest, jobs=max(1, args.jobs), check_refs=not args.no_refs)
    if args.json:
        emit_json({**report.to_dict(), "signature": signature.to_dict()})
    else:
        for check in report.checks:
            print(printable(f"{'ok' if check.ok else 'FAIL':<5} {check.message}"))
        for name in report.unlisted:
            stderr(f"note: {name} is in the folder but not in the manifest (not checked, not imported)")
        print(f"{len(report.checks) - len(report.failures)} of {len(report.checks)} files match the manifest"
              f" ({report.bytes_hashed / 1e6:.0f} MB hashed)")
    return ExitCode.OK if report.ok else ExitCode.BAD_INPUT
