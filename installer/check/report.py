"""The check's result in the two forms every front end shows: the JSON document and the table made from it.

The install step keeps the JSON form in the run's results, so the headless summary, the
wizard's Done screen, ``plan_finished`` and ``./install.sh check`` all show the same thing.
"""

from __future__ import annotations

from typing import Any

from installer.check.run import STEP_ID, CheckReport
from installer.engine.printable import printable


def report_dict(report: CheckReport, url: str) -> dict[str, Any]:
    """The ``--json`` document (and ``results.check`` of an install)."""
    return {"step": STEP_ID, "hub_url": url, "ok": report.ok, "failed": report.failed,
            "entries": [entry.to_dict() for entry in report.entries], "leftovers": report.leftovers}


def table_lines(document: dict[str, Any], *, brief: bool = False) -> list[str]:
    """The result table: entry, how long it took to start, each probe with what was found and a hint
    (``brief``: the failed probes only, for a screen with little room)."""
    entries = document.get("entries") or []
    lines = []
    width = max([len(str(e.get("entry", ""))) for e in entries] + [5])
    for entry in entries:
        status = "ok" if entry.get("ok") else "FAILED"
        seconds = float(entry.get("seconds") or 0)
        started = f"started in {seconds:.0f} s" if entry.get("started") else f"not started after {seconds:.0f} s"
        lines.append(f"{printable(str(entry.get('entry', ''))):<{width}}  {status:<6}  {started}")
        if entry.get("error"):
            lines.append(f"{'':<{width}}    {printable(str(entry['error']))}")
            if entry.get("hint"):
                lines.append(f"{'':<{width}}    hint: {printable(str(entry['hint']))}")
        for probe in entry.get("probes") or []:
            if brief and probe.get("ok"):
                continue
            mark = "pass" if probe.get("ok") else "FAIL"
            lines.append(f"{'':<{width}}    {mark}  {printable(str(probe.get('name')))}: "
                         f"{printable(str(probe.get('found')))}")
            if not probe.get("ok") and probe.get("hint"):
                lines.append(f"{'':<{width}}          hint: {printable(str(probe['hint']))}")
    for item in document.get("leftovers") or []:
        lines.append(f"left behind: {printable(str(item))} (remove it in the hub's admin page)")
    return lines


def headed_table(document: dict[str, Any] | None, simulated: str = "", *, brief: bool = False) -> list[str]:
    """How many entries passed, then the table indented (the install's end lines and Done screen); none when
    the check did not run. ``simulated`` names what answered instead of a real hub (the demo's twin)."""
    if not document:
        return []
    entries = document.get("entries") or []
    passed = sum(1 for e in entries if e.get("ok"))
    where = f" ({simulated})" if simulated else ""
    return [f"Check{where}: {passed} of {len(entries)} notebook image(s) passed",
            *("  " + line for line in table_lines(document, brief=brief))]


def render(document: dict[str, Any]) -> str:
    """The table as text."""
    return "".join(line + "\n" for line in table_lines(document))
