"""``./install.sh bundle lock``: write a manifest for a hand-assembled bundle folder.

Operators often ``docker save`` images straight into ``offline-images/``. ``lock``
reads each archive's own index and hashes every file, files each image under the
component that needs it (``extra`` otherwise), and writes ``manifest.yaml``, so
later ``verify`` and ``import`` can check checksums and skip work quickly.
"""

from __future__ import annotations

import argparse

from installer.bundle.manifest import MANIFEST_NAME, save_manifest
from installer.bundle.requirements import chart_components, known_refs
from installer.bundle.scan import lock_bundle
from installer.errors import ExitCode, UsageError
from installer.verbs.common import emit_json, profile_from_args, stderr
from installer.verbs.export import add_sign_option, manifest_bytes, sign_or_drop
from installer.verbs.verify import add_bundle_options, bundle_dir

NAME = "bundle"
HELP = "manage the offline bundle folder (lock: write manifest.yaml for a hand-assembled folder)"
EXAMPLES = """\
./install.sh bundle lock --bundle offline-images
  ./install.sh bundle lock --bundle offline-images --force --sign ~/.ssh/id_ed25519
  ./install.sh bundle lock --bundle /media/usb/offline-images --force --json"""


def configure(parser: argparse.ArgumentParser) -> None:
    """``bundle lock`` and its options."""
    parser.add_argument("action", choices=("lock",), help="lock: hash and inspect every file, write manifest.yaml")
    add_bundle_options(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing manifest.yaml")
    add_sign_option(parser)


def run(args: argparse.Namespace) -> ExitCode:
    """Write the manifest and say what it holds."""
    profile = profile_from_args(args)
    bundle = bundle_dir(args)
    target = bundle / MANIFEST_NAME
    if target.exists() and not args.force:
        msg = f"{target} already exists"
        raise UsageError(msg, "Pass --force to replace it (or `./install.sh verify` to check the folder against it).")
    manifest = lock_bundle(bundle, known_refs=known_refs(profile), chart_components=chart_components(profile),
                           jobs=max(1, args.jobs))
    before = manifest_bytes(bundle)
    save_manifest(manifest, target)
    signed = sign_or_drop(bundle, args.sign, before)
    counts = {kind: sum(1 for _, k, _ in manifest.files() if k == kind) for kind in ("image", "chart", "snap", "wheel")}
    if args.json:
        emit_json({"manifest": str(target), "counts": counts, "signature": signed,
                   "components": {name: [ref for e in a.images for ref in e.all_refs()]
                                  for name, a in manifest.components.items()}})
    else:
        stderr(f"wrote {target}")
        if signed:
            stderr(signed)
        print(f"{counts['image']} image archives, {counts['chart']} charts, {counts['snap']} snaps, "
              f"{counts['wheel']} wheels locked in {target}")
    return ExitCode.OK
