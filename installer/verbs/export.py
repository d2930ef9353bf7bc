"""``./install.sh export``: build the offline bundle on a machine with internet and Docker.

Progress goes to stderr; the summary (or, with ``--json``, one JSON document) goes
to stdout. The exit code is 1 when anything asked for is missing from the bundle,
so a script that prepares USB disks can stop there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer.engine.printable import printable
from installer.engine.sizes import human_bytes
from installer.errors import ExitCode
from installer.export.archive import COMPRESSIONS
from installer.export.exporter import ExportOptions, ExportReport, export_bundle
from installer.export.images import PULL_POLICIES
from installer.export.wheels import PYTHON_VERSIONS
from installer.verbs.common import add_json_option, add_profile_option, emit_json, profile_from_args

NAME = "export"
HELP = "build the offline bundle (images, charts, snaps, wheels) on a connected machine"
EXAMPLES = """\
./install.sh export --profile profiles/gpu.yaml --out /media/usb/offline-images --wheels
  ./install.sh export --profile profiles/gpu.yaml --out offline-images --sign ~/.ssh/id_ed25519
  ./install.sh export --profile profiles/cpu.yaml --out offline-images --image quay.io/jupyter/scipy-notebook:2024-12-09
  ./install.sh export --out offline-images --no-profile-images --images-file my-images.txt --helm-values values.yaml
  ./install.sh export --out offline-images --chart jupyterhub-4.2.0.tgz --snap microk8s_7394.snap --compress gzip
  ./install.sh export --profile profiles/gpu.yaml --out offline-images --docker-host unix:///run/docker.sock --json"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Export options."""
    add_profile_option(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="the bundle folder to create or top up (e.g. offline-images)")
    parser.add_argument("--no-profile-images", action="store_true",
                        help="export only the images given below, not the profile's (top up an existing bundle)")
    parser.add_argument("--image", action="append", default=[], metavar="REF",
                        help="also export this image (repeatable)")
    parser.add_argument("--images-file", type=Path, metavar="FILE",
                        help="also export the images listed in FILE, one per line ('#' comments)")
    parser.add_argument("--helm-values", type=Path, action="append", default=[], metavar="FILE",
                        help="also export every image named in this Helm values file (repeatable)")
    parser.add_argument("--chart", type=Path, action="append", default=[], metavar="FILE",
                        help="copy this Helm chart archive (.tgz) into the bundle (repeatable)")
    parser.add_argument("--snap", type=Path, action="append", default=[], metavar="FILE",
                        help="copy this snap and its .assert file into the bundle (repeatable)")
    parser.add_argument("--wheels", action="store_true",
                        help="download the installer's Python wheels so install.sh needs no network")
    parser.add_argument("--python-version", action="append", default=[], metavar="X.Y", dest="python_versions",
                        help=f"target Python for --wheels (repeatable; default: {' and '.join(PYTHON_VERSIONS)})")
    parser.add_argument("--compress", choices=COMPRESSIONS, default="zstd",
                        help="image archive compression (default: zstd)")
    parser.add_argument("--pull", choices=PULL_POLICIES, default="always",
                        help="always: pull every image (notices moved tags; default); missing: only those Docker "
                             "lacks; never: export what Docker has (images built locally)")
    parser.add_argument("--platform", default="linux/amd64", metavar="OS/ARCH",
                        help="image platform to pull (default: linux/amd64)")
    parser.add_argument("--docker-host", metavar="URL",
                        help="Docker daemon to use (default: DOCKER_HOST, else the local socket)")
    add_sign_option(parser)
    add_json_option(parser)


def add_sign_option(parser: argparse.ArgumentParser) -> None:
    """``--sign KEY`` (shared with ``bundle lock``)."""
    parser.add_argument("--sign", type=Path, metavar="KEY",
                        help="sign manifest.yaml into manifest.yaml.sig with this SSH key (ssh-keygen -Y sign; a "
                             "key with a passphrase: its .pub, with the key in ssh-agent)")


