"""What the check needs of the cluster besides the hub's API: a way to the hub, and removing the test user's volumes.

The hub is reached through ``microk8s kubectl port-forward service/proxy-public`` on
loopback: that works for a NodePort and a ClusterIP hub alike and from the node itself,
and the forward ends with the check. The test user's home volumes are found by
KubeSpawner's label ``hub.jupyter.org/username`` (kubespawner 7.1.0 ``_build_common_labels``,
put on every PVC it makes by ``get_pvc_manifest``; z2jh 4.2.0 leaves ``pvcNameTemplate``
empty, so KubeSpawner's ``claim-{user_server}`` names them, one per named server).
KubeSpawner deletes a named server's PVC itself when the server is removed
(``delete_pvc``, default True, in ``delete_forever``); the check deletes what is left
anyway (``delete_pvc`` off, a hub that failed to, a crashed earlier run) and says what it could not.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from installer.components.kube import KUBECTL
from installer.engine.commands import CommandRunner
from installer.errors import StepFailed

FORWARD_TIMEOUT: Final = 30.0
USER_LABEL: Final = "hub.jupyter.org/username"
_FORWARDING: Final = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


@contextlib.contextmanager
def hub_forward(runner: CommandRunner, namespace: str, log: Path) -> Iterator[str]:
    """The hub's URL on a loopback port forwarded to ``proxy-public`` while the block runs.

    Raises:
        StepFailed: the forward did not start (the hub's proxy is not running, no API).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    daemon = runner.daemon([*KUBECTL, "port-forward", "-n", namespace, "service/proxy-public",
                            "--address=127.0.0.1", ":80"], log)
    try:
        daemon.start()
    except OSError as error:
        raise StepFailed(f"could not start microk8s kubectl port-forward: {error.strerror or error}",
                         "is MicroK8s installed (microk8s on PATH)?") from None
    try:
        deadline = time.monotonic() + FORWARD_TIMEOUT
        while True:
            found = _FORWARDING.search(daemon.log_tail(4000))
            if found:
                break
            if not daemon.running or time.monotonic() > deadline:
                raise StepFailed(f"could not reach the hub through microk8s kubectl port-forward: "
                                 f"{daemon.log_tail() or 'no answer'}",
                                 f"see `microk8s kubectl -n {namespace} get pods`: the proxy pod must run")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{found.group(1)}/"
    finally:
        daemon.stop()


def remove_volumes(runner: CommandRunner, namespace: str, user: str) -> list[str]:
    """Delete the test user's PVCs; the ones still there afterwards (named, for the report)."""
    selector = f"{USER_LABEL}={user}"
    runner.run([*KUBECTL, "delete", "pvc", "-n", namespace, "-l", selector, "--ignore-not-found"],
               timeout=120, check=False)
    left = runner.run([*KUBECTL, "get", "pvc", "-n", namespace, "-l", selector, "-o", "name"],
                      timeout=60, check=False, mutates=False)
    if not left.ok:
        return [f"volumes of {user} (could not list them: {left.stderr.strip() or 'no answer'})"]
    return [f"volume {line.strip()}" for line in left.stdout.splitlines() if line.strip()
            and line.strip() != "NAME"]
