"""MicroK8s base steps: snaps in order, DNS upstream (never 8.8.8.8), host traps, readiness."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from installer.components.bundled import pin_to_bundle
from installer.components.microk8s.steps import (
    KUBELET_TARGET,
    DefaultRouteStep,
    DnsAddonStep,
    HostpathStorageStep,
    InstallSnapsStep,
    KubeletDirStep,
    WaitReadyStep,
    dns_upstreams,
)
from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.engine.events import CollectingSink
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext
from installer.errors import BundleError, StepFailed


def make_ctx(tmp_path: Path, runner: RecordingRunner | None = None, profile: Profile | None = None) -> StepContext:
    sink = CollectingSink()
    return StepContext(runner=runner or RecordingRunner(), files=FileWriter(sink), sink=sink,
                       profile=profile or Profile(), state_dir=tmp_path / "state", host_root=tmp_path / "host")


def host_file(ctx: StepContext, path: str, content: str) -> None:
    target = ctx.host_root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)


def status_yaml(*enabled: str) -> str:
    return yaml.safe_dump({"microk8s": {"running": True},
                           "addons": [{"name": n, "status": "enabled"} for n in enabled]})


# --- DNS ----------------------------------------------------------------------------------


def test_dns_upstreams_skip_loopback_and_read_systemd_resolved(tmp_path: Path) -> None:
    """127.0.0.53 is the local stub: the real upstreams come from systemd-resolved's file."""
    ctx = make_ctx(tmp_path)
    host_file(ctx, "/etc/resolv.conf", "nameserver 127.0.0.53\nsearch lan\n")
    host_file(ctx, "/run/systemd/resolve/resolv.conf", "nameserver 10.1.1.1\nnameserver ::1\nnameserver fd00::53\n")
    assert dns_upstreams(ctx) == ["10.1.1.1", "fd00::53"]


def test_dns_upstreams_profile_wins(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, profile=Profile.model_validate({"microk8s": {"dns_servers": ["192.168.0.1"]}}))
    host_file(ctx, "/etc/resolv.conf", "nameserver 10.1.1.1\n")
    assert dns_upstreams(ctx) == ["192.168.0.1"]


COREFILE_GOOGLE = (".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n      pods insecure\n"
                   "    }\n    forward . 8.8.8.8 8.8.4.4\n    cache 30\n    loop\n}\n")
COREDNS_CM = ["microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns"]


def test_dns_without_upstream_warns_and_forwards_nowhere(tmp_path: Path) -> None:
    """Only loopback servers and nothing in the profile: a warning, and a Corefile without forward (no 8.8.8.8)."""
    runner = RecordingRunner()
    runner.answer(["microk8s", "status"], status_yaml("dns"))
    runner.answer(COREDNS_CM, json.dumps({"data": {"Corefile": COREFILE_GOOGLE}}))
    ctx = make_ctx(tmp_path, runner)
    host_file(ctx, "/etc/resolv.conf", "nameserver 127.0.0.1\n")
    step = DnsAddonStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    assert not runner.ran("microk8s", "enable") and not runner.ran("microk8s", "disable")
    patches = runner.ran("microk8s", "kubectl", "-n", "kube-system", "patch", "configmap", "coredns")
    assert len(patches) == 1
    corefile = json.loads(patches[0][-1])["data"]["Corefile"]
    assert "forward" not in corefile and "8.8.8.8" not in corefile
    assert "kubernetes cluster.local" in corefile and "loop" in corefile
    assert runner.ran("microk8s", "kubectl", "-n", "kube-system", "rollout", "restart", "deployment", "coredns")
    warnings = [e.message for e in ctx.sink.events if getattr(e, "level", "") == "warning"]
    assert any("microk8s.dns_servers" in w for w in warnings)

    runner.answer(COREDNS_CM, json.dumps({"data": {"Corefile": corefile}}))
    assert step.is_done(ctx) is True
    runner.answer(COREDNS_CM, returncode=1, stderr="The connection to the server was refused")
    assert step.is_done(ctx) is False  # an unreadable Corefile is not one without forward


def test_dns_without_upstream_not_enabled_yet(tmp_path: Path) -> None:
    """dns off: enable it, wait for the API (the addon may restart kubelite), then drop the fallback."""
    runner = RecordingRunner()
    runner.answer(["microk8s", "status"], status_yaml())
    runner.answer(COREDNS_CM, json.dumps({"data": {"Corefile": COREFILE_GOOGLE}}))
    ctx = make_ctx(tmp_path, runner)
    DnsAddonStep().run(ctx)
    changing = [c[:6] for c in runner.calls if c[1] == "enable" or "--wait-ready" in c or "patch" in c]
    assert changing == [("microk8s", "enable", "dns"), ("microk8s", "status", "--wait-ready", "--timeout", "600"),
                        ("microk8s", "kubectl", "-n", "kube-system", "patch", "configmap")]


