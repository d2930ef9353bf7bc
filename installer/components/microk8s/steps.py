"""MicroK8s base steps: snaps from the bundle, host traps, readiness, and the dns/storage addons.

Every command goes through ``ctx.runner`` as an argv list starting with ``microk8s``
(``microk8s kubectl``, ``microk8s helm3`` for the other components), so a recording
runner can stand in for the cluster in tests. Each step checks the host first and
reports ``skipped`` when its work is already there. What the other components
share lives in :mod:`installer.components.kube` and :mod:`installer.components.bundled`.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Final

import yaml

from installer.components.bundled import load_bundle_manifest
from installer.components.kube import KUBECTL, parse_json, probe
from installer.engine.commands import command_failed
from installer.engine.plan import Step, StepContext
from installer.errors import BundleError, StepFailed
from installer.probes.hostfs import HostFS
from installer.probes.system import has_default_route

_LOGGER: Final = logging.getLogger(__name__)

MICROK8S: Final = ("microk8s",)
SNAP_COMMON: Final = "/var/snap/microk8s/common"
KUBELET_DIR: Final = "/var/lib/kubelet"
KUBELET_TARGET: Final = f"{SNAP_COMMON}/var/lib/kubelet"
NETPLAN_ROUTE_FILE: Final = "/etc/netplan/90-jupyterhub-offline-default-route.yaml"
SNAP_ORDER: Final = ("snapd", "core20", "microk8s")
"""MicroK8s is a classic snap on core20, and current core20 needs a recent snapd: install in this order."""


# --- status ----------------------------------------------------------------------------


def microk8s_status(ctx: StepContext) -> dict[str, Any] | None:
    """``microk8s status --format yaml`` parsed; ``None`` when MicroK8s is absent or not running."""
    result = probe(ctx, [*MICROK8S, "status", "--format", "yaml"])
    if not result.ok:
        return None
    try:
        data = yaml.safe_load(result.stdout)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    running = (data.get("microk8s") or {}).get("running")
    return data if running is True else None


def enabled_addons(status: dict[str, Any] | None) -> set[str]:
    """Names of the enabled addons in a parsed status."""
    if not status:
        return set()
    return {str(a.get("name")) for a in status.get("addons") or []
            if isinstance(a, dict) and a.get("status") == "enabled"}


# --- DNS upstream --------------------------------------------------------------------------


def _nameservers(text: str | None) -> list[str]:
    servers: list[str] = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                address = ip_address(fields[1].split("%")[0])
            except ValueError:
                continue
            if not address.is_loopback and not address.is_unspecified and str(address) not in servers:
                servers.append(str(address))
    return servers


def dns_upstreams(ctx: StepContext) -> list[str]:
    """Upstream DNS for CoreDNS: the profile's, else the host's non-loopback nameservers.

    Like the dns addon, systemd-resolved's real upstreams are read when resolv.conf
    only names the local stub. Unlike the addon, there is no 8.8.8.8 fallback: an
    air-gapped cluster would send every external lookup into a black hole.
    """
    configured = [str(s) for s in ctx.profile.microk8s.dns_servers]
    if configured:
        return configured
    fs = HostFS(ctx.host_root)
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        servers = _nameservers(fs.read(path))
        if servers:
            return servers
    return []


# --- steps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleSnap:
    """One snap of the bundle with its assertion."""

    name: str
    file: Path
    assert_file: Path
    revision: str | None = None


def bundle_snaps(bundle_dir: Path) -> list[BundleSnap]:
    """snapd, core20 and microk8s from the bundle, in install order (manifest first, then file names)."""
    found: dict[str, BundleSnap] = {}
    manifest = load_bundle_manifest(bundle_dir)
    for name in SNAP_ORDER:
        snap = manifest.find_snap(name) if manifest is not None else None
        if snap is not None:
            found[name] = BundleSnap(name, bundle_dir / snap.file, bundle_dir / snap.assert_file, snap.revision)
    for name in SNAP_ORDER:
        if name in found:
            continue
        files = sorted((bundle_dir / "snaps").glob(f"{name}_*.snap"))
        if files:
            newest = files[-1]
            revision = newest.stem.rpartition("_")[2]
            found[name] = BundleSnap(name, newest, newest.with_suffix(".assert"),
                                     revision if revision.isdigit() else None)
    return [found[name] for name in SNAP_ORDER if name in found]


def installed_snap_revision(ctx: StepContext, name: str) -> str | None:
    """The installed revision of snap ``name`` (``snap list NAME``), or ``None`` when absent."""
    result = probe(ctx, ["snap", "list", name])
    if not result.ok:
        return None
    for line in result.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[0] == name:
            return fields[2]
    return None


class InstallSnapsStep(Step):
    """Install snapd, core20 and microk8s from the bundle's files (``snap ack`` + ``snap install``)."""

    id = "microk8s.snaps"
    title = "Install MicroK8s from the bundle's snaps"
    component = "microk8s"

    def __init__(self, bundle_dir: Path, channel: str) -> None:
        self.bundle_dir = bundle_dir
        self.channel = channel

    def inputs(self) -> Any:
        """The channel and the snap files."""
        return {"id": self.id, "channel": self.channel, "snaps": [s.file.name for s in bundle_snaps(self.bundle_dir)]}

    def is_done(self, ctx: StepContext) -> bool:
        """MicroK8s is installed (the bundle's snaps cannot refresh it anyway)."""
        return installed_snap_revision(ctx, "microk8s") is not None

    def run(self, ctx: StepContext) -> None:
        """Ack and install each snap that is missing or older than the bundle's, in order."""
        snaps = {s.name: s for s in bundle_snaps(self.bundle_dir)}
        if "microk8s" not in snaps:
            msg = f"no microk8s snap in {self.bundle_dir / 'snaps'}"
            hint = (f"Build the bundle with the MicroK8s {self.channel} snaps (`./install.sh export`), "
                    "or install MicroK8s yourself and set microk8s.install_snaps: false.")
            if not ctx.dry_run:
                raise BundleError(msg, hint)
            ctx.log(msg + " (a real install would stop here)", "warning")
        for name in SNAP_ORDER:
            snap = snaps.get(name)
            if snap is None:
                if name != "microk8s":
                    ctx.log(f"the bundle has no {name} snap: using the one on the host", "warning")
                continue
            ctx.check_cancelled()
            installed = installed_snap_revision(ctx, name)
            if name != "microk8s" and installed is not None and not _older(installed, snap.revision):
                ctx.log(f"{name} revision {installed} is already installed")
                continue
            ctx.runner.run(["snap", "ack", str(snap.assert_file)], timeout=60,
                           hint=f"Check that {snap.assert_file} belongs to {snap.file.name} (rebuild the bundle).")
            argv = ["snap", "install", str(snap.file)] + (["--classic"] if name == "microk8s" else [])
            ctx.runner.run(argv, timeout=900,
                           hint="See `snap changes` for the reason; the snap files must match their .assert files.")


