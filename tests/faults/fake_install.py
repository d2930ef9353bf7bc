"""Run the real installer CLI as its own process, with MicroK8s answered by a cluster kept in a JSON file.

MicroK8s, Helm and kubectl cannot run here, so a :class:`StoredCluster` answers them
through the :class:`RecordingRunner`; everything else is the product: ``cli.main``,
the headless console and JSON lines, the log file, the lock, the journal, the plan.
Its state lives in a file, so it survives the installer process being killed and a
second process sees what the first one left, as a real cluster would.

It behaves like Helm where interruption matters: ``helm upgrade --install`` marks the
release ``pending-install``/``pending-upgrade`` before working (``--helm-delay`` seconds)
and ``deployed`` after; a pending release makes any further upgrade fail with Helm's
own message, and ``helm list`` hides pending releases unless given ``--all``.

Usage::

    python fake_install.py CLUSTER.json [--helm-delay S] [--helm-fail-echo] -- CLI-ARGS...

The plan is the components' plan without the preflight and image-import steps (the
fault suite covers those against the real containerd).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from installer.engine.commands import CommandResult, RecordingRunner, Redactor
from installer.engine.events import EventSink

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


def _ok(argv: tuple[str, ...], stdout: str = "") -> CommandResult:
    return CommandResult(argv, 0, stdout)


def _fail(argv: tuple[str, ...], stderr: str, code: int = 1) -> CommandResult:
    return CommandResult(argv, code, "", stderr)


class StoredCluster:
    """A scripted single-node MicroK8s whose state is the JSON file at ``path``."""

    def __init__(self, path: Path, host_root: Path, *, helm_delay: float = 0.0, helm_fail_echo: bool = False,
                 helm: str = "works", never_ready: bool = False) -> None:
        self.path = Path(path)
        self.host_root = Path(host_root)
        self.helm_delay = helm_delay
        self.helm_fail_echo = helm_fail_echo
        self.helm = helm
        """``works``, ``fails`` (exit 1 with Helm's message) or ``hangs`` (stopped by the runner's timeout)."""
        self.never_ready = never_ready
        """MicroK8s never gets ready: ``status --wait-ready`` runs until the runner's timeout stops it."""

    # --- state ------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """The stored state (a fresh host when the file does not exist)."""
        if not self.path.exists():
            return {"snaps": {}, "running": False, "addons": [], "forwarders": [], "releases": {},
                    "helm_ops": []}
        return json.loads(self.path.read_text())

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically: a kill between two answers never tears the file."""
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cluster.")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def runner(self, sink: EventSink | None = None, redactor: Redactor | None = None) -> RecordingRunner:
        """A recording runner answering from this cluster."""
        runner = RecordingRunner(sink_=sink, redactor_=redactor)
        for program in ("microk8s", "snap", "ip", "ln", "mv", "rm"):
            runner.answers[(program,)] = self.answer
        return runner

    # --- answers ----------------------------------------------------------------------

    def answer(self, argv: tuple[str, ...]) -> CommandResult:
        """Load, answer, save."""
        state = self.load()
        if argv[:2] == ("microk8s", "helm3"):
            result = self._helm(state, argv[2:], argv)
        elif argv[0] == "snap":
            result = self._snap(state, argv)
        elif argv[0] == "ip":
            result = _ok(argv, json.dumps([{"ifname": "eno1", "flags": ["UP"], "operstate": "UP",
                                             "addr_info": [{"family": "inet", "local": "10.0.0.5"}]}]))
        elif argv[0] in ("ln", "mv", "rm"):
            result = self._files(argv)
        elif argv[:2] == ("microk8s", "kubectl"):
            result = self._kubectl(state, argv[2:], argv)
        else:
            result = self._microk8s(state, argv[1:], argv)
        self.save(state)
        return result

    def _snap(self, state: dict[str, Any], argv: tuple[str, ...]) -> CommandResult:
        if argv[1] == "list":
            name = argv[2]
            if name not in state["snaps"]:
                return _fail(argv, "error: no matching snaps installed\n")
            return _ok(argv, f"Name Version Rev Tracking Publisher Notes\n{name} 1.0 {state['snaps'][name]} - c -\n")
        if argv[1] == "install":
            name, revision = Path(argv[2]).stem.split("_")
            state["snaps"][name] = revision
            if name == "microk8s":
                state["running"] = True
                state["addons"] = sorted({*state["addons"], "dns", "ha-cluster", "helm3"})
                state["forwarders"] = ["8.8.8.8", "8.8.4.4"]
        return _ok(argv)

    def _files(self, argv: tuple[str, ...]) -> CommandResult:
        def inside(path: str) -> Path:
            return Path(path)  # the kubelet-dir step names paths under --host-root itself, as ln/mv/rm get them

        if argv[:2] == ("ln", "-s"):
            inside(argv[3]).parent.mkdir(parents=True, exist_ok=True)
            inside(argv[3]).symlink_to(argv[2])
        elif argv[:2] == ("mv", "-T"):
            inside(argv[2]).rename(inside(argv[3]))
        elif argv[0] == "rm":
            inside(argv[1]).unlink()
        return _ok(argv)

    def _microk8s(self, state: dict[str, Any], args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        if "microk8s" not in state["snaps"]:
            return _fail(argv, "microk8s: not found", 127)
        if args[:1] == ("status",):
            if self.never_ready:  # what the runner returns when it stopped the command at its timeout
                output = "microk8s is not running. Use microk8s inspect for a deeper inspection.\n"
                return CommandResult(argv, None if "--wait-ready" in args else 1, output)
            if "--wait-ready" in args:
                return _ok(argv, "microk8s is running\n")
            status = {"microk8s": {"running": True},
                      "addons": [{"name": a, "status": "enabled"} for a in state["addons"]]}
            return _ok(argv, yaml.safe_dump(status))
        if args[:1] == ("enable",):
            name, _, params = args[1].partition(":")
            state["addons"] = sorted({*state["addons"], name})
            if name == "dns":
                state["forwarders"] = params.split(",") if params else ["8.8.8.8", "8.8.4.4"]
        elif args[:1] == ("disable",):
            state["addons"] = [a for a in state["addons"] if a != args[1]]
        return _ok(argv)

    def _kubectl(self, state: dict[str, Any], args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        if args[:2] == ("get", "nodes"):
            node = {"metadata": {"name": "node-1"},
                    "status": {"allocatable": {"cpu": "8"},
                               "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
            return _ok(argv, json.dumps({"items": [node]}))
        if "configmap" in args and "coredns" in args:
            corefile = f".:53 {{\n    forward . {' '.join(state['forwarders'])}\n}}\n"
            return _ok(argv, json.dumps({"data": {"Corefile": corefile}}))
        hub = state["releases"].get("jupyterhub", {})
        if args[:2] == ("get", "--raw"):
            return _ok(argv) if hub.get("status") == "deployed" else _fail(argv, "service unavailable")
        return _ok(argv)

    def _helm(self, state: dict[str, Any], args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        releases: dict[str, Any] = state["releases"]
        if args[:1] == ("list",):
            shown = [{"name": name, "namespace": r["namespace"], "revision": str(r["revision"]),
                      "status": r["status"], "chart": r["chart"]} for name, r in releases.items()
                     if "--all" in args or r["status"] not in PENDING]
            return _ok(argv, json.dumps(shown))
        if args[:2] == ("get", "values"):
            release = releases.get(args[2])
            return _ok(argv, json.dumps(release["values"]) if release else "null")
        if args[:1] == ("uninstall",):
            state["helm_ops"].append(f"uninstall {args[1]}")
            releases.pop(args[1], None)
            return _ok(argv, f'release "{args[1]}" uninstalled\n')
        if args[:1] == ("rollback",):
            release = releases[args[1]]
            state["helm_ops"].append(f"rollback {args[1]}")
            release.update(status="deployed", values=release.get("previous_values"), revision=release["revision"] + 1)
            return _ok(argv, "Rollback was a success! Happy Helming!\n")
        if args[:2] == ("upgrade", "--install"):
            return self._upgrade(state, args, argv)
        return _ok(argv)

    def _upgrade(self, state: dict[str, Any], args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        name, chart = args[2], Path(args[3])
        releases: dict[str, Any] = state["releases"]
        current = releases.get(name)
        if current is not None and current["status"] in PENDING:
            return _fail(argv, "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n")
        values_text = Path(args[args.index("--values") + 1]).read_text()
        if self.helm == "fails":
            return _fail(argv, "Error: INSTALLATION FAILED: failed pre-install: timed out waiting for the condition\n")
        if self.helm == "hangs":  # the runner's timeout stopped it; Helm had said this much
            return CommandResult(argv, None, "Release \"jupyterhub\" does not exist. Installing it now.\n")
        if self.helm_fail_echo:  # a failure whose output quotes the values, secrets included
            return _fail(argv, f"Error: INSTALLATION FAILED: values were rejected:\n{values_text}")
        state["helm_ops"].append(f"upgrade {name}")
        releases[name] = {"namespace": args[args.index("--namespace") + 1], "chart": chart.name.removesuffix(".tgz"),
                          "status": "pending-upgrade" if current else "pending-install",
                          "revision": (current or {"revision": 0})["revision"] + 1,
                          "values": (current or {}).get("values"),
                          "previous_values": (current or {}).get("values")}
        self.save(state)  # what a killed Helm leaves behind
        if self.helm_delay:
            time.sleep(self.helm_delay)
        releases[name].update(status="deployed", values=yaml.safe_load(values_text))
        return _ok(argv, f'Release "{name}" has been upgraded. Happy Helming!\n')


def final_state(path: Path) -> dict[str, Any]:
    """What a run leaves on the cluster, without what differs between equal outcomes: the history, and the
    acceptance check's API token (random, made once per state folder)."""
    state = json.loads(Path(path).read_text())
    releases = {name: {k: v for k, v in r.items() if k not in ("revision", "previous_values")}
                for name, r in state["releases"].items()}
    for release in releases.values():
        services = ((release.get("values") or {}).get("hub") or {}).get("services") or {}
        for service in services.values():
            if isinstance(service, dict) and "apiToken" in service:
                service["apiToken"] = "<generated>"
    return {"snaps": state["snaps"], "running": state["running"], "addons": state["addons"],
            "forwarders": state["forwarders"], "releases": releases}


