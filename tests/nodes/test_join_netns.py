"""A worker joins over the LAN: two namespaces, the member's bundle server, the node's fetch and import.

Real TCP between the namespaces, a real containerd on each host, the product's CLI as processes
(``add-node`` in the member's namespace, ``join`` in the node's); MicroK8s's add-node/join are the
twin's (tokens checked as the cluster agent does).
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from nodes.conftest import MEMBER_IP, REPO, Hosts, make_hosts

from installer.bundle.imageref import normalize_ref
from installer.bundle.manifest import load_manifest
from installer.bundle.requirements import chosen_components, component_needs

pytestmark = [pytest.mark.containerd]

ALWAYS_RUN = {"preflight", "nodes.manifest", "nodes.ready"}


def steps(out: str) -> dict[str, str]:
    """step id -> status, from the join's JSON lines."""
    found = {}
    for line in out.splitlines():
        event = json.loads(line)
        if event.get("event") == "step_finished":
            found[event["step_id"]] = event["status"]
    return found


def needed_refs(hosts: Hosts) -> set[str]:
    return {normalize_ref(r) for c in chosen_components(hosts.profile)
            for r in component_needs(hosts.profile, c).images}


def pinned(hosts: Hosts) -> set[str]:
    out = hosts.node.containerd.ctr("images", "ls").stdout.splitlines()[1:]
    return {line.split()[0] for line in out if "io.cri-containerd.pinned=pinned" in line}


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_worker_joins_with_the_printed_command_and_a_rerun_changes_nothing(hosts: Hosts) -> None:
    """The Done-when of issue 16: exactly the role's images, pinned; Ready and labelled on the member; idempotent."""
    server, printed = hosts.add_node()
    try:
        command = shlex.split(printed["join_command"])
        assert command[:3] == ["sudo", "./install.sh", "join"] and "--worker" in command
        assert command[command.index("--profile") + 1] == str(hosts.profile_path)
        connection = command[3]
        url, sha = command[command.index("--bundle-from") + 1], command[command.index("--manifest-sha256") + 1]
        assert connection.startswith(f"{MEMBER_IP}:25000/") and url.startswith(f"http://{MEMBER_IP}:")
        done = hosts.join(connection, url, sha)
        assert done.returncode == 0, done.stderr[-1500:]
        images = set(hosts.node.containerd.images())
        assert images == needed_refs(hosts), images ^ needed_refs(hosts)
        assert pinned(hosts) == images
        listed = hosts.member.run("microk8s", "kubectl", "get", "nodes", "-o", "json")
        name = hosts.node.config.node_name
        node = next(n for n in json.loads(listed.stdout)["items"] if n["metadata"]["name"] == name)
        assert node["status"]["conditions"][0]["status"] == "True"
        assert node["metadata"]["labels"]["jupyterhub-offline-installer/role"] == "worker"
        assert node["metadata"]["labels"]["node.kubernetes.io/microk8s-worker"] == "microk8s-worker"
        token = printed["connection"].split("/")[1]
        assert token not in done.stdout + done.stderr + (hosts.tmp / "join.log").read_text()
        assert not list((hosts.tmp / "node-state" / "join-spool" / "images").glob("*")), "fetched archives stay"

        again = hosts.join(connection, url, sha)
        assert again.returncode == 0, (again.stdout[-3000:], again.stderr[-3000:])
        ran = {s for s, status in steps(again.stdout).items() if status != "skipped"}
        assert ran == ALWAYS_RUN, steps(again.stdout)
        assert set(hosts.node.containerd.images()) == images
        # the installer itself, as the printed curl line fetches it, matches the printed sha256
        code = ("import hashlib,urllib.request;print(hashlib.sha256(urllib.request.urlopen("
                f"{printed['bundle_url']!r}+'/install.tar').read()).hexdigest())")
        assert hosts.run_in_node_ns(code).strip() in printed["fetch_installer"]
    finally:
        stop(server)


def test_wrong_token_is_refused_and_joins_nothing(hosts: Hosts) -> None:
    server, printed = hosts.add_node()
    try:
        address, _, check = printed["connection"].split("/")
        wrong = f"{address}/{'f' * 32}/{check}"
        done = hosts.join(wrong, printed["bundle_url"], printed["manifest_sha256"])
        assert done.returncode == 1, done.stderr
        assert "invalid token" in done.stderr
        assert "f" * 32 not in done.stdout + done.stderr
        assert not hosts.member.state().get("joined")
    finally:
        stop(server)


def test_manifest_hash_mismatch_fetches_and_changes_nothing(hosts: Hosts) -> None:
    server, printed = hosts.add_node()
    try:
        done = hosts.join(printed["connection"], printed["bundle_url"], "0" * 64)
        assert done.returncode == 2, done.stderr
        assert "not the " + "0" * 64 in done.stderr
        assert hosts.node.containerd.images() == []
        assert "microk8s" not in hosts.node.state()["snaps"]
    finally:
        stop(server)