def _older(installed: str, bundled: str | None) -> bool:
    """Whether the installed revision is older than the bundle's (unknown revisions never are)."""
    if bundled is None or not installed.isdigit() or not bundled.isdigit():
        return False
    return int(installed) < int(bundled)


def primary_interface(ctx: StepContext) -> str | None:
    """The first non-loopback interface that is up and has an IPv4 address (``ip -j -4 addr``)."""
    data = parse_json(probe(ctx, ["ip", "-j", "-4", "addr", "show"]).stdout)
    for link in data or []:
        name = link.get("ifname") if isinstance(link, dict) else None
        if not name or name == "lo" or "LOOPBACK" in (link.get("flags") or []):
            continue
        if link.get("operstate") not in ("UP", "UNKNOWN"):
            continue
        if any(a.get("family") == "inet" for a in link.get("addr_info") or []):
            return str(name)
    return None


NETPLAN_DIRS: Final = ("/lib/netplan", "/etc/netplan", "/run/netplan")
"""Where netplan reads YAML; a file shadows a same-named one in an earlier folder (netplan-generate(8),
"HANDLING MULTIPLE FILES"), and definitions with the same ID in later files amend earlier ones."""
NETDEF_KINDS: Final = ("ethernets", "bonds", "bridges", "vlans", "wifis", "modems", "tunnels", "vrfs",
                       "dummy-devices", "virtual-ethernets", "nm-devices")