def main(argv: list[str]) -> int:
    """Patch the MicroK8s stand-in into the session, then run the real CLI."""
    parser = argparse.ArgumentParser()
    parser.add_argument("cluster", type=Path)
    parser.add_argument("--helm-delay", type=float, default=0.0)
    parser.add_argument("--helm-fail-echo", action="store_true")
    parser.add_argument("--helm", choices=("works", "fails", "hangs"), default="works")
    parser.add_argument("--never-ready", action="store_true")
    split = argv.index("--")
    options = parser.parse_args(argv[:split])
    cli_args = argv[split + 1:]
    host_root = Path(cli_args[cli_args.index("--host-root") + 1])
    cluster = StoredCluster(options.cluster, host_root, helm_delay=options.helm_delay,
                            helm_fail_echo=options.helm_fail_echo, helm=options.helm, never_ready=options.never_ready)

    import installer.headless.install as headless
    from installer import cli
    from installer import install_run as session
    from installer.components.plan import PlanOptions
    from installer.components.plan import build_plan as components_plan

    real_run_install = session.run_install

    def run_install(opts: Any, sink: EventSink, **kwargs: Any) -> Any:
        redactor = kwargs.pop("redactor", None) or session.make_redactor(opts.profile)
        return real_run_install(opts, sink, redactor=redactor, runner=cluster.runner(sink, redactor), **kwargs)

    def install_plan(opts: Any) -> Any:
        return components_plan(opts.profile, PlanOptions(dry_run=opts.dry_run, host_root=opts.host_root,
                                                         bundle_dir=opts.bundle(), preflight=False,
                                                         import_images=False, poll_interval=0.0,
                                                         check=False))  # no hub here: tests/twin checks

    headless.run_install = run_install  # type: ignore[assignment]
    session.install_plan = install_plan  # type: ignore[assignment]
    return cli.main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