def test_bundle_server_serves_nothing_outside_the_bundle_then_stops(hosts: Hosts) -> None:
    """``../``, absolute paths, unlisted links and a listed file swapped for a link: 404; writes: 405."""
    (hosts.bundle / "images" / "evil.tar").symlink_to("/etc/passwd")
    server, printed = hosts.add_node("--minutes", "0.25")
    try:
        listed = load_manifest(hosts.bundle / "manifest.yaml").images()[0][1].file
        victim = hosts.bundle / listed
        victim.unlink()
        victim.symlink_to("/etc/passwd")
        host, port = printed["bundle_url"].removeprefix("http://").split(":")
        paths = ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "/images/evil.tar",
                 f"/{listed}", "/images/../manifest.yaml", "/.git/config"]
        code = ("import http.client,json;out={}\n"
                f"for p in {paths!r}:\n"
                f"    c=http.client.HTTPConnection({host!r},{port});c.request('GET',p);r=c.getresponse()\n"
                "    out[p]=[r.status,len(r.read())]\n"
                f"c=http.client.HTTPConnection({host!r},{port});c.request('PUT','/manifest.yaml',body=b'x')\n"
                "out['PUT']=[c.getresponse().status,0]\n"
                f"c=http.client.HTTPConnection({host!r},{port});c.request('GET','/manifest.yaml')\n"
                "out['manifest']=[c.getresponse().status,0]\n"
                "print(json.dumps(out))")
        answers = json.loads(hosts.run_in_node_ns(code))
        assert answers.pop("manifest")[0] == 200
        assert answers.pop("PUT")[0] == 405
        assert all(status == 404 and size == 0 for status, size in answers.values()), answers
        assert server.wait(timeout=120) == 0, "the server did not stop by itself after its time"
        refused = hosts.run_in_node_ns(
            f"import socket\ntry:\n    socket.create_connection(({host!r},{port}),timeout=10);print('open')\n"
            "except OSError:\n    print('closed')")
        assert refused.strip() == "closed"
    finally:
        stop(server)


def _faulty_server(hosts: Hosts, port: int, *fault: str) -> subprocess.Popen[str]:
    argv = hosts.in_ns(hosts.member_ns, [sys.executable, str(Path(__file__).parent / "serve_child.py"),
                                         str(hosts.bundle), MEMBER_IP, str(port), str(hosts.tmp / "serve.log"), *fault])
    proc = subprocess.Popen(argv, cwd=REPO, env=hosts.env(hosts.member), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert "serving" in proc.stdout.readline()
    return proc


def _node_image_file(hosts: Hosts) -> tuple[str, int]:
    manifest = load_manifest(hosts.bundle / "manifest.yaml")
    entry = max((e for _, e in manifest.images()), key=lambda e: e.size)
    return entry.file, entry.size


def test_cut_transfer_resumes_with_range(hosts: Hosts) -> None:
    """The member dies mid-file: the join fails keeping the bytes; the next run asks only for the rest."""
    from tests.faults.support import wait_for

    server, printed = hosts.add_node()  # the token and the address, from the real add-node
    stop(server)
    name, size = _node_image_file(hosts)
    cut = size // 2
    port = 25181
    faulty = _faulty_server(hosts, port, "--stall", name, str(cut))
    url = f"http://{MEMBER_IP}:{port}"
    part = hosts.tmp / "node-state" / "join-spool" / (name + ".part")
    try:
        argv_done: dict[str, Any] = {}

        def run_join() -> None:
            argv_done["result"] = hosts.join(printed["connection"], url, printed["manifest_sha256"])

        worker = threading.Thread(target=run_join)
        worker.start()
        wait_for(lambda: part.exists() and part.stat().st_size == cut, "half the archive to arrive", timeout=120)
        faulty.kill()
        faulty.wait()
        worker.join(timeout=300)
        first = argv_done["result"]
        assert first.returncode == 1, first.stderr
        assert f"{cut} of {size} bytes" in first.stderr and "resumes" in first.stderr
        assert part.stat().st_size == cut
        faulty = _faulty_server(hosts, port)
        second = hosts.join(printed["connection"], url, printed["manifest_sha256"])
        assert second.returncode == 0, (second.stdout[-3000:], second.stderr[-3000:])
        assert f"GET {name} range=bytes={cut}-" in (hosts.tmp / "serve.log").read_text()
        assert set(hosts.node.containerd.images()) == needed_refs(hosts)
    finally:
        faulty.kill()
        faulty.wait()


def test_a_byte_flipped_on_the_way_is_caught(hosts: Hosts) -> None:
    server, printed = hosts.add_node()
    stop(server)
    name, size = _node_image_file(hosts)
    port = 25182
    faulty = _faulty_server(hosts, port, "--flip", name, str(size // 3))
    try:
        done = hosts.join(printed["connection"], f"http://{MEMBER_IP}:{port}", printed["manifest_sha256"])
        assert done.returncode == 2, done.stderr
        assert f"{name} from http://{MEMBER_IP}:{port} does not match the manifest" in done.stderr
        manifest = load_manifest(hosts.bundle / "manifest.yaml")
        refs = {normalize_ref(r) for _, e in manifest.images() if e.file == name for r in e.all_refs()}
        assert not refs & set(hosts.node.containerd.images())
        assert not hosts.member.state().get("joined")
    finally:
        faulty.kill()
        faulty.wait()


@pytest.fixture
def lacking(tmp_path: Path, clean_containerd: Any, node_containerd: Any) -> Any:
    """A bundle without one of the hub's images (the member's own manifest is consistent)."""
    from installer.config.profile import Profile

    ref = next(r for r in component_needs(Profile(), "jupyterhub").images if "k8s-hub" in r)
    for made in make_hosts(tmp_path, clean_containerd, node_containerd, leave_out=(normalize_ref(ref),)):
        yield made, normalize_ref(ref)


def test_node_needing_images_the_bundle_lacks_is_refused_before_anything_changes(lacking: Any) -> None:
    hosts, ref = lacking
    server, printed = hosts.add_node()
    try:
        done = hosts.join(printed["connection"], printed["bundle_url"], printed["manifest_sha256"])
        assert done.returncode == 2, done.stderr
        assert ref in done.stderr and "Nothing was changed" in done.stderr
        assert hosts.node.containerd.images() == []
        assert "microk8s" not in hosts.node.state()["snaps"]
        assert not hosts.member.state().get("joined")
    finally:
        stop(server)
