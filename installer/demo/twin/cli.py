"""Entry point of the twin's executables: ``microk8s``, ``snap``, ``netplan``, ``ip``, ``systemctl``, and the
guarded ``ln``/``mv``/``rm`` (``python -m installer.demo.twin.cli PROGRAM ARGS``, run by the wrappers in bin/)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from installer.demo.twin import cluster, images, passthrough
from installer.demo.twin.state import SNAP_DATA, Config, Store, lay_out_microk8s, start_containerd


def main(program: str, argv: list[str]) -> int:
    """Dispatch on the program name."""
    config = Config.load()
    if program in GUARDED:
        return guard(config, program, argv)
    handler = {"microk8s": microk8s, "snap": snap, "netplan": netplan, "ip": ip, "systemctl": systemctl}[program]
    return handler(config, argv)


GUARDED = ("ln", "mv", "rm")
"""File commands a step may run on host paths: allowed only inside the fake host (and temp folders)."""


def guard(config: Config, program: str, argv: list[str]) -> int:
    """Run the real ``ln``/``mv``/``rm`` only when every path is inside the test's folders.

    A step that checks a file under ``--host-root`` but acts on the real root would
    change the machine running the tests; here it fails, naming the path, instead.
    """
    import os
    import shutil

    allowed = (str(config.host_root), str(config.state_dir.parent))
    paths = [a for a in argv if not a.startswith("-")]
    if program == "ln" and "-s" in argv and len(paths) >= 2:
        paths = paths[1:]  # a symlink's target is only text written into the link
    for arg in paths:
        if arg.startswith("/") and not arg.startswith(allowed):
            print(f"twin: refusing `{program} {' '.join(argv)}`: {arg} is outside the fake host root "
                  f"{config.host_root} (a step acts on the real machine)", file=sys.stderr)
            return 1
    here = str(Path(__file__).resolve().parent / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if os.path.abspath(p) != here)
    real = shutil.which(program, path=path)
    if real is None:
        print(f"{program}: not found", file=sys.stderr)
        return 127
    return passthrough.relay([real, *argv])


# --- microk8s -----------------------------------------------------------------------------------


def microk8s(config: Config, argv: list[str]) -> int:
    """``microk8s COMMAND``: absent until the snap is installed, like the real command."""
    store = Store(config)
    if not cluster.installed(store.read()):
        print("microk8s: not found", file=sys.stderr)  # what the runner reports for a missing program
        return 127
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "kubectl" and config.host(f"{SNAP_DATA}/var/lock/clustered.lock").exists():
        # microk8s@1.32 microk8s-resources/wrappers/microk8s-kubectl.wrapper: a worker has no API of its own
        print("This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s kubectl on the "
              "master.")
        return 0
    if command == "kubectl":
        from installer.demo.twin import kubectl

        return kubectl.main(config, rest)
    if command in ("helm3", "helm"):
        from installer.demo.twin import helm

        return helm.main(config, rest)
    if command == "ctr":
        return images.exec_ctr(config, rest)
    if command == "status":
        return status(config, store, rest)
    if command in ("enable", "disable"):
        return addon(config, store, command, rest)
    if command in ("add-node", "join"):
        from installer.demo.twin import nodes

        return nodes.add_node(config, rest) if command == "add-node" else nodes.join(config, rest)
    if command == "inspect":
        print("Inspecting services\n  (twin: nothing to collect)")
        return 0
    if command == "start":
        return restart_containerd(config, store)
    if command == "stop":
        return 0
    print(f"twin: microk8s {command} is not modelled (add it to installer/demo/twin/cli.py, citing upstream)",
          file=sys.stderr)
    return 1


def is_cluster_ready(config: Config, store: Store, with_ready_node: bool = True) -> bool:
    """microk8s@1.32 scripts/wrappers/common/utils.py is_cluster_ready: the kubernetes service exists
    and (with a ready node) ``" Ready "`` is in ``kubectl get nodes``."""
    images.present.cache_clear()
    with store.edit() as state:
        if not cluster.api_up(config, state):
            return False
        cluster.reconcile(config, state)
        has_service = cluster.get(state, "Service", "default", "kubernetes") is not None
        return has_service and (not with_ready_node or cluster.node_ready(config, state)[0])


def wait_for_ready(config: Config, store: Store, timeout: float, with_ready_node: bool = True) -> bool:
    """microk8s@1.32 utils.py wait_for_ready: poll every 2 s; ``timeout`` 0 waits forever."""
    end = time.monotonic() + timeout * config.time_scale
    while True:
        if is_cluster_ready(config, store, with_ready_node):
            return True
        if timeout and time.monotonic() > end:
            return False
        config.sleep(2)


def status(config: Config, store: Store, argv: list[str]) -> int:
    """microk8s@1.32 scripts/wrappers/status.py: print, then exit 1 when not ready (also after --wait-ready)."""
    fmt, wait, timeout = "pretty", False, 0
    it = iter(argv)
    for arg in it:
        if arg == "--format":
            fmt = next(it)
        elif arg in ("-w", "--wait-ready"):
            wait = True
        elif arg in ("-t", "--timeout"):
            timeout = int(next(it))
    ready = wait_for_ready(config, store, timeout) if wait else is_cluster_ready(config, store)
    enabled = cluster.enabled_addons(config, store.read()) if ready else set()
    not_running = "microk8s is not running. Use microk8s inspect for a deeper inspection."
    if fmt == "yaml":
        lines = ["microk8s:", f"  running: {ready}", "high-availability:", "  enabled: False"]
        if ready:
            lines.append("addons:")
            for name, (description, _) in sorted(cluster.ADDONS.items()):
                lines += [f"  - name: {name}", "    repository: core", f"    description: {description}",
                          "    version: ''", f"    status: {'enabled' if name in enabled else 'disabled'}"]
        else:
            lines.append(f"  message: {not_running}")
        print("\n".join(lines))
    elif ready:
        print("microk8s is running\nhigh-availability: no\naddons:\n  enabled:")
        print("\n".join(f"    {n}" for n in sorted(enabled)))
    else:
        print(not_running)
    return 0 if ready else 1


def addon(config: Config, store: Store, command: str, argv: list[str]) -> int:
    """microk8s@1.32 scripts/wrappers/enable.py: wait up to 30 s for the API (no ready node needed, and
    going on even if it never comes), then run the addon's script."""
    wait_for_ready(config, store, 30, with_ready_node=False)
    if not argv:
        print("Usage: microk8s enable ADDON", file=sys.stderr)
        return 1
    name, _, arguments = argv[0].partition(":")
    with store.edit() as state:
        if not cluster.api_up(config, state):
            print(cluster.API_REFUSED, file=sys.stderr)
            return 1
        cluster.reconcile(config, state)
        try:
            if name == "dns" and command == "enable":
                lines = cluster.enable_dns(config, state, [s for s in arguments.replace(",", " ").split() if s])
            elif name == "dns":
                lines = cluster.disable_dns(config, state)
            elif name in ("hostpath-storage", "storage") and command == "enable":
                lines = cluster.enable_hostpath(config, state)
            else:
                print(f"twin: microk8s {command} {name} is not modelled", file=sys.stderr)
                return 1
        except cluster.AddonFailed as exc:
            print("\n".join(exc.lines))
            return 1
    if name == "dns" and command == "disable":
        config.sleep(cluster.RESTART_SECONDS + 15)  # the script waits for the kubelet and sleeps 15 s
    print("\n".join(lines))
    return 0


