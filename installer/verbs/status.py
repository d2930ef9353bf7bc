"""``./install.sh status``: what is installed and whether it is healthy, and how the last install ended.

Versions (MicroK8s, Kubernetes), nodes, Helm releases with their chart versions, the hub's
URL, every pod not running with its reason (``ErrImageNeverPull``: the image is missing
from containerd), the catalog with its shelf, and the last install (also while it runs, or
after a dropped SSH session). Exit code: 0 healthy, 1 something is not, 4 an install runs, and the last
install's own code when it did not finish (3 preflight failed, 130 interrupted...).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from installer.bundle.signature import recorded_signature
from installer.engine.lastrun import describe_last_run, read_record
from installer.engine.printable import printable
from installer.errors import ExitCode, UsageError
from installer.verbs.common import add_json_option, emit_json

NAME = "status"
HELP = "say what is installed and whether it is healthy, and how the last install ended (or that one runs)"
EXAMPLES = "./install.sh status\n  sudo ./install.sh status --json"


def configure(parser: argparse.ArgumentParser) -> None:
    """The state folder to look in, and ``--json``."""
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="the install's state folder (default: /var/lib/jupyterhub-offline-installer)")
    add_json_option(parser)


def run(args: argparse.Namespace) -> ExitCode:
    """Print the survey; exit 4 while an install runs, the last install's code when it failed, else 0 healthy or 1."""
    state_dir = state_dir_from(args.state_dir)
    described = describe_last_run(state_dir)
    if described is not None and described[0]:
        _say(args, {"installing": True, "last_install": described[1]}, [described[1]])
        return ExitCode.LOCKED
    record = read_record(state_dir)
    last_code = (record.exit_code if record is not None and record.exit_code is not None
                 else ExitCode.INTERRUPTED) if described is not None else None
    report = _survey(state_dir)
    if described is None and report["microk8s"] is None and not report["catalog"]:
        report.update(problems=[], healthy=True)  # nothing installed is not a fault: nothing to be healthy
    report["last_install"] = {"text": described[1], "exit_code": last_code} if described is not None else None
    report["bundle_signature"] = recorded_signature(state_dir)  # who signed the bundle the last install used
    lines = _lines(report, state_dir)
    if last_code not in (None, 0):
        report["healthy"] = False
    _say(args, report, lines)
    if last_code not in (None, 0):  # the last install did not finish: its own code says how it ended
        try:
            return ExitCode(last_code)
        except ValueError:
            return ExitCode.STEP_FAILED
    return ExitCode.OK if report["healthy"] else ExitCode.STEP_FAILED


def _survey(state_dir: Path) -> dict[str, Any]:
    """The cluster's answers, read through the command runner, with the installed profile when saved."""
    from installer.config.profile import Profile
    from installer.daytwo import saved
    from installer.daytwo.health import survey
    from installer.engine.events import NullSink
    from installer.install_run import InstallOptions, make_context, make_redactor

    profile = saved.load_installed(state_dir) if saved.profile_path(state_dir).is_file() else None
    options = InstallOptions(profile=profile or Profile(), state_dir=state_dir)
    ctx = make_context(options, NullSink(), redactor=make_redactor(options.profile))
    report = survey(ctx, profile)
    report["pending_change"] = saved.pending_path(state_dir).is_file()
    if report["pending_change"]:
        report["problems"].append("a catalog change was interrupted: run `sudo ./install.sh images resume`")
        report["healthy"] = False
    return report


def _lines(report: dict[str, Any], state_dir: Path) -> list[str]:
    lines = [f"MicroK8s: {report['microk8s'] or 'not installed'}"
             + (f" (Kubernetes {report['kubernetes']})" if report["kubernetes"] else "")]
    lines += [f"node {n['name']} ({n['role']}{', ' + ', '.join(_hardware(n)) if _hardware(n) else ''}): "
              f"{'Ready' if n['ready'] else 'NOT Ready'}" for n in report["nodes"]]
    lines += [f"release {r['namespace']}/{r['name']}: {r['chart']} revision {r['revision']}, {r['status']}"
              for r in report["releases"]]
    if report["hub_url"]:
        lines.append(f"JupyterHub: {report['hub_url']}")
    if report["catalog"]:
        lines.append("catalog: " + ", ".join(f"{c['name']} ({'on shelf' if c['on_shelf'] else 'off shelf'})"
                                             for c in report["catalog"]))
    else:
        lines.append(f"catalog: no installed profile in {state_dir}")
    if report.get("bundle_signature"):
        lines.append(report["bundle_signature"])
    last = report.get("last_install")
    lines.append(f"last install: {last['text']}" if last else f"no install has run with the state folder {state_dir}")
    lines += [f"PROBLEM: {p}" for p in report["problems"]]
    lines.append("healthy" if report["healthy"] and not (last and last["exit_code"]) else "NOT healthy")
    return lines


def _hardware(node: dict[str, Any]) -> list[str]:
    """What a node advertises, for its status line (GPUs, RDMA resources, hardware labels)."""
    return [*node["hardware"], *([f"{node['gpus']} × nvidia.com/gpu"] if node["gpus"] else []), *node["rdma"]]


def _say(args: argparse.Namespace, report: dict[str, Any], lines: list[str]) -> None:
    if getattr(args, "json", False):
        emit_json(report)
    else:
        sys.stdout.write("".join(printable(line) + "\n" for line in lines))


def state_dir_from(given: Path | None) -> Path:
    """``--state-dir``, else the install's state folder: root's, even when asked without sudo.

    Raises:
        UsageError: that folder exists but this user cannot read it (it is root's, mode 0700).
    """
    if given is not None:
        return given
    from installer import install_run

    installs = install_run.DEFAULT_STATE_DIR
    if installs.exists() and os.geteuid() != 0:
        if not os.access(installs, os.R_OK | os.X_OK):
            msg = f"cannot read the install's state folder {installs} as this user"
            raise UsageError(msg, "Run: sudo ./install.sh status")
        return installs
    return install_run.default_state_dir()