def netplan_files(fs: HostFS) -> list[Path]:
    """The netplan YAML files in the order netplan reads them (by name; /run over /etc over /lib); not ours."""
    by_name: dict[str, Path] = {}
    for folder in NETPLAN_DIRS:
        directory = fs.path(folder)
        if directory.is_dir():
            for path in directory.glob("*.yaml"):
                by_name[path.name] = path
    ours = Path(NETPLAN_ROUTE_FILE).name
    return [by_name[name] for name in sorted(by_name) if name != ours]


def _matches(match: dict[str, Any], interface: str, fs: HostFS) -> bool:
    """Whether a ``match:`` block selects ``interface`` (name glob, MAC, driver: all given must hold)."""
    if "name" in match and not fnmatch.fnmatchcase(interface, str(match["name"])):
        return False
    if "macaddress" in match:
        mac = (fs.read(f"/sys/class/net/{interface}/address") or "").lower()
        if mac != str(match["macaddress"]).lower():
            return False
    if "driver" in match:
        driver_link = fs.path(f"/sys/class/net/{interface}/device/driver")
        drivers = match["driver"] if isinstance(match["driver"], list) else [match["driver"]]
        if not driver_link.is_symlink() or not any(fnmatch.fnmatchcase(Path(os.readlink(driver_link)).name, str(d))
                                                   for d in drivers):
            return False
    return bool(match)


def netplan_owner(fs: HostFS, interface: str) -> tuple[str, str] | None:
    """``(kind, id)`` of the netplan definition that configures ``interface``, or ``None``.

    A definition owns it by ID (``eno1:``, ``bond0:`` under ``bonds:``), or for a
    physical device through ``match:`` (then ``set-name`` or the match itself).
    """
    for path in netplan_files(fs):
        try:
            data = yaml.safe_load(path.read_text(errors="replace"))
        except (OSError, yaml.YAMLError):
            continue
        network = data.get("network") if isinstance(data, dict) else None
        if not isinstance(network, dict):
            continue
        for kind in NETDEF_KINDS:
            definitions = network.get(kind)
            if not isinstance(definitions, dict):
                continue
            for netdef_id, raw_conf in definitions.items():
                conf = raw_conf if isinstance(raw_conf, dict) else {}
                match = conf.get("match")
                if isinstance(match, dict):
                    if conf.get("set-name") == interface or (
                            conf.get("set-name") is None and _matches(match, interface, fs)):
                        return kind, str(netdef_id)
                elif str(netdef_id) == interface:
                    return kind, str(netdef_id)
    return None