def restart_containerd(config: Config, store: Store) -> int:
    """``snap restart microk8s[.daemon-containerd]``, ``systemctl restart snap.microk8s.daemon-containerd``,
    ``microk8s start``: containerd starts again and re-reads containerd-env (the template too)."""
    with store.edit() as state:
        if not cluster.installed(state):
            print('error: snap "microk8s" is not installed', file=sys.stderr)
            return 1
        start_containerd(config, state)
    return 0


def systemctl(config: Config, argv: list[str]) -> int:
    """Only MicroK8s's containerd unit is modelled; anything else is refused (tests never touch the real init)."""
    units = (["snap.microk8s.daemon-containerd"], ["snap.microk8s.daemon-containerd.service"])
    if argv[:1] == ["restart"] and argv[1:] in units:
        return restart_containerd(config, Store(config))
    if argv[:1] == ["show"] and argv[-1:] in units:
        state = Store(config).read()
        if not cluster.installed(state):
            print("0" if "--value" in argv else "MainPID=0")
            return 0
        kib = state.get("containerd_memlock") or "8192"
        fields = {"MainPID": str(state.get("containerd_pid") or 0),
                  "LimitMEMLOCK": "infinity" if not kib.isdigit() else str(int(kib) * 1024)}
        wanted = [argv[i + 1] for i, a in enumerate(argv) if a in ("-p", "--property")]
        for name in wanted or list(fields):
            print(fields.get(name, "") if "--value" in argv else f"{name}={fields.get(name, '')}")
        return 0
    print(f"twin: systemctl {' '.join(argv)} is not modelled", file=sys.stderr)
    return 1