def sign_or_drop(bundle: Path, key: Path | None, before: bytes | None) -> str | None:
    """Sign the manifest just written with ``key``; without one, remove a signature the new manifest broke.

    A stale ``manifest.yaml.sig`` would only make the server say "changed after signing"; saying
    here that it is gone, and how to sign again, is the clearer of the two. Returns that line.
    """
    from installer.bundle.manifest import MANIFEST_NAME
    from installer.bundle.signature import sign_manifest, signature_path
    from installer.engine.commands import RealRunner

    sig, manifest = signature_path(bundle), bundle / MANIFEST_NAME
    if not manifest.is_file():
        return None
    stale = sig.is_file() and manifest.read_bytes() != before
    if stale:
        sig.unlink()  # before signing, so a failed sign leaves no signature that cannot match
    if key is not None:
        return f"signed: {sign_manifest(bundle, key, RealRunner())} (key {key})"
    if stale:
        return (f"removed {sig}: the manifest changed, so its signature no longer matched; "
                "sign it again with --sign KEY")
    return None


def manifest_bytes(bundle: Path) -> bytes | None:
    """The manifest as it is before a command rewrites it (``None``: there is none)."""
    from installer.bundle.manifest import MANIFEST_NAME

    path = bundle / MANIFEST_NAME
    return path.read_bytes() if path.is_file() else None


def summary(report: ExportReport) -> str:
    """The human summary printed on stdout."""
    lines = [f"Bundle: {report.out_dir}  (manifest: {report.manifest_path})"]
    saved = [o for _, o in report.images if o.status == "ok"]
    skipped = [o for _, o in report.images if o.status == "skipped"]
    failed = [o for _, o in report.images if o.status == "failed"]
    size = sum(o.entry.size for o in saved + skipped if o.entry)
    if report.images:
        lines.append(f"  images: {len(saved)} saved, {len(skipped)} already there, {len(failed)} failed"
                     f" ({human_bytes(size)} of archives)")
    for item in report.files:
        lines.append(f"  {item.kind}: {item.name}: {'already there' if item.status == 'skipped' else item.status}")
    if report.kept:
        lines.append(f"  kept from earlier exports: {len(report.kept)} files")
    if report.unlisted:
        lines.append(f"  not in the manifest (they may hold images an earlier export listed: re-export what you "
                     f"need before deleting any): {', '.join(report.unlisted)}")
    if report.unresolved:
        lines.append("Not exported (add them with --image):")
        lines += [f"  {line}" for line in report.unresolved]
    missing = report.missing()
    if missing:
        lines.append(f"MISSING from the bundle ({len(missing)}):")
        lines += [f"  {line}" for line in missing]
    else:
        lines.append("Everything asked for is in the bundle.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> ExitCode:
    """Export, print the summary, and say with the exit code whether anything is missing."""
    from installer.headless.console import ConsoleSink

    options = ExportOptions(
        out_dir=args.out, profile=profile_from_args(args),
        profile_images=not args.no_profile_images, images=args.image, images_file=args.images_file,
        helm_values=args.helm_values, charts=args.chart, snaps=args.snap, wheels=args.wheels,
        python_versions=args.python_versions or PYTHON_VERSIONS, compression=args.compress,
        pull=args.pull, platform=args.platform, docker_host=args.docker_host,
    )
    sink = ConsoleSink(sys.stderr, verbose=bool(getattr(args, "verbose", False)))
    before = manifest_bytes(args.out)
    report = export_bundle(options, sink)
    signed = sign_or_drop(args.out, args.sign, before)
    if args.json:
        emit_json({**report.to_dict(), "signature": signed})
    else:
        sys.stdout.write(printable(summary(report) + (f"\n{signed}" if signed else "")) + "\n")
    return ExitCode.OK if report.ok else ExitCode.STEP_FAILED
