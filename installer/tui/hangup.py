"""Textual's terminal driver, made to outlive its terminal (an SSH session that drops mid-install).

After a hang-up, a write to the terminal fails with EIO. Textual's writer thread
does not catch that: it would die, its bounded queue would fill, and the next
screen refresh would block the app for good, with the install's result never
handled. The SIGCONT the kernel sends with the hang-up would make the stock driver
restart its terminal mode on a terminal that is gone. This driver drops failed
writes and ignores that resume once the terminal is gone (:mod:`installer.engine.hangup`).
"""

from __future__ import annotations

import io
import os
from typing import Any, TextIO

from textual.drivers.linux_driver import LinuxDriver

from installer.engine.hangup import terminal_closed


class _ForgivingOutput(io.RawIOBase):
    """The terminal's file descriptor, where a failed write (EIO after a hang-up) is dropped instead of raised."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        try:
            return os.write(self.fd, view)
        except OSError:
            return len(view)  # dropped: nobody is there to read it

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)


def forgiving_stream(stream: TextIO) -> io.TextIOWrapper:
    """A text stream on ``stream``'s descriptor (same encoding) whose writes never raise OSError."""
    return io.TextIOWrapper(io.BufferedWriter(_ForgivingOutput(stream.fileno())),
                            encoding=stream.encoding or "utf-8", errors="replace")


class HangupSafeDriver(LinuxDriver):
    """:class:`LinuxDriver` whose output survives a closed terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The writer thread writes to this stream (set by LinuxDriver.__init__, textual 8.x).
        if self._file is not None:
            self._file = forgiving_stream(self._file)

    def _sigcont_application(self, *args: Any) -> None:
        if not terminal_closed():  # the SIGCONT that comes with a hang-up: there is no terminal to resume
            super()._sigcont_application(*args)