class DefaultRouteStep(Step):
    """Add a link-scope default route when the host has none (the apiserver and kube-proxy need one)."""

    id = "microk8s.default-route"
    title = "Make sure the host has a default route"
    component = "microk8s"

    def is_done(self, ctx: StepContext) -> bool:
        """The host has a default route, or the profile says not to touch routes."""
        if not ctx.profile.microk8s.add_default_route:
            return True
        fs = HostFS(ctx.host_root)
        return has_default_route(fs.read("/proc/net/route"), fs.read("/proc/net/ipv6_route"))

    def run(self, ctx: StepContext) -> None:
        """``ip route add default dev IFACE scope link`` now, and a netplan file so it survives a reboot."""
        interface = primary_interface(ctx)
        if interface is None:
            msg = "the host has no default route and no network interface with an IPv4 address to attach one to"
            raise StepFailed(msg, "Configure the server's network (an address on its LAN interface), then run again.")
        ctx.runner.run(["ip", "route", "add", "default", "dev", interface, "scope", "link"], timeout=30,
                       hint="Add a default route by hand (`ip route add default dev IFACE scope link`).")
        self.persist(ctx, interface)

    def persist(self, ctx: StepContext, interface: str) -> None:
        """Keep the route across reboots: a netplan file amending the definition that owns the interface.

        The route goes under that definition's kind and ID (a bond under ``bonds:``, a
        ``match:``-ed NIC under its own ID), never a new ``ethernets:`` entry that would
        clash with it; and ``netplan generate`` must accept the result, else the file is
        removed again (a file netplan rejects would cost the host its network at boot).
        """
        fs = HostFS(ctx.host_root)
        lost = f"added a link-scope default route on {interface}; it is lost at reboot"
        if not fs.path("/etc/netplan").is_dir():
            ctx.log(f"{lost} (no netplan here: add it to the network configuration)", "warning")
            return
        owner = netplan_owner(fs, interface)
        if owner is None:
            ctx.log(f"{lost}: no netplan definition configures {interface} (add `routes: [{{to: 0.0.0.0/0, "
                    "scope: link}]` where it is configured)", "warning")
            return
        kind, netdef_id = owner
        netplan = {"network": {"version": 2, kind: {netdef_id: {"routes": [{"to": "0.0.0.0/0", "scope": "link"}]}}}}
        path = ctx.files.write(fs.path(NETPLAN_ROUTE_FILE), yaml.safe_dump(netplan, sort_keys=False), mode=0o600)
        result = ctx.runner.run(["netplan", "generate", "--root-dir", str(ctx.host_root)], timeout=120, check=False)
        if not result.ok:
            if not ctx.dry_run:
                path.unlink(missing_ok=True)
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            ctx.log(f"{lost}: netplan rejected the route for {kind}.{netdef_id} ({detail[0]}), so "
                    f"{NETPLAN_ROUTE_FILE} was removed again; add the route to the network configuration by hand",
                    "warning")
            return
        ctx.log(f"added a link-scope default route on {interface} (kept across reboots by {NETPLAN_ROUTE_FILE}, "
                f"under {kind}.{netdef_id})")


class KubeletDirStep(Step):
    """Point ``/var/lib/kubelet`` at MicroK8s's kubelet folder.

    MicroK8s makes that symlink only when ``/var/lib/kubelet`` does not exist; a
    leftover folder makes device plugins (GPU, RDMA) register with nobody.
    """

    id = "microk8s.kubelet-dir"
    title = "Link /var/lib/kubelet to MicroK8s's kubelet"
    component = "microk8s"

    def is_done(self, ctx: StepContext) -> bool:
        """``/var/lib/kubelet`` is a symlink to MicroK8s's folder."""
        path = HostFS(ctx.host_root).path(KUBELET_DIR)
        if not path.is_symlink():
            return False
        return os.readlink(path).rstrip("/") == KUBELET_TARGET

    def run(self, ctx: StepContext) -> None:
        """Move a real folder aside (never delete it), then link.

        The commands act on the very path :meth:`is_done` checks (under ``--host-root``),
        never on this machine's ``/var/lib/kubelet`` while looking at another tree. The
        link's target stays MicroK8s's absolute path: it is read on the host itself.
        """
        path = HostFS(ctx.host_root).path(KUBELET_DIR)
        here = str(path)
        if path.is_symlink() or path.exists():
            backup = f"{here}.before-microk8s"
            if path.is_symlink():
                ctx.runner.run(["rm", here], timeout=30)
            else:
                ctx.log(f"{here} is a real folder: moving it to {backup} so device plugins reach "
                        "MicroK8s's kubelet", "warning")
                ctx.runner.run(["mv", "-T", here, backup], timeout=60,
                               hint=f"Move {here} away by hand (is another kubelet running?), then run again.")
        ctx.runner.run(["ln", "-s", KUBELET_TARGET, here], timeout=30)


