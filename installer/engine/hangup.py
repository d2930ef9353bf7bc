"""Going on without a terminal: an SSH session that drops must not kill an install half-way.

When the terminal closes, the kernel sends SIGHUP, whose default action ends the
process wherever it is (mid-import, mid-Helm). While an install runs, the front
ends catch it instead: stdin, stdout and stderr are pointed at ``/dev/null``
(writes to a hung-up terminal fail with EIO), the front end is told, and the run
goes on to its end, writing the log and the result file (:mod:`installer.engine.lastrun`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

_closed = threading.Event()


def terminal_closed() -> bool:
    """True once this process lost its terminal."""
    return _closed.is_set()


def detach_stdio() -> None:
    """Point fds 0, 1 and 2 at ``/dev/null`` so later reads end and writes succeed; remember the terminal closed."""
    _closed.set()
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)


@contextlib.contextmanager
def survive_hangup(on_hangup: Callable[[], None] | None = None) -> Iterator[None]:
    """Within the block, SIGHUP detaches from the terminal and calls ``on_hangup`` instead of ending the process.

    Call from the main thread (Python runs signal handlers there, between bytecodes:
    ``on_hangup`` must not take a lock the main thread may hold). The handler that
    was there before (the demo's clean-up) is put back afterwards.
    """

    def hung_up(signum: int, frame: FrameType | None) -> None:
        detach_stdio()
        if on_hangup is not None:
            on_hangup()

    previous = signal.signal(signal.SIGHUP, hung_up)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)
