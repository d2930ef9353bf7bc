"""``./install.sh preflight``: what this host has, and whether the install can run on it.

Reads only: it runs no command that changes anything, so it is safe without root
and on a production server. With ``--host-root`` it reads another host's copied
``/sys``, ``/proc`` and ``/etc`` instead (support cases) and runs no command at all.
The exit code is 3 when a check fails, so scripts can gate an install on it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Final

from installer.engine.commands import RealRunner
from installer.errors import ExitCode
from installer.preflight.checks import ALL_CHECK_IDS, CheckResult, describe_port, gib
from installer.preflight.report import ImageTarget, PreflightReport, run_preflight
from installer.probes.model import HostFacts
from installer.verbs.common import (
    add_bundle_option,
    add_host_root_option,
    add_json_option,
    add_profile_option,
    emit_json,
    profile_from_args,
)

NAME = "preflight"
HELP = "check this host (hardware, OS, MicroK8s, disk) without changing anything"
EXAMPLES = """\
./install.sh preflight
  ./install.sh preflight --profile profiles/gpu.yaml --json > host.json
  ./install.sh preflight --host-root /tmp/support-case-42 --skip-check root"""

_ORDER: Final = {"fail": 0, "warn": 1, "skipped": 2, "pass": 3}
_LABEL: Final = {"fail": "FAIL", "warn": "WARN", "skipped": "skip", "pass": "ok"}


def configure(parser: argparse.ArgumentParser) -> None:
    """Options. Defaults are SUPPRESS so the same options given before ``preflight`` still count."""
    add_profile_option(parser, help="profile YAML: thresholds and the components to check for (default: built-in)")
    add_host_root_option(parser, help="read /sys, /proc and /etc under DIR (a copy of another host's); runs no command")
    add_bundle_option(parser,
                      help="offline-images folder whose size sets the disk requirement (default: the profile's)")
    parser.add_argument("--skip-check", action="append", metavar="ID", default=argparse.SUPPRESS,
                        help=f"skip a check by id (repeatable): {', '.join(ALL_CHECK_IDS)}")
    add_json_option(parser)


def run(args: argparse.Namespace) -> ExitCode:
    """Probe, check, print; exit 3 when a check fails."""
    profile = profile_from_args(args)
    host_root = Path(getattr(args, "host_root", None) or "/")
    report = run_preflight(RealRunner(), profile, host_root, skip_checks=getattr(args, "skip_check", None) or (),
                           images_target=ImageTarget())
    if getattr(args, "json", False):
        emit_json(report.to_dict())
    else:
        sys.stdout.write(render(report, width=shutil.get_terminal_size((100, 24)).columns))
    return ExitCode.OK if report.ok else ExitCode.PREFLIGHT_FAILED


# --- text ---------------------------------------------------------------------------------


def _hardware_lines(facts: HostFacts) -> list[str]:
    system = facts.system
    os_name = system.os_pretty or f"{system.os_id} {system.os_version}"
    microk8s = (f"MicroK8s {system.microk8s_version or '?'}" if system.microk8s_installed else "no MicroK8s")
    lines = [f"Host    {os_name} · kernel {system.kernel} · {system.arch} · {system.cpu_count} CPUs · "
             f"{gib(system.memory_bytes)} RAM · {'root' if system.is_root else 'not root'} · {microk8s}"]
    driver = f"host driver {facts.host_driver}" if facts.host_driver else "no host driver"
    if facts.gpus:
        lines.append(f"GPUs    {len(facts.gpus)} NVIDIA ({driver})")
        for gpu in facts.gpus:
            memory = f"{gpu.memory_mib} MiB" if gpu.memory_mib is not None else "memory ?"
            mig = {"Enabled": "MIG on", "Disabled": "MIG off"}.get(gpu.mig or "", "")
            lines.append(f"        {gpu.pci_address}  {gpu.name}  {memory}  {mig}  [{gpu.source}]".rstrip())
    else:
        lines.append(f"GPUs    none ({driver})")
    if facts.infiniband:
        lines.append(f"RDMA    {len(facts.infiniband)} port(s), {len(facts.active_ports)} active")
        lines.extend(f"        {describe_port(p)}" for p in facts.infiniband)
    else:
        lines.append("RDMA    no InfiniBand/RoCE device")
    return lines


def _check_lines(check: CheckResult, width: int) -> list[str]:
    indent = " " * 24
    lines = [f"{_LABEL[check.status]:<5} {check.id:<17} {check.found}"]
    if check.status != "pass":
        lines.append(f"{indent}needs: {check.required}")
        if check.hint:
            lines.extend(textwrap.wrap(check.hint, width=max(width, 60), initial_indent=f"{indent}hint:  ",
                                       subsequent_indent=f"{indent}       "))
    return lines


def render(report: PreflightReport, width: int = 100) -> str:
    """The text report: hardware first, then failures, warnings, and the passed checks."""
    lines = _hardware_lines(report.facts)
    lines.append("")
    lines.append(f"{'':<5} {'CHECK':<17} FOUND")
    for check in sorted(report.checks, key=lambda c: _ORDER[c.status]):
        lines.extend(_check_lines(check, width))
    lines.append("")
    for suggestion in report.suggestions:
        verb = "suggested" if suggestion.suggested else "not suggested"
        lines.append(f"{suggestion.component}: {verb} ({suggestion.reason})")
        if suggestion.selectors:
            selectors = ", ".join(f"{k}={','.join(v)}" for k, v in suggestion.selectors.items())
            lines.append(f"  RDMA selectors: {selectors}")
    passed = sum(c.status == "pass" for c in report.checks)
    warned = len(report.warnings)
    counts = (f"{len(report.failed)} failed, {warned} warning{'' if warned == 1 else 's'}, {passed} passed"
              + (f", {len(report.skipped)} skipped" if report.skipped else ""))
    if report.ok:
        lines.append(f"Result: {counts}: the install can run.")
    else:
        lines.append(f"Result: {counts}: an install would stop here (exit 3). "
                     "Fix the FAIL lines, or skip one with --skip-check ID.")
    return "\n".join(lines) + "\n"
