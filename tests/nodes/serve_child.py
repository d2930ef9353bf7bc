"""A member's bundle server that misbehaves on purpose, run in the member's namespace by the tests.

``python serve_child.py BUNDLE HOST PORT LOG [--stall FILE AT] [--flip FILE AT]``: serves like
``add-node`` does (the product's :class:`BundleServer`, answering ``/nodes/NAME``
from the member's twin), except that while sending FILE it either
stops sending at byte AT and hangs (a member that dies mid-transfer: the test then kills it), or
flips the byte at AT (a bit error on the way). Every request, with its Range header, goes to LOG.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

from installer.engine.commands import RealRunner
from installer.nodes import server as server_module
from installer.nodes.member import node_status
from installer.nodes.server import BundleServer


class _Faulty:
    def __init__(self, handle: Any, mode: str, at: int) -> None:
        self.handle, self.mode, self.at = handle, mode, at

    def __enter__(self) -> _Faulty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def seek(self, offset: int) -> None:
        self.handle.seek(offset)

    def read(self, size: int) -> bytes:
        start = self.handle.tell()
        if self.mode == "stall" and start >= self.at:
            threading.Event().wait()  # hangs until the test kills this process
        if self.mode == "stall":
            size = min(size, self.at - start)
        data = bytearray(self.handle.read(size))
        if self.mode == "flip" and start <= self.at < start + len(data):
            data[self.at - start] ^= 0x01
        return bytes(data)

    def fileno(self) -> int:
        return int(self.handle.fileno())


def main(argv: list[str]) -> None:
    bundle, host, port, log = Path(argv[0]), argv[1], int(argv[2]), argv[3]
    logging.basicConfig(filename=log, level=logging.INFO, format="%(message)s")
    fault = None
    if len(argv) > 4:
        fault = (argv[4].lstrip("-"), argv[5], int(argv[6]))
    runner = RealRunner()
    server = BundleServer(bundle, host, port, 3600.0, node_status=lambda name, query: node_status(runner, name, query))
    server.prepare()
    original = server.open

    def open_(name: str) -> tuple[Any, int] | None:
        opened = original(name)
        if opened is not None and fault is not None and name == fault[1]:
            return _Faulty(opened[0], fault[0], fault[2]), opened[1]
        return opened

    server.open = open_  # type: ignore[method-assign]
    server.start()
    print(f"serving {server_module.MANIFEST} on {host}:{server.port}", flush=True)
    server.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
