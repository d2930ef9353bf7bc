"""InfiniBand / RoCE probe over fake /sys/class/infiniband trees."""

from __future__ import annotations

from pathlib import Path

from fakehost import IB_ACTIVE_NDR, IB_DOWN, base_host, no_gpu, roce_port, two_ib_ports

from installer.probes.hostfs import HostFS
from installer.probes.infiniband import parse_rate, parse_state, probe_infiniband
from installer.probes.model import IbPort


def test_two_ports_one_active_at_400_and_one_down(tmp_path: Path) -> None:
    two_ib_ports(tmp_path)
    ports = probe_infiniband(HostFS(tmp_path))
    assert ports == (
        IbPort(device="mlx5_0", port=1, state="ACTIVE", phys_state="LinkUp", rate_gbps=400.0,
               link_layer="InfiniBand", netdevs=("ib0",), vendor_id="15b3", device_id="1021", driver="mlx5_core"),
        IbPort(device="mlx5_1", port=1, state="DOWN", phys_state="Polling", rate_gbps=10.0,
               link_layer="InfiniBand", netdevs=("ib1",), vendor_id="15b3", device_id="1021", driver="mlx5_core"),
    )
    assert [p.active for p in ports] == [True, False]


def test_roce_port_has_ethernet_link_layer(tmp_path: Path) -> None:
    roce_port(tmp_path)
    (port,) = probe_infiniband(HostFS(tmp_path))
    assert (port.link_layer, port.netdevs, port.device_id, port.rate_gbps, port.active) == (
        "Ethernet", ("ens1f0np0",), "101d", 100.0, True)


def test_no_infiniband(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    assert probe_infiniband(HostFS(tmp_path)) == ()


def test_dual_port_card_maps_netdevs_by_dev_port(tmp_path: Path) -> None:
    host = base_host(tmp_path)
    host.ib_device("mlx4_0", "0000:04:00.0", [IB_ACTIVE_NDR, IB_DOWN], device_id="1003", driver="mlx4_core",
                   netdevs={"ib0": 0, "ib1": 1})
    ports = probe_infiniband(HostFS(tmp_path))
    assert [(p.port, p.netdevs, p.active) for p in ports] == [(1, ("ib0",), True), (2, ("ib1",), False)]


def test_port_with_armed_state_is_not_active(tmp_path: Path) -> None:
    host = base_host(tmp_path)
    armed = {**IB_ACTIVE_NDR, "state": "3: ARMED"}
    host.ib_device("mlx5_0", "0000:1a:00.0", [armed], netdevs={"ib0": None})
    (port,) = probe_infiniband(HostFS(tmp_path))
    assert (port.state, port.active, port.netdevs) == ("ARMED", False, ("ib0",))


def test_parsers() -> None:
    assert parse_state("4: ACTIVE") == "ACTIVE"
    assert parse_state("5: LinkUp") == "LinkUp"
    assert parse_state(None) == "UNKNOWN"
    assert parse_rate("400 Gb/sec (4X NDR)") == 400.0
    assert parse_rate("2.5 Gb/sec (1X SDR)") == 2.5
    assert parse_rate("invalid") is None