class WaitReadyStep(Step):
    """``microk8s status --wait-ready`` with the profile's timeout."""

    id = "microk8s.wait-ready"
    title = "Wait until MicroK8s is ready"
    component = "microk8s"

    def is_done(self, ctx: StepContext) -> bool:
        """MicroK8s already says it is running."""
        return microk8s_status(ctx) is not None

    def run(self, ctx: StepContext) -> None:
        """Block in ``microk8s status --wait-ready`` (a wait, so a dry-run only shows it)."""
        hint = ("Run `microk8s inspect`. Usual causes offline: no default route, base images (calico, pause, "
                "coredns) missing from containerd, or a full disk under /var/snap.")
        wait_ready(ctx, "MicroK8s did not become ready within {timeout} s", hint)


class DnsAddonStep(Step):
    """Enable CoreDNS with an upstream from the profile or the host, never 8.8.8.8.

    With no upstream at all the cluster still needs DNS for its own names: CoreDNS's
    ``kubernetes`` plugin answers ``cluster.local`` before anything is forwarded
    (core-addons 1.32 ``addons/dns/coredns.yaml``), so the Corefile is kept without its
    ``forward`` line and the install goes on with a warning.
    """

    id = "microk8s.dns"
    title = "Enable cluster DNS"
    component = "microk8s"

    def is_done(self, ctx: StepContext) -> bool:
        """dns is enabled and CoreDNS forwards to exactly the wanted upstreams (to none when there are none)."""
        if "dns" not in enabled_addons(microk8s_status(ctx)):
            return False
        corefile = coredns_corefile(ctx)
        return corefile is not None and forwarders_of(corefile) == dns_upstreams(ctx)

    def run(self, ctx: StepContext) -> None:
        """Re-enable dns with the right upstream (MicroK8s enables it at first start with 8.8.8.8).

        core-addons ``addons/dns/disable`` always restarts kubelite and ``enable`` does
        when the kubelet's ``--cluster-dns`` changed (core-addons 1.32): the API is waited
        for afterwards, so the next step does not meet a restarting apiserver.
        """
        upstreams = dns_upstreams(ctx)
        enabled = "dns" in enabled_addons(microk8s_status(ctx))
        if not upstreams:
            ctx.log("no upstream DNS server: /etc/resolv.conf names only loopback servers and microk8s.dns_servers "
                    "is empty. CoreDNS will answer the cluster's own names only; set microk8s.dns_servers: "
                    "[<your DNS server IP>] in the profile if pods must resolve site names.", "warning")
            if not enabled:
                # The addon without arguments writes its 8.8.8.8 fallback; the Corefile is replaced right after.
                ctx.runner.run([*MICROK8S, "enable", "dns"], timeout=600,
                               hint="Check `microk8s kubectl -n kube-system get pods`: the coredns image must be "
                                    "imported.")
                wait_for_api(ctx)
            drop_forward(ctx)
            return
        if enabled:
            ctx.log(f"CoreDNS forwards to {' '.join(coredns_forwarders(ctx)) or 'an unknown upstream'}: re-enabling "
                    f"it with {','.join(upstreams)}")
            ctx.runner.run([*MICROK8S, "disable", "dns"], timeout=300)
        ctx.runner.run([*MICROK8S, "enable", f"dns:{','.join(upstreams)}"], timeout=600,
                       hint="Check `microk8s kubectl -n kube-system get pods`: the coredns image must be imported.")
        wait_for_api(ctx)


def wait_for_api(ctx: StepContext) -> None:
    """``microk8s status --wait-ready``: the API answers and the node is Ready again after a kubelite restart."""
    wait_ready(ctx, "MicroK8s did not come back within {timeout} s after the dns addon restarted kubelite",
               "Run `microk8s inspect` and `microk8s status`; then run the install again.")


