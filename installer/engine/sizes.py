"""Byte counts for people: the one spelling every screen, log line and summary uses."""

from __future__ import annotations


def human_bytes(count: float | None) -> str:
    """``1536`` -> ``1.5 KiB`` (sizes, rates and totals); ``None`` (not known) -> ``?``."""
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
