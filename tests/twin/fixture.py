"""The ``twin`` pytest fixture: a fresh host tree, the twin's state folder, its bin first on PATH.

The twin itself ships in installer/demo/twin (the demo runs it too); the fixture gives it
the test fixtures' containerd and the real helm from the test-only wheel.

Imported by tests/conftest.py, so every test can ask for ``twin``. The real containerd
of the session (emptied) is the twin's image store; the real helm from the wheel renders.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakehost import FakeHost, base_host
from helmbin import HelmUnavailable, helm_binary

from installer.demo.twin import BIN, twin_env
from installer.demo.twin.state import Config, Store

TIME_SCALE = 0.01
"""Twin seconds per real second: a 600 s --wait-ready timeout takes 6 s."""


@dataclass
class Twin:
    """A running twin: its config, state and the fake host it acts on."""

    config: Config
    host: FakeHost
    containerd: Any

    @property
    def store(self) -> Store:
        """The state file."""
        return Store(self.config)

    def state(self) -> dict[str, Any]:
        """The cluster's state now."""
        return self.store.read()

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a twin executable (``microk8s``, ``snap``...) as the installer would."""
        return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                              timeout=timeout, check=False, env=self.env())

    def env(self) -> dict[str, str]:
        """The environment a child needs to find the twin."""
        return {**os.environ, **twin_env(self.config)}

    def configure(self, **changes: Any) -> None:
        """Change the config (``fs_type``, ``helm_delay``...) for the next commands."""
        data = {**self.config.__dict__, **changes}
        self.config = Config(**data)
        self.config.save()


def make_twin(tmp_path: Path, containerd: Any, host: Callable[[Path], FakeHost] = base_host, **config: Any) -> Twin:
    """A twin on a fresh Ubuntu host tree (default route, a DNS server) with MicroK8s not installed.

    ``host`` builds the tree (a fakehost scenario: ``eight_h100``, ``gpu_and_infiniband``...).
    """
    try:
        helm = str(helm_binary())
    except HelmUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the twin tests: {exc}", pytrace=False)
        pytest.skip(str(exc))
    host = host(tmp_path / "host").write("/etc/resolv.conf", "nameserver 10.0.0.2\n").mkdir("/etc/netplan")
    settings = {"state_dir": tmp_path / "twin", "host_root": host.root, "containerd_socket": containerd.socket,
                "namespace": containerd.namespace, "helm": helm, "time_scale": TIME_SCALE, **config}
    twin_config = Config(**settings)
    twin_config.save()
    return Twin(twin_config, host, containerd)


@pytest.fixture
def twin(tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twin]:
    """A fresh twin whose executables the installer's RealRunner finds first on PATH."""
    made = make_twin(tmp_path, clean_containerd)
    use_twin(monkeypatch, made)
    yield made


def use_twin(monkeypatch: pytest.MonkeyPatch, made: Twin) -> None:
    """Put the twin's executables first on this process's PATH (the installer's RealRunner inherits it)."""
    for name, value in twin_env(made.config).items():
        monkeypatch.setenv(name, value)