def wait_ready(ctx: StepContext, failure: str, hint: str) -> None:
    """Block in ``microk8s status --wait-ready`` (the profile's timeout); ``failure`` (with ``{timeout}``) on expiry."""
    timeout = ctx.profile.microk8s.ready_timeout
    result = ctx.runner.run([*MICROK8S, "status", "--wait-ready", "--timeout", str(timeout)],
                            timeout=timeout + 60, check=False)
    if not result.ok:
        detail = command_failed(result, timeout=timeout + 60).message
        raise StepFailed(f"{failure.format(timeout=timeout)}: {detail}", hint)


def coredns_corefile(ctx: StepContext) -> str | None:
    """CoreDNS's Corefile from its ConfigMap, or ``None`` when it cannot be read."""
    data = parse_json(probe(ctx, [*KUBECTL, "-n", "kube-system", "get", "configmap", "coredns", "-o", "json"]).stdout)
    corefile = ((data.get("data") or {}).get("Corefile")) if isinstance(data, dict) else None
    return corefile if isinstance(corefile, str) and corefile.strip() else None


_FORWARD: Final = re.compile(r"^\s*forward\s+\.\s+([^{\n]+)", re.MULTILINE)
_FORWARD_BLOCK: Final = re.compile(r"^[ \t]*forward\s+\.[^\n{]*(\{[^}]*\})?[ \t]*\n", re.MULTILINE)


def forwarders_of(corefile: str) -> list[str]:
    """The ``forward .`` targets in a Corefile (empty when it forwards nothing)."""
    match = _FORWARD.search(corefile)
    return match.group(1).split() if match else []


def coredns_forwarders(ctx: StepContext) -> list[str]:
    """The ``forward .`` targets in CoreDNS's Corefile (empty when unknown)."""
    return forwarders_of(coredns_corefile(ctx) or "")


def without_forward(corefile: str) -> str:
    """The Corefile with its ``forward .`` directive (and its option block, if any) removed."""
    return _FORWARD_BLOCK.sub("", corefile)


def drop_forward(ctx: StepContext) -> None:
    """Patch CoreDNS's ConfigMap to forward nowhere, then restart CoreDNS so no pod keeps the old upstream."""
    corefile = coredns_corefile(ctx)
    if corefile is None:
        if ctx.dry_run:
            ctx.log("would remove the forward line from CoreDNS's Corefile")
            return
        msg = "cannot read CoreDNS's Corefile (kube-system/configmap coredns) to remove its 8.8.8.8 upstream"
        raise StepFailed(msg, "Check `microk8s kubectl -n kube-system get configmap coredns`, then run again.")
    patch = json.dumps({"data": {"Corefile": without_forward(corefile)}})
    ctx.runner.run([*KUBECTL, "-n", "kube-system", "patch", "configmap", "coredns", "--type", "merge", "-p", patch],
                   timeout=60, hint="Edit it by hand: `microk8s kubectl -n kube-system edit configmap coredns`.")
    ctx.runner.run([*KUBECTL, "-n", "kube-system", "rollout", "restart", "deployment", "coredns"], timeout=60)
    ctx.log("CoreDNS answers the cluster's names and forwards nothing (no upstream DNS server)")


class HostpathStorageStep(Step):
    """Enable ``hostpath-storage`` (StorageClass ``microk8s-hostpath`` for user volumes)."""

    id = "microk8s.hostpath-storage"
    title = "Enable hostpath storage"
    component = "microk8s"

    def is_done(self, ctx: StepContext) -> bool:
        """The addon is enabled."""
        return "hostpath-storage" in enabled_addons(microk8s_status(ctx))

    def run(self, ctx: StepContext) -> None:
        """``microk8s enable hostpath-storage``."""
        ctx.runner.run([*MICROK8S, "enable", "hostpath-storage"], timeout=600,
                       hint="The hostpath-provisioner and busybox images must be imported (see the image step).")
