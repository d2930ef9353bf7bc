"""Names from the outside world made safe to print.

A file name may hold a newline (which would forge a second line, an ``ok`` that never
happened), an escape sequence (which the terminal would obey: clear the screen, rewrite
a line) or bytes that are not UTF-8. :func:`shown` escapes every such character in a
name before it goes into a message; :func:`printable` is applied by the console sink
and the verbs' output to whole lines of text, keeping only the newlines the installer
itself put between lines. JSON output needs neither: JSON escapes control characters.
"""

from __future__ import annotations

import re
from typing import Final

_ALL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
"""C0 and C1 controls, DEL, Unicode line separators, and undecodable bytes (lone surrogates)."""
_BUT_NEWLINE: Final = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(name: object) -> str:
    """``name`` (a file name, a path) with every control character and undecodable byte escaped: one safe line."""
    return _ALL.sub(_escape, str(name))


def printable(text: str) -> str:
    """``text`` with control characters escaped except newlines (lines of a message stay lines)."""
    return _BUT_NEWLINE.sub(_escape, text)


def needs_escaping(name: str) -> bool:
    """True when ``name`` holds a control character or a byte that is not UTF-8."""
    return _ALL.search(name) is not None
