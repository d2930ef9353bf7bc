"""The MicroK8s twin: executables ``microk8s``, ``snap``, ``netplan`` and ``ip`` that behave as upstream does.

The installer's real command runner runs them (``tests/twin/bin`` first on PATH), so the
install steps meet the same answers, exit codes and failures they would meet on a real
server. Their state is a folder named by ``MICROK8S_TWIN_STATE``; the image store is the
REAL containerd of the test fixtures, so what the installer imported is what the twin sees.
Every rule cites the upstream source it comes from (see also docs/upstream-facts.md).

Modules: :mod:`twin.state` (config, state file, host files), :mod:`twin.images`
(containerd), :mod:`twin.cluster` (node, pods, addons, kubectl), :mod:`twin.helm`
(releases, rendering with a real helm), :mod:`twin.cli` (the executables' entry points).
"""
