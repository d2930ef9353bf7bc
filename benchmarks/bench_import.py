"""Benchmark: the installer's image import against the naive way, on one generated bundle.

Generates a bundle (default: four images of 300 MB, half random bytes and half
text, as docker-archives), starts a private containerd, and times in one run:

(a) naive cold: ``sha256sum -c`` then a sequential ``ctr images import`` loop;
(b) installer cold: ``./install.sh import`` (verify + import, pipelined, parallel lanes);
then, with everything present, (a) and (b) again (warm).

Last line: ``ratio_cold=<b/a> ratio_warm=<b/a> peak_rss_mb=<installer's peak RSS>``.
Targets: ratio_cold <= 0.85, installer warm run under 1 s, peak RSS under 200 MB.

Usage: ``.venv/bin/python benchmarks/bench_import.py [--count 4] [--size-mb 300] [--jobs 2]
[--compress none|zstd|gzip]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from realparts import Containerd, start_containerd  # noqa: E402 - importable only after the sys.path line above

sys.path.insert(0, str(REPO))
from installer.bundle.manifest import ComponentArtifacts, ImageEntry, Manifest, save_manifest  # noqa: E402 - ditto

_WORDS = b"jupyter notebook kernel tensor gpu offline cluster hub lab python data model ".split()


def _payload(handle: io.BufferedWriter, size: int, seed: int) -> None:
    """Half random, half text, written in 1 MiB pieces (memory stays small)."""
    rng = random.Random(seed)  # benchmark data
    half = size // 2
    written = 0
    while written < half:
        piece = min(1 << 20, half - written)
        handle.write(rng.randbytes(piece))
        written += piece
    text_left = size - half
    while text_left > 0:
        line = b" ".join(rng.choice(_WORDS) for _ in range(4096))[: min(1 << 20, text_left)]
        handle.write(line)
        text_left -= len(line)


def make_archive(path: Path, ref: str, size: int, seed: int, work: Path) -> str:
    """Write a one-layer docker-archive at ``path``; returns the config digest."""
    payload = work / f"payload-{seed}"
    with payload.open("wb") as handle:
        _payload(handle, size, seed)
    layer = work / f"layer-{seed}.tar"
    with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(str(payload), arcname="data/payload.bin")
        info.mtime = 0
        with payload.open("rb") as handle:
            tar.addfile(info, handle)
    payload.unlink()
    layer_hex = _sha_file(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"User": "1000", "Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
                         "history": [{"created_by": f"bench seed={seed}"}]}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [ref],
                            "Layers": [f"{layer_hex}/layer.tar"]}]).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        with layer.open("rb") as handle:
            info = tar.gettarinfo(str(layer), arcname=f"{layer_hex}/layer.tar")
            tar.addfile(info, handle)
        for name, data in ((f"{config_hex}.json", config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer.unlink()
    return f"sha256:{config_hex}"


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _compress(path: Path, how: str) -> Path:
    if how == "none":
        return path
    program = {"zstd": ["zstd", "-q", "-T0", "--rm", "-3"], "gzip": ["pigz", "-q"]}[how]
    subprocess.run([*program, str(path)], check=True)
    return path.with_name(path.name + (".zst" if how == "zstd" else ".gz"))


def build_bundle(bundle: Path, count: int, size: int, compress: str) -> list[Path]:
    """Generate the archives, SHA256SUMS (for the naive way) and manifest.yaml (for the installer)."""
    images = bundle / "images"
    images.mkdir(parents=True)
    entries, files = [], []
    for n in range(count):
        ref = f"docker.io/bench/image{n}:1.0"
        digest = make_archive(images / f"image{n}.tar", ref, size, seed=n + 1, work=bundle)
        path = _compress(images / f"image{n}.tar", compress)
        files.append(path)
        entries.append(ImageEntry(refs=[ref], file=f"images/{path.name}", sha256=_sha_file(path),
                                  size=path.stat().st_size, digest=digest))
    save_manifest(Manifest(components={"extra": ComponentArtifacts(images=entries)}), bundle / "manifest.yaml")
    (bundle / "SHA256SUMS").write_text("".join(f"{e.sha256}  {e.file}\n" for e in entries))
    return files


def naive(bundle: Path, files: list[Path], daemon: Containerd) -> float:
    """``sha256sum -c`` then one ``ctr images import`` after another (decompressing if needed)."""
    start = time.monotonic()
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=bundle, check=True)
    for path in files:
        argv = ["ctr", "-a", str(daemon.socket), "-n", daemon.namespace, "images", "import"]
        if path.suffix in (".zst", ".gz"):
            decompress = subprocess.Popen(["zstd" if path.suffix == ".zst" else "pigz", "-dc", str(path)],
                                          stdout=subprocess.PIPE)
            subprocess.run([*argv, "-"], stdin=decompress.stdout, check=True, capture_output=True)
            decompress.wait()
        else:
            subprocess.run([*argv, str(path)], check=True, capture_output=True)
    return time.monotonic() - start


_RUN_INSTALLER = (
    "import resource, sys\n"
    "from installer.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stderr.write(f'\\nPEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n"
    "sys.exit(code)\n"
)


def installer(bundle: Path, daemon: Containerd, jobs: int) -> tuple[float, float, dict]:
    """``python -m installer import``; returns (seconds, peak RSS MB of the installer process, report)."""
    argv = [sys.executable, "-c", _RUN_INSTALLER, "import", "--bundle", str(bundle), "--containerd-socket",
            str(daemon.socket), "--namespace", daemon.namespace, "--jobs", str(jobs), "--json",
            "--state-dir", str(bundle.parent / "installer-state")]
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        msg = f"installer import failed with {done.returncode}"
        raise SystemExit(msg)
    rss = next(int(line.split("=")[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB="))
    return seconds, rss / 1024, json.loads(done.stdout)


def reset(daemon: Containerd) -> None:
    """Remove every image and wait until containerd's GC has dropped the content and snapshots.

    Otherwise the installer's "cold" run would find the layers already stored and look faster.
    """
    daemon.reset()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        content = daemon.ctr("content", "ls", "-q").stdout.split()
        snapshots = daemon.ctr("snapshots", "ls").stdout.splitlines()[1:]
        if not content and not snapshots:
            return
        time.sleep(0.2)
    msg = "containerd kept content after removing every image; the cold run would not be cold"
    raise SystemExit(msg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compress", choices=("none", "zstd", "gzip"), default="none")
    parser.add_argument("--keep", action="store_true", help="keep the generated bundle")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    bundle = work / "bundle"
    try:
        t0 = time.monotonic()
        files = build_bundle(bundle, args.count, args.size_mb << 20, args.compress)
        total = sum(f.stat().st_size for f in files)
        print(f"bundle: {args.count} x {args.size_mb} MB ({args.compress}), {total / 1e6:.0f} MB on disk, "
              f"generated in {time.monotonic() - t0:.1f} s")
        daemon = start_containerd(work)
        try:
            naive_cold = naive(bundle, files, daemon)
            print(f"naive cold:      {naive_cold:7.2f} s  (sha256sum -c + sequential ctr images import)")
            naive_warm = naive(bundle, files, daemon)
            print(f"naive warm:      {naive_warm:7.2f} s  (re-imports everything)")
            reset(daemon)
            ours_cold, rss_cold, report = installer(bundle, daemon, args.jobs)
            print(f"installer cold:  {ours_cold:7.2f} s  ({report['counts']}, peak RSS {rss_cold:.0f} MB)")
            ours_warm, rss_warm, report = installer(bundle, daemon, args.jobs)
            print(f"installer warm:  {ours_warm:7.2f} s  ({report['counts']}, peak RSS {rss_warm:.0f} MB)")
        finally:
            daemon.stop()
        print(f"throughput: naive {total / naive_cold / 1e6:.0f} MB/s, installer {total / ours_cold / 1e6:.0f} MB/s")
        print(f"ratio_cold={ours_cold / naive_cold:.2f} ratio_warm={ours_warm / naive_warm:.3f} "
              f"peak_rss_mb={max(rss_cold, rss_warm):.0f}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
