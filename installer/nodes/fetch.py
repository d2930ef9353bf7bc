"""Fetch bundle files from a member's bundle server: the manifest (checked against the operator's
sha256) and each listed file, resumed with HTTP ``Range`` after a cut and checked against the manifest.

Integrity over the LAN rests on the manifest's sha256, which the operator copies from ``add-node``'s
output: every other file is then checked against the manifest's own sha256 for it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Final

from installer.bundle.manifest import Manifest, parse_manifest
from installer.errors import BundleError, Interrupted, StepFailed, UsageError

CHUNK: Final = 1 << 20
MAX_MANIFEST: Final = 4 << 20
TIMEOUT: Final = 30.0
"""Seconds without a byte before a read gives up (the member stopped answering)."""
ATTEMPTS: Final = 3
PART: Final = ".part"


def check_base_url(url: str) -> str:
    """``http://HOST:PORT`` (no trailing slash); a usage error otherwise."""
    if not url.startswith("http://") or len(url) <= len("http://"):
        msg = f"--bundle-from {url!r} is not http://HOST:PORT"
        raise UsageError(msg, "Copy the --bundle-from value that `./install.sh add-node` printed on the member.")
    return url.rstrip("/")


def _get(url: str, start: int = 0) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=TIMEOUT)
    return response


def fetch_manifest(base_url: str, sha256: str) -> tuple[Manifest, bytes]:
    """The member's manifest, parsed, once its sha256 is the one the operator gave.

    Raises:
        BundleError: the hash differs (exit 2: nothing else is fetched), or it is not a manifest.
        StepFailed: the member does not answer.
    """
    url = f"{base_url}/manifest.yaml"
    try:
        with _get(url) as response:
            data = response.read(MAX_MANIFEST + 1)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        msg = f"cannot fetch {url}: {getattr(exc, 'reason', exc)}"
        raise StepFailed(msg, "Check that `./install.sh add-node` still runs on the member (its server stops after "
                              "its time) and that this node reaches that address.") from None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256.lower():
        msg = f"the manifest at {url} has sha256 {found}, not the {sha256} given with --manifest-sha256"
        raise BundleError(msg, "Copy the join command again from the member's `./install.sh add-node` output; "
                               "if it matches, the file was changed on the way: nothing was fetched or changed.")
    return parse_manifest(data.decode("utf-8"), Path(url)), data


def _hash_prefix(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            done += len(chunk)
    return digest, done


def _remote_size(url: str) -> int:
    """The Content-Length the server gives for ``url`` (a file the manifest lists without a size)."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.headers.get("Content-Length") or 0)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        msg = f"cannot fetch {url}: {getattr(exc, 'reason', exc)}"
        raise StepFailed(msg, "Check that `./install.sh add-node` still runs on the member.") from None


def download(base_url: str, name: str, size: int | None, sha256: str, target: Path, *,
             on_bytes: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None) -> int:
    """Fetch ``name`` into ``target``, resuming a ``target.part`` left by a cut; returns bytes fetched now.

    ``size`` None: not listed (a snap's assertion in an older manifest); the sha256 alone decides.
    The sha256 runs over the kept bytes and the new ones as they arrive, so the file is read once.
    ``on_bytes(done, total)`` reports progress.

    Raises:
        BundleError: the file does not match the manifest (the part is removed; the next run starts over).
        StepFailed: the member stopped answering ``ATTEMPTS`` times (the part is kept for the next run).
    """
    part = target.with_name(target.name + PART)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = f"{base_url}/{name}"
    fetched = 0
    last_error = ""
    if size is None:
        size = _remote_size(url)
    for attempt in range(ATTEMPTS):
        digest, done = _hash_prefix(part) if part.exists() else (hashlib.sha256(), 0)
        if done > size:
            part.unlink()
            digest, done = hashlib.sha256(), 0
        try:
            if done < size:
                with _get(url, done) as response:
                    if done and response.status != 206:  # the server sent it all again: start over
                        digest, done = hashlib.sha256(), 0
                        part.unlink()
                    with part.open("ab") as out:
                        while True:
                            if cancel is not None and cancel.is_set():
                                msg = f"fetching {name} was cancelled ({done} of {size} bytes kept)"
                                raise Interrupted(msg, "Run the same command again: the fetch resumes.")
                            chunk = response.read1(CHUNK)  # what has arrived: kept even if the link drops next
                            if not chunk:
                                break
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            fetched += len(chunk)
                            if on_bytes is not None:
                                on_bytes(done, size)
            if done < size:
                last_error = f"the connection ended after {done} of {size} bytes"
                time.sleep(min(2.0, 0.5 * (attempt + 1)))
                continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            last_error = f"{getattr(exc, 'reason', exc)} after {done} of {size} bytes"
            time.sleep(min(2.0, 0.5 * (attempt + 1)))
            continue
        found = digest.hexdigest()
        if done != size or found != sha256:
            part.unlink(missing_ok=True)
            msg = f"{name} from {base_url} does not match the manifest: sha256 {found}, expected {sha256}"
            raise BundleError(msg, "The file changed on the way or on the member (run `./install.sh verify` there); "
                                   "run the join again: the file is fetched anew. Nothing was imported from it.")
        os.replace(part, target)
        return fetched
    msg = f"fetching {name} from {base_url} failed: {last_error}"
    raise StepFailed(msg, "Start `./install.sh add-node` on the member again if it stopped, then run the same "
                          "join command: the fetch resumes where it stopped.")
