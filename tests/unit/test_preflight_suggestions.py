"""Suggestions follow the hardware."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehost import a100_mig, eight_h100, gpus_without_driver, no_gpu, roce_port, two_ib_ports

from installer.components.gpu_operator.component import suggest_gpu_operator
from installer.components.rdma.component import rdma_selectors, suggest_rdma
from installer.components.rdma.settings import RdmaSettings
from installer.engine.commands import RecordingRunner
from installer.preflight.suggestions import suggest
from installer.probes import HostFacts, probe_host


def _facts(root: Path) -> HostFacts:
    return probe_host(RecordingRunner(strict=True), root)


def test_nothing_suggested_on_a_plain_server(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    assert [(s.component, s.suggested) for s in suggest(_facts(tmp_path))] == [("gpu_operator", False),
                                                                              ("rdma", False)]


def test_gpu_with_host_driver_suggests_operator_using_it(tmp_path: Path) -> None:
    eight_h100(tmp_path)
    suggestion = suggest_gpu_operator(_facts(tmp_path))
    assert suggestion.suggested
    assert suggestion.settings == {"enabled": True, "driver": "host"}
    assert "8 x NVIDIA H100 80GB HBM3" in suggestion.reason and "550.54.15" in suggestion.reason


def test_gpu_without_driver_suggests_the_operator_driver(tmp_path: Path) -> None:
    gpus_without_driver(tmp_path)
    suggestion = suggest_gpu_operator(_facts(tmp_path))
    assert suggestion.settings == {"enabled": True, "driver": "operator"}


def test_mig_gpu_suggests_a_mig_strategy(tmp_path: Path) -> None:
    a100_mig(tmp_path)
    assert suggest_gpu_operator(_facts(tmp_path)).settings["mig_strategy"] == "single"


def test_rdma_selectors_from_the_active_infiniband_port_only(tmp_path: Path) -> None:
    two_ib_ports(tmp_path)
    suggestion = suggest_rdma(_facts(tmp_path))
    assert suggestion.suggested
    assert suggestion.settings == {"enabled": True}
    assert suggestion.selectors == {"vendors": ["15b3"], "deviceIDs": ["1021"], "drivers": ["mlx5_core"],
                                    "ifNames": ["ib0"], "linkTypes": ["infiniband"]}
    assert "mlx5_0/1 ACTIVE 400 Gb/s InfiniBand (ib0)" in suggestion.reason
    RdmaSettings.model_validate(suggestion.settings)  # the settings are valid profile keys


def test_rdma_selectors_for_roce(tmp_path: Path) -> None:
    roce_port(tmp_path)
    selectors = suggest_rdma(_facts(tmp_path)).selectors
    assert selectors["linkTypes"] == ["ether"]
    assert selectors["ifNames"] == ["ens1f0np0"]
    assert selectors["deviceIDs"] == ["101d"]


@pytest.mark.parametrize("make", ["two_ib_ports", "roce_port", "ib_without_netdev", "mixed"])
def test_suggested_selectors_follow_the_plugins_own_rules(tmp_path: Path, make: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """One owner (rdma.manifests): what preflight shows for ifNames/linkTypes is what the plugin's config gets,
    netdev rule and link-type names included (a changed name there shows here too)."""
    import fakehost

    from installer.components.rdma import manifests

    monkeypatch.setattr(manifests, "LINK_TYPES", {"InfiniBand": "ib-renamed", "Ethernet": "ether-renamed"})
    if make == "mixed":  # ib0 has a netdev, mlx5_2 none
        fakehost.two_ib_ports(tmp_path).ib_device("mlx5_2", "0000:1b:00.0", [fakehost.IB_ACTIVE_NDR])
    elif make == "ib_without_netdev":  # ib_ipoib not loaded
        fakehost.base_host(tmp_path).ib_device("mlx5_0", "0000:1a:00.0", [fakehost.IB_ACTIVE_NDR])
    else:
        getattr(fakehost, make)(tmp_path)
    ports = _facts(tmp_path).infiniband
    shown = suggest_rdma(_facts(tmp_path)).selectors
    written = manifests.selectors(RdmaSettings(enabled=True), ports)
    for key in ("ifNames", "linkTypes"):
        assert shown.get(key) == written.get(key), key
    assert written.get("linkTypes") in (None, ["ib-renamed"], ["ether-renamed"])
    assert (make in ("ib_without_netdev", "mixed")) == ("linkTypes" not in shown)


def test_no_active_port_means_no_rdma_and_empty_selectors(tmp_path: Path) -> None:
    two_ib_ports(tmp_path)
    down = tuple(p for p in _facts(tmp_path).infiniband if not p.active)
    assert rdma_selectors(down) == {}