# --- snap ---------------------------------------------------------------------------------------


def snap(config: Config, argv: list[str]) -> int:
    """``snap list NAME``, ``snap ack FILE``, ``snap install FILE [--classic]`` (snapd's messages)."""
    store = Store(config)
    if argv[:1] == ["list"]:
        snaps = store.read()["snaps"]
        names = argv[1:] or sorted(snaps)
        found = [n for n in names if n in snaps]
        if not found:
            print("error: no matching snaps installed", file=sys.stderr)
            return 1
        print("Name      Version   Rev    Tracking  Publisher   Notes")
        for name in found:
            print(f"{name}  1.0  {snaps[name]['revision']}  -  canonical**  {snaps[name].get('notes', '-')}")
        return 0
    if argv[:1] == ["ack"] and len(argv) == 2:
        with store.edit() as state:
            if argv[1] not in state["acked"]:
                state["acked"].append(argv[1])
        return 0
    if argv[:1] == ["restart"] and len(argv) == 2 and argv[1] in ("microk8s", "microk8s.daemon-containerd"):
        return restart_containerd(config, store)
    if argv[:1] == ["remove"] and len(argv) >= 2:
        return snap_remove(config, store, [a for a in argv[1:] if not a.startswith("-")])
    if argv[:1] == ["install"] and len(argv) >= 2:
        return snap_install(config, store, argv[1], "--classic" in argv, "--dangerous" in argv)
    print(f"twin: snap {' '.join(argv)} is not modelled", file=sys.stderr)
    return 1


def snap_remove(config: Config, store: Store, names: list[str]) -> int:
    """``snap remove [--purge] NAME``: snapd's words for a snap that is not installed (cmd/snap/cmd_remove.go).

    Removing microk8s stops its services, so the API answers no more, and its cluster state is gone.
    """
    with store.edit() as state:
        for name in names:
            if name not in state["snaps"]:
                print(f'snap "{name}" is not installed', file=sys.stderr)
                continue
            del state["snaps"][name]
            if name == "microk8s":  # its datastore (dqlite under $SNAP_DATA) goes with the snap's data
                state["objects"].clear()
                state["releases"].clear()
            print(f"{name} removed")
    return 0