def test_dns_enabled_with_google_is_re_enabled(tmp_path: Path) -> None:
    """MicroK8s enabled dns at first start with 8.8.8.8: not done; disable, then enable with the host's server."""
    runner = RecordingRunner()
    runner.answer(["microk8s", "status"], status_yaml("dns"))
    corefile = ".:53 {\n    forward . 8.8.8.8 8.8.4.4\n}\n"
    runner.answer(["microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns"],
                  json.dumps({"data": {"Corefile": corefile}}))
    ctx = make_ctx(tmp_path, runner)
    host_file(ctx, "/etc/resolv.conf", "nameserver 10.1.1.1\n")
    step = DnsAddonStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    # core-addons dns/disable and dns/enable restart kubelite: the API is waited for before the next step.
    assert runner.calls[-3:] == [("microk8s", "disable", "dns"), ("microk8s", "enable", "dns:10.1.1.1"),
                                 ("microk8s", "status", "--wait-ready", "--timeout", "600")]

    runner.answer(["microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns"],
                  json.dumps({"data": {"Corefile": ".:53 {\n    forward . 10.1.1.1\n}\n"}}))
    assert step.is_done(ctx) is True


def test_hostpath_storage(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(["microk8s", "status"], status_yaml("dns"))
    ctx = make_ctx(tmp_path, runner)
    assert HostpathStorageStep().is_done(ctx) is False
    runner.answer(["microk8s", "status"], status_yaml("dns", "hostpath-storage"))
    assert HostpathStorageStep().is_done(ctx) is True


# --- snaps ----------------------------------------------------------------------------------


def make_snaps(bundle: Path) -> None:
    (bundle / "snaps").mkdir(parents=True)
    for name, rev in (("microk8s", "7394"), ("core20", "2264"), ("snapd", "21759")):
        (bundle / "snaps" / f"{name}_{rev}.snap").write_bytes(b"x")
        (bundle / "snaps" / f"{name}_{rev}.assert").write_text("a")


def test_snaps_install_in_order_and_keep_newer_host_snaps(tmp_path: Path) -> None:
    """snapd (older on the host) is replaced, core20 (same revision) is kept, microk8s is installed --classic."""
    bundle = tmp_path / "bundle"
    make_snaps(bundle)
    runner = RecordingRunner()
    runner.answer(["snap", "list", "microk8s"], returncode=1, stderr="error: no matching snaps installed")
    runner.answer(["snap", "list", "snapd"], "Name Version Rev Tracking Publisher Notes\nsnapd 2.58 18357 - c -\n")
    runner.answer(["snap", "list", "core20"], "Name Version Rev Tracking Publisher Notes\ncore20 x 2264 - c base\n")
    ctx = make_ctx(tmp_path, runner)
    step = InstallSnapsStep(bundle, "1.32")
    assert step.is_done(ctx) is False
    step.run(ctx)
    changing = [c for c in runner.calls if c[1] in ("ack", "install")]
    assert changing == [
        ("snap", "ack", str(bundle / "snaps/snapd_21759.assert")),
        ("snap", "install", str(bundle / "snaps/snapd_21759.snap")),
        ("snap", "ack", str(bundle / "snaps/microk8s_7394.assert")),
        ("snap", "install", str(bundle / "snaps/microk8s_7394.snap"), "--classic"),
    ]


def test_snaps_missing_from_bundle(tmp_path: Path) -> None:
    """No microk8s snap: a bundle error that says what to do."""
    ctx = make_ctx(tmp_path)
    with pytest.raises(BundleError) as caught:
        InstallSnapsStep(tmp_path / "empty", "1.32").run(ctx)
    assert "install_snaps" in caught.value.hint


# --- host traps -------------------------------------------------------------------------------


ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def test_default_route_added_and_kept_by_netplan(tmp_path: Path) -> None:
    """No default route: add a link-scope one on the first interface with an address, and a netplan file."""
    runner = RecordingRunner()
    runner.answer(["ip", "-j", "-4", "addr", "show"], json.dumps([
        {"ifname": "lo", "flags": ["LOOPBACK"], "operstate": "UNKNOWN", "addr_info": [{"family": "inet"}]},
        {"ifname": "ens3", "flags": ["UP"], "operstate": "DOWN", "addr_info": [{"family": "inet"}]},
        {"ifname": "eno1", "flags": ["UP"], "operstate": "UP", "addr_info": [{"family": "inet"}]}]))
    ctx = make_ctx(tmp_path, runner)
    host_file(ctx, "/proc/net/route", ROUTE_HEADER + "eno1\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
    host_file(ctx, "/etc/netplan/00-installer-config.yaml",
              "network:\n  version: 2\n  ethernets:\n    eno1:\n      addresses: [10.0.0.5/24]\n")
    step = DefaultRouteStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    assert runner.ran("ip", "route") == [("ip", "route", "add", "default", "dev", "eno1", "scope", "link")]
    netplan = ctx.host_root / "etc/netplan/90-jupyterhub-offline-default-route.yaml"
    assert yaml.safe_load(netplan.read_text())["network"]["ethernets"]["eno1"]["routes"] == [
        {"to": "0.0.0.0/0", "scope": "link"}]
    assert netplan.stat().st_mode & 0o777 == 0o600
    assert runner.ran("netplan") == [("netplan", "generate", "--root-dir", str(ctx.host_root))]

    host_file(ctx, "/proc/net/route", ROUTE_HEADER + "eno1\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n")
    assert step.is_done(ctx) is True


def test_kubelet_folder_is_moved_aside_and_linked(tmp_path: Path) -> None:
    """A real /var/lib/kubelet is moved (never deleted), then linked to MicroK8s's kubelet folder."""
    runner = RecordingRunner()
    ctx = make_ctx(tmp_path, runner)
    (ctx.host_root / "var/lib/kubelet/pods").mkdir(parents=True)
    step = KubeletDirStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    here = str(ctx.host_root / "var/lib/kubelet")  # the path is_done checked, not this machine's
    assert runner.calls == [("mv", "-T", here, here + ".before-microk8s"), ("ln", "-s", KUBELET_TARGET, here)]

    link_host = tmp_path / "linked"
    (link_host / "var/lib").mkdir(parents=True)
    os.symlink(KUBELET_TARGET, link_host / "var/lib/kubelet")
    ctx.host_root = link_host
    assert step.is_done(ctx) is True


def test_wait_ready_failure_names_the_usual_causes(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(["microk8s", "status", "--wait-ready"], returncode=1)
    ctx = make_ctx(tmp_path, runner)
    with pytest.raises(StepFailed) as caught:
        WaitReadyStep().run(ctx)
    assert "600 s" in caught.value.message
    assert "default route" in caught.value.hint
    assert runner.calls[-1] == ("microk8s", "status", "--wait-ready", "--timeout", "600")


def test_pin_to_bundle_without_manifest_keeps_wanted() -> None:
    assert pin_to_bundle({"a": "quay.io/x/y:1"}, None, ["jupyterhub"]) == {"a": "quay.io/x/y:1"}


def test_configured_sandbox_image_reads_the_installed_template(tmp_path: Path) -> None:
    """containerd config v2 (``sandbox_image``) and v3 (``sandbox``); nothing without MicroK8s."""
    from installer.components.microk8s.sandbox import CONTAINERD_TEMPLATE, configured_sandbox_image

    assert configured_sandbox_image(tmp_path) is None
    template = tmp_path / CONTAINERD_TEMPLATE.relative_to("/")
    template.parent.mkdir(parents=True)
    template.write_text('[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10"\n')
    assert configured_sandbox_image(tmp_path) == ("registry.k8s.io/pause:3.10", CONTAINERD_TEMPLATE)
    template.write_text("[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'pause:3.10.1'\n")
    found = configured_sandbox_image(tmp_path)
    assert found is not None and found.ref == "docker.io/library/pause:3.10.1"
    template.write_text("version = 2\n")
    assert configured_sandbox_image(tmp_path) is None
    template.write_text('sandbox_image = "${SANDBOX_IMAGE}"\n')
    assert configured_sandbox_image(tmp_path) is None


def test_kubelet_link_is_made_under_the_host_root_it_checks(tmp_path: Path) -> None:
    """Run for real on a copied tree: the stale link there is replaced, nothing outside the tree is touched."""
    from installer.engine.commands import RealRunner

    sink = CollectingSink()
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink, profile=Profile(),
                      state_dir=tmp_path / "state", host_root=tmp_path / "host")
    (ctx.host_root / "var/lib").mkdir(parents=True)
    os.symlink("/var/lib/kubelet-old", ctx.host_root / "var/lib/kubelet")
    step = KubeletDirStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    assert os.readlink(ctx.host_root / "var/lib/kubelet") == KUBELET_TARGET
    assert step.is_done(ctx) is True


def route_ctx(tmp_path: Path, interface: str, netplan: dict[str, str], runner: RecordingRunner | None = None,
              ) -> tuple[StepContext, RecordingRunner]:
    """A host without a default route whose only addressed interface is ``interface``, with these netplan files."""
    runner = runner or RecordingRunner()
    runner.answer(["ip", "-j", "-4", "addr", "show"], json.dumps([
        {"ifname": interface, "flags": ["UP"], "operstate": "UP", "addr_info": [{"family": "inet"}]}]))
    ctx = make_ctx(tmp_path, runner)
    host_file(ctx, "/proc/net/route", ROUTE_HEADER)
    (ctx.host_root / "etc/netplan").mkdir(parents=True)
    for path, text in netplan.items():
        host_file(ctx, path, text)
    return ctx, runner


def route_file(ctx: StepContext) -> Any:
    path = ctx.host_root / "etc/netplan/90-jupyterhub-offline-default-route.yaml"
    return yaml.safe_load(path.read_text())["network"] if path.exists() else None


ROUTE = {"routes": [{"to": "0.0.0.0/0", "scope": "link"}]}


@pytest.mark.parametrize(("interface", "config", "kind", "netdef_id"), [
    ("bond0", ("network:\n  version: 2\n  ethernets: {eno1: {}, eno2: {}}\n"
              "  bonds:\n    bond0:\n      interfaces: [eno1, eno2]\n      addresses: [10.0.0.5/24]\n"), "bonds", "bond0"),
    ("br0", ("network:\n  version: 2\n  ethernets: {eno1: {}}\n"
            "  bridges:\n    br0:\n      interfaces: [eno1]\n      addresses: [10.0.0.5/24]\n"), "bridges", "br0"),
    ("vlan10", ("network:\n  version: 2\n  ethernets: {eno1: {}}\n"
               "  vlans:\n    vlan10: {id: 10, link: eno1, addresses: [10.0.0.5/24]}\n"), "vlans", "vlan10"),
    ("lan0", ("network:\n  version: 2\n  ethernets:\n    uplink:\n      match: {macaddress: 'AA:BB:CC:00:11:22'}\n"
             "      set-name: lan0\n      addresses: [10.0.0.5/24]\n"), "ethernets", "uplink"),
    ("enp1s0", ("network:\n  version: 2\n  ethernets:\n    id0:\n      match: {name: 'enp*'}\n"
               "      addresses: [10.0.0.5/24]\n"), "ethernets", "id0"),
], ids=["bond", "bridge", "vlan", "match-set-name", "match-name-glob"])
def test_route_goes_under_the_definition_that_owns_the_interface(tmp_path: Path, interface: str, config: str,
                                                                  kind: str, netdef_id: str) -> None:
    """A bond, bridge, VLAN or match:-ed NIC gets the route under its own kind and ID (ethernets.bond0 would
    change the device's type and make netplan refuse the whole configuration)."""
    ctx, runner = route_ctx(tmp_path, interface, {"/etc/netplan/50-cloud-init.yaml": config})
    DefaultRouteStep().run(ctx)
    assert route_file(ctx) == {"version": 2, kind: {netdef_id: ROUTE}}
    assert runner.ran("netplan", "generate")


def test_match_by_mac_without_set_name_reads_the_interfaces_address(tmp_path: Path) -> None:
    config = ("network:\n  version: 2\n  ethernets:\n    nic:\n      match: {macaddress: 'aa:bb:cc:00:11:22'}\n"
              "      addresses: [10.0.0.5/24]\n    other:\n      match: {macaddress: 'aa:bb:cc:00:11:99'}\n")
    ctx, _ = route_ctx(tmp_path, "eno1", {"/etc/netplan/50-cloud-init.yaml": config})
    host_file(ctx, "/sys/class/net/eno1/address", "aa:bb:cc:00:11:22\n")
    DefaultRouteStep().run(ctx)
    assert route_file(ctx) == {"version": 2, "ethernets": {"nic": ROUTE}}


def test_netplan_rejecting_the_file_removes_it_and_says_so(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(["netplan", "generate"], returncode=1,
                  stderr="/etc/netplan/90-jupyterhub-offline-default-route.yaml: Error in network definition\n")
    ctx, _ = route_ctx(tmp_path, "eno1", {"/etc/netplan/00-installer-config.yaml":
                                          "network:\n  ethernets:\n    eno1: {dhcp4: false}\n"}, runner)
    DefaultRouteStep().run(ctx)
    assert route_file(ctx) is None
    warnings = [e.message for e in ctx.sink.events if getattr(e, "level", "") == "warning"]
    assert any("netplan rejected" in w and "removed" in w and "lost at reboot" in w for w in warnings)
    assert runner.ran("ip", "route")  # the live route stays


def test_interface_not_in_netplan_gets_no_file(tmp_path: Path) -> None:
    """Configured elsewhere (NetworkManager, ifupdown): a netplan ethernets entry would take it over."""
    ctx, runner = route_ctx(tmp_path, "eno1", {"/etc/netplan/01-network-manager-all.yaml":
                                               "network:\n  version: 2\n  renderer: NetworkManager\n"})
    DefaultRouteStep().run(ctx)
    assert route_file(ctx) is None
    assert not runner.ran("netplan")
    warnings = [e.message for e in ctx.sink.events if getattr(e, "level", "") == "warning"]
    assert any("no netplan definition configures eno1" in w for w in warnings)