def snap_install(config: Config, store: Store, file: str, classic: bool, dangerous: bool) -> int:
    """Install a local snap file: acked assertion, base and classic rules as snapd applies them.

    Without its acked assertion snapd refuses a local file unless --dangerous; microk8s
    is ``confinement: classic`` with ``base: core20`` (microk8s@1.32 snap/snapcraft.yaml),
    so it needs --classic and an installed core20 offline (microk8s#1614).
    """
    name, _, revision = file.rsplit("/", 1)[-1].removesuffix(".snap").rpartition("_")
    assertion = file.removesuffix(".snap") + ".assert"
    with store.edit() as state:
        if not dangerous and assertion not in state["acked"]:
            print(f'error: cannot find signatures with metadata for snap "{file}"', file=sys.stderr)
            return 1
        if name == "microk8s":
            if not classic:
                print('error: This revision of snap "microk8s" was published using classic confinement and thus '
                      "may perform\n       arbitrary system changes outside of the security sandbox that snaps "
                      "are usually confined to,\n       which may put your system at risk.\n\n       If you "
                      "understand and want to proceed repeat the command including --classic.", file=sys.stderr)
                return 1
            if "core20" not in state["snaps"]:
                print('error: cannot perform the following tasks:\n- Ensure prerequisites for "microk8s" are '
                      'available (cannot install snap base "core20": Post "https://api.snapcraft.io/v2/snaps/'
                      'refresh": dial tcp: lookup api.snapcraft.io: no such host)', file=sys.stderr)
                return 1
        state["snaps"][name] = {"revision": revision, "notes": "classic" if classic else "-"}
        if name == "microk8s":
            lay_out_microk8s(config, revision)
            start_containerd(config, state)
    print(f"{name} {revision} installed")
    return 0


# --- netplan and ip -----------------------------------------------------------------------------


def _netplan_files(config: Config) -> list[Any]:
    folder = config.host("/etc/netplan")
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


DEVICE_TYPES = ("ethernets", "bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs", "modems", "dummy-devices")


def netplan(config: Config, argv: list[str]) -> int:
    """``netplan get`` (the merged YAML) and ``netplan generate`` (validation only, nothing rendered).

    netplan src/parse.c: a netdef ID defined under two device types is an error
    ("Updated definition '%s' changes device type"); files merge in lexical order.
    """
    merged: dict[str, Any] = {"network": {}}
    owners: dict[str, tuple[str, str]] = {}
    for path in _netplan_files(config):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            print(f"{path.relative_to(config.host_root)}: Invalid YAML: {exc}", file=sys.stderr)
            return 1
        for kind in DEVICE_TYPES:
            for netdef in ((data.get("network") or {}).get(kind) or {}):
                before = owners.get(netdef)
                if before and before[0] != kind:
                    print(f"/{path.relative_to(config.host_root)}: Error in network definition: Updated definition "
                          f"'{netdef}' changes device type", file=sys.stderr)
                    return 1
                owners[netdef] = (kind, str(path))
                target = merged["network"].setdefault(kind, {}).setdefault(netdef, {})
                target.update(data["network"][kind][netdef] or {})
        if (data.get("network") or {}).get("version"):
            merged["network"]["version"] = data["network"]["version"]
    if argv[:1] == ["get"]:
        print(yaml.safe_dump(merged, sort_keys=False), end="")
        return 0
    if argv[:1] == ["generate"]:
        return 0
    print(f"twin: netplan {' '.join(argv)} is not modelled", file=sys.stderr)
    return 1


def ip(config: Config, argv: list[str]) -> int:
    """``ip -j -4 addr show`` and ``ip route add default dev IF scope link``, on the fake host's tables."""
    args = [a for a in argv if a not in ("-j", "-4", "-json")]
    if args[:1] in (["addr"], ["address"], ["a"]):
        links = [{"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"], "operstate": "UNKNOWN",
                  "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
                 {"ifindex": 2, "ifname": config.interface, "flags": ["BROADCAST", "MULTICAST", "UP"],
                  "operstate": "UP", "addr_info": [{"family": "inet", "local": config.node_ip, "prefixlen": 24}]}]
        print(json.dumps(links))
        return 0
    if args[:3] == ["route", "add", "default"]:
        device = args[args.index("dev") + 1] if "dev" in args else config.interface
        if cluster.has_default_route(config):
            print("RTNETLINK answers: File exists", file=sys.stderr)
            return 2
        table = config.host("/proc/net/route")
        text = (table.read_text() if table.exists()
                else "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text(text + f"{device}\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n")
        return 0
    if args[:2] == ["route", "get"] and len(args) >= 3:
        if cluster.reachable(config, args[2]):
            print(f"{args[2]} dev {config.interface} src {config.node_ip}")
            return 0
        print("RTNETLINK answers: Network is unreachable", file=sys.stderr)
        return 2
    print(f"twin: ip {' '.join(argv)} is not modelled", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
