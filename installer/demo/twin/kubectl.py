"""``microk8s kubectl`` of the twin: the verbs the install steps use, answered from the twin's cluster."""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.parse
from typing import Any

import yaml

from installer.demo.twin import cluster, images
from installer.demo.twin.state import Config, Store

ALIASES = {"no": "Node", "node": "Node", "nodes": "Node", "po": "Pod", "pod": "Pod", "pods": "Pod",
           "cm": "ConfigMap", "configmap": "ConfigMap", "configmaps": "ConfigMap",
           "ds": "DaemonSet", "daemonset": "DaemonSet", "daemonsets": "DaemonSet",
           "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
           "svc": "Service", "service": "Service", "services": "Service",
           "pvc": "PersistentVolumeClaim", "persistentvolumeclaim": "PersistentVolumeClaim",
           "sc": "StorageClass", "storageclass": "StorageClass", "ns": "Namespace", "namespace": "Namespace",
           "namespaces": "Namespace", "clusterpolicy": "ClusterPolicy", "clusterpolicies": "ClusterPolicy",
           "crd": "CustomResourceDefinition", "crds": "CustomResourceDefinition", "secret": "Secret",
           "secrets": "Secret"}
PLURAL = {"DaemonSet": "daemonsets.apps", "Deployment": "deployments.apps", "ConfigMap": "configmaps",
          "Service": "services", "Pod": "pods", "Namespace": "namespaces", "Node": "nodes"}


class Args:
    """kubectl's global flags and the rest."""

    def __init__(self, argv: list[str]) -> None:
        self.namespace: str | None = None
        self.all_namespaces = False
        self.output = ""
        self.files: list[str] = []
        self.timeout = 0.0
        self.raw: str | None = None
        self.selector: dict[str, str] = {}
        self.address = "127.0.0.1"
        self.rest: list[str] = []
        self.ignore_not_found = "--ignore-not-found" in argv or "--ignore-not-found=true" in argv
        it = iter(argv)
        for arg in it:
            if arg in ("-n", "--namespace"):
                self.namespace = next(it)
            elif arg.startswith("--namespace="):
                self.namespace = arg.split("=", 1)[1]
            elif arg in ("-A", "--all-namespaces"):
                self.all_namespaces = True
            elif arg in ("-o", "--output"):
                self.output = next(it)
            elif arg.startswith(("-o=", "--output=")):
                self.output = arg.split("=", 1)[1]
            elif arg == "-f":
                self.files.append(next(it))
            elif arg.startswith("--filename="):
                self.files.append(arg.split("=", 1)[1])
            elif arg.startswith("--timeout="):
                self.timeout = _seconds(arg.split("=", 1)[1])
            elif arg == "--raw":
                self.raw = next(it)
            elif arg in ("-l", "--selector") or arg.startswith("--selector="):
                text = next(it) if "=" not in arg else arg.split("=", 1)[1]
                self.selector = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
            elif arg.startswith("--address="):
                self.address = arg.split("=", 1)[1]
            elif arg.startswith("-"):
                continue  # --wait, --ignore-not-found...: accepted
            else:
                self.rest.append(arg)


def _seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s)?", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "": 1}[unit]
    return total


def main(config: Config, argv: list[str]) -> int:
    """``microk8s kubectl ARGS``."""
    store = Store(config)
    with store.edit() as state:
        if not cluster.api_up(config, state):
            print(cluster.API_REFUSED, file=sys.stderr)
            return 1
        cluster.reconcile(config, state)
    args = Args(argv)
    verb = args.rest[0] if args.rest else ""
    if verb == "version":
        return version(config)
    if verb == "get" and args.raw is not None:
        return raw(config, store.read(), args.raw)
    if verb == "get":
        return get(config, store.read(), args)
    if verb in ("apply", "replace"):
        return apply(store, args)
    if verb == "delete":
        return delete(store, args)
    if verb == "rollout" and args.rest[1:2] == ["restart"]:
        return rollout_restart(store, args)
    if verb == "rollout" and args.rest[1:2] == ["status"]:
        return rollout_status(config, store, args)
    if verb == "patch":
        return patch(store, args, argv)
    if verb == "port-forward":
        from installer.demo.twin.hub import port_forward

        target = args.rest[1] if len(args.rest) > 1 else ""
        return port_forward(config, args.namespace or "default", target.split("/", 1)[-1], args.address)
    if verb in ("exec", "run"):
        return run_in_pod(config, store.read(), args, argv)
    if verb == "label" and args.rest[1:2] in (["node"], ["nodes"], ["no"]):
        return label_node(config, store, args.rest[2:], overwrite="--overwrite" in argv)
    if verb == "create" and args.rest[1:2] in (["namespace"], ["ns"]):
        with store.edit() as state:
            cluster.put(state, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args.rest[2]}})
        print(f"namespace/{args.rest[2]} created")
        return 0
    print(f"twin: kubectl {' '.join(argv)} is not modelled (add it to installer/demo/twin/kubectl.py, citing upstream)",
          file=sys.stderr)
    return 1


def version(config: Config) -> int:
    """``kubectl version -o json``: the API server's ``serverVersion.gitVersion`` (the patch level is the twin's)."""
    server = {"major": "1", "minor": config.channel.split(".")[1], "gitVersion": f"v{config.channel}.3"}
    print(json.dumps({"clientVersion": server, "serverVersion": server}, indent=1))
    return 0


def _emit(items: list[dict[str, Any]], output: str, single: bool) -> None:
    if output == "json":
        print(json.dumps(items[0] if single else {"apiVersion": "v1", "kind": "List", "items": items}, indent=1))
    elif output == "yaml":
        print(yaml.safe_dump(items[0] if single else {"apiVersion": "v1", "kind": "List", "items": items}))
    elif output.startswith("jsonpath="):
        path = output.split("=", 1)[1].strip("{}").lstrip(".").split(".")
        value: Any = items[0] if single else items
        for part in path:
            value = value.get(part, "") if isinstance(value, dict) else ""
        print(value, end="")
    elif output == "name":
        for item in items:
            print(f"{item['kind'].lower()}/{item['metadata']['name']}")
    else:
        print("NAME")
        for item in items:
            print(item["metadata"]["name"])


def get(config: Config, state: dict[str, Any], args: Args) -> int:
    """``kubectl get KIND [NAME]``."""
    what = args.rest[1] if len(args.rest) > 1 else ""
    name = args.rest[2] if len(args.rest) > 2 else None
    if "/" in what:
        what, name = what.split("/", 1)
    if what == "all":
        for row in cluster.get_all_lines(config, state):
            print(f"{row}   1/1   Running")
        return 0
    kind = ALIASES.get(what.lower())
    if kind is None:
        print(f'error: the server doesn\'t have a resource type "{what}"', file=sys.stderr)
        return 1
    namespace = None if args.all_namespaces else (args.namespace or "default")
    if kind == "Node":
        from installer.demo.twin.nodes import joined_json

        items = [cluster.node_json(config, state), *joined_json(config, state)]
        if name is not None:
            items = [i for i in items if i["metadata"]["name"] == name]
            if not items:
                print(f'Error from server (NotFound): nodes "{name}" not found', file=sys.stderr)
                return 1
        if args.output in ("json", "yaml") or args.output.startswith("jsonpath"):
            _emit(items, args.output, single=name is not None)
        else:
            print("NAME   STATUS   ROLES   AGE   VERSION")
            for item in items:
                ready = item["status"]["conditions"][0]["status"] == "True"
                print(f"{item['metadata']['name']}   {'Ready' if ready else 'NotReady'}   <none>   5m   "
                      f"v{config.channel}.3")
        return 0
    if kind == "Pod":
        items = [p.to_json() for p in cluster.pods(config, state) if namespace is None or p.namespace == namespace]
    else:
        items = [_with_status(config, state, o) for o in cluster.objects(state, kind)
                 if kind in cluster.CLUSTER_SCOPED or namespace is None or o["metadata"].get("namespace") == namespace]
    if args.selector:
        items = [i for i in items if args.selector.items() <= ((i["metadata"].get("labels") or {}).items())]
    if name is not None:
        items = [i for i in items if i["metadata"]["name"] == name]
        if not items:
            print(f'Error from server (NotFound): {PLURAL.get(kind, kind.lower() + "s")} "{name}" not found',
                  file=sys.stderr)
            return 1
    _emit(items, args.output, single=name is not None)
    return 0


def _with_status(config: Config, state: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] not in ("Deployment", "DaemonSet", "StatefulSet"):
        return obj
    own = [p for p in cluster.pods(config, state) if p.owner == obj["metadata"]["name"]
           and p.namespace == obj["metadata"].get("namespace")]
    ready = sum(p.running for p in own)
    status = ({"desiredNumberScheduled": len(own), "numberReady": ready} if obj["kind"] == "DaemonSet"
              else {"replicas": len(own), "readyReplicas": ready, "availableReplicas": ready})
    return {**obj, "status": status}


def raw(config: Config, state: dict[str, Any], path: str) -> int:
    """``kubectl get --raw PATH``: health endpoints, and the hub's health through the service proxy."""
    if path in ("/readyz", "/healthz", "/livez"):
        print("ok")
        return 0
    match = re.fullmatch(r"/api/v1/namespaces/([^/]+)/services/([^/:]+)(?::[^/]+)?/proxy/(.*)", path)
    if match:
        namespace, service, _ = match.groups()
        if cluster.get(state, "Service", namespace, service) is None:
            print(f'Error from server (NotFound): services "{service}" not found', file=sys.stderr)
            return 1
        # z2jh: proxy-public -> the proxy pod -> the hub pod; both must run for /hub/health to answer.
        own = [p for p in cluster.pods(config, state) if p.namespace == namespace and p.owner in ("hub", "proxy")]
        if len(own) == 2 and all(p.running for p in own):
            print('{"status": "ok"}')
            return 0
        print("Error from server (ServiceUnavailable): the server is currently unable to handle the request",
              file=sys.stderr)
        return 1
    print('Error from server (NotFound): the server could not find the requested resource', file=sys.stderr)
    return 1


def apply(store: Store, args: Args) -> int:
    """``kubectl apply -f FILE``: every object or nothing for a refused one (kubectl goes on with the rest)."""
    failed = False
    with store.edit() as state:
        for path in args.files:
            with open(path) as handle:
                docs = cluster.load_manifests(handle.read())
            for doc in docs:
                try:
                    result = cluster.put(state, doc, args.namespace)
                except cluster.ApplyError as exc:
                    print(str(exc).replace('"" ', f'"{path}" ', 1), file=sys.stderr)
                    failed = True
                    continue
                print(f"{doc['kind'].lower()}/{doc['metadata']['name']} {result}")
    return 1 if failed else 0


def delete(store: Store, args: Args) -> int:
    """``kubectl delete KIND NAME``, ``delete KIND -l KEY=VALUE`` and ``delete -f FILE [--ignore-not-found]``.

    Deleting a Namespace deletes every object in it, PVCs included: the namespace controller
    empties it before it goes (kubernetes pkg/controller/namespace/deletion/
    namespaced_resources_deleter.go ``deleteAllContent``). Objects of other namespaces stay.
    """
    if args.files:
        return _delete_files(store, args)
    if len(args.rest) == 2 and args.selector and ALIASES.get(args.rest[1].lower()):
        chosen_kind = ALIASES[args.rest[1].lower()]
        namespace = args.namespace or "default"
        with store.edit() as state:
            chosen = [o["metadata"]["name"] for o in cluster.objects(state, chosen_kind, namespace)
                      if args.selector.items() <= (o["metadata"].get("labels") or {}).items()]
            for name in chosen:
                cluster.delete(state, chosen_kind, namespace, name)
        print("\n".join(f'{chosen_kind.lower()} "{name}" deleted' for name in chosen) or "No resources found")
        return 0
    kind = ALIASES.get(args.rest[1].lower()) if len(args.rest) > 2 else None
    if kind is None:
        print("twin: kubectl delete needs KIND NAME", file=sys.stderr)
        return 1
    name = args.rest[2]
    with store.edit() as state:
        if kind == "Namespace" and cluster.get(state, "Namespace", None, name) is not None:
            for obj in list(cluster.objects(state, namespace=name)):
                cluster.delete(state, obj["kind"], name, obj["metadata"]["name"])
        gone = cluster.delete(state, kind, args.namespace or "default", name)
    if not gone:
        print(f'Error from server (NotFound): {PLURAL.get(kind, kind.lower() + "s")} "{name}" not found',
              file=sys.stderr)
        return 1
    print(f'{kind.lower()} "{name}" deleted')
    return 0


def _delete_files(store: Store, args: Args) -> int:
    """Delete each object of the files; without ``--ignore-not-found`` a missing one is an error (kubectl's)."""
    missing = False
    with store.edit() as state:
        for path in args.files:
            with open(path) as handle:
                docs = cluster.load_manifests(handle.read())
            for doc in docs:
                meta = doc.get("metadata") or {}
                namespace = meta.get("namespace") or args.namespace or "default"
                if cluster.delete(state, doc["kind"], namespace, meta["name"]):
                    print(f'{doc["kind"].lower()} "{meta["name"]}" deleted')
                elif not args.ignore_not_found:
                    print(f'Error from server (NotFound): {doc["kind"].lower()}s "{meta["name"]}" not found',
                          file=sys.stderr)
                    missing = True
    return 1 if missing else 0


def rollout_status(config: Config, store: Store, args: Args) -> int:
    """``kubectl rollout status deployment/NAME --timeout=Ns``: wait until its pod runs."""
    kind_name = args.rest[2] if len(args.rest) > 2 else ""
    what, _, name = kind_name.partition("/")
    kind = ALIASES.get(what.lower(), "Deployment")
    namespace = args.namespace or "default"
    deadline = time.monotonic() + args.timeout * config.time_scale
    while True:
        images.present.cache_clear()
        state = store.read()
        if cluster.get(state, kind, namespace, name) is None:
            print(f'Error from server (NotFound): {PLURAL.get(kind, kind.lower())} "{name}" not found', file=sys.stderr)
            return 1
        own = [p for p in cluster.pods(config, state) if p.owner == name and p.namespace == namespace]
        if own and all(p.running for p in own):
            print(f'{kind.lower()} "{name}" successfully rolled out')
            return 0
        if time.monotonic() >= deadline:
            reasons = "; ".join(f"{p.name}: {p.reason} {p.message}".strip() for p in own)
            print(f'Waiting for deployment "{name}" rollout to finish: 0 of 1 updated replicas are available...'
                  f"\n({reasons})", file=sys.stdout)
            print("error: timed out waiting for the condition", file=sys.stderr)
            return 1
        config.sleep(2)


def label_node(config: Config, store: Store, rest: list[str], *, overwrite: bool) -> int:
    """``kubectl label node NAME k=v k2-``: refuses to change a value without --overwrite, as kubectl does."""
    if rest and rest[0] != config.node_name:
        from installer.demo.twin.nodes import label_joined

        done = label_joined(store, rest[0], rest[1:], overwrite)
        if done is not None:
            return done
    if not rest or rest[0] != config.node_name:
        print(f'Error from server (NotFound): nodes "{rest[0] if rest else ""}" not found', file=sys.stderr)
        return 1
    with store.edit() as state:
        labels = state.setdefault("node_labels", {})
        for item in rest[1:]:
            if item.endswith("-"):
                labels.pop(item[:-1], None)
                continue
            k, _, v = item.partition("=")
            if k in labels and labels[k] != v and not overwrite:
                print(f"error: '{k}' already has a value ({labels[k]}), and --overwrite is false", file=sys.stderr)
                return 1
            labels[k] = v
    print(f"node/{rest[0]} labeled")
    return 0


def run_in_pod(config: Config, state: dict[str, Any], args: Args, argv: list[str]) -> int:
    """``kubectl exec [-n NS] POD -- CMD...`` or ``kubectl run ... --image=IMG ... -- sh -c 'ulimit -l'``.

    What the acceptance check looks at inside a user pod (issue 14) is answered from the
    pod's spec, as the node would set it up; the twin does not read the image's files:

    * ``ulimit -l``: a container inherits the locked-memory limit from MicroK8s's containerd,
      i.e. the ``ulimit -l`` of containerd-env when containerd last started (microk8s@1.32
      default-args/containerd-env: "this get inherited to the running containers").
    * ``id -u``: the container's, else the pod's ``securityContext.runAsUser`` (z2jh sets 1000
      through KubeSpawner's ``uid``); unset answers 0 (the twin does not read the image's USER).
    * ``test -w /home/jovyan``: true when a writable volume is mounted there (z2jh's home PVC).
    * ``nvidia-smi -L``: the NVIDIA Container Toolkit mounts nvidia-smi into a container that was
      allocated GPUs when ``NVIDIA_DRIVER_CAPABILITIES`` includes ``utility`` (or is unset:
      the toolkit's default is ``utility,compute``); one line per allocated GPU. Otherwise the
      shell finds no nvidia-smi (exit 127).
    * ``test -d /dev/infiniband``: the RDMA shared device plugin adds the uverbs devices to a
      container that was allocated an ``rdma/...`` resource.
    * ``df -P -k /dev/shm``: a memory ``emptyDir`` mounted at /dev/shm has its ``sizeLimit``;
      without one the container runtime's default 64 MiB shm.
    """
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    joined = " ".join(command)
    if args.rest[0] == "run":
        if "ulimit -l" not in joined:
            print(f"twin: kubectl {' '.join(argv)} is not modelled (only `ulimit -l` in `kubectl run` is)",
                  file=sys.stderr)
            return 1
        image = next((a.split("=", 1)[1] for a in argv if a.startswith("--image=")), "")
        if not images.has(config, image) or not cluster.node_ready(config, state)[0]:
            print(f'error: timed out waiting for the condition (pod cannot start: image "{image}")', file=sys.stderr)
            return 1
        print(state.get("containerd_memlock") or "8192")
        return 0
    name = args.rest[1] if len(args.rest) > 1 else ""
    found = [p for p in cluster.pods(config, state) if p.name == name and
             (args.namespace is None or p.namespace == args.namespace)]
    if not found or not found[0].running:
        print(f'Error from server (BadRequest): pod "{name}" is not running', file=sys.stderr)
        return 1
    return _exec_answer(config, state, found[0].spec, command, argv)


def _ibv_devinfo(config: Config, limits: dict[str, Any]) -> int:
    """rdma-core ``ibv_devinfo``: each device the container got (the plugin mounts them all) with its ports'
    states from the host's ``/sys/class/infiniband/*/ports/*/state``; without a device "No IB devices found"."""
    if not any(r.startswith("rdma/") and str(v) not in ("0", "") for r, v in limits.items()):
        print("No IB devices found", file=sys.stderr)
        return 255
    names = {1: "PORT_DOWN", 2: "PORT_INIT", 3: "PORT_ARMED", 4: "PORT_ACTIVE"}
    for device in sorted(config.host("/sys/class/infiniband").glob("*")):
        print(f"hca_id:\t{device.name}")
        for port in sorted(device.glob("ports/*")):
            number = (port / "state").read_text().split(":", 1)[0].strip()
            print(f"\t\tport:\t{port.name}\n\t\t\tstate:\t\t\t{names.get(int(number), 'PORT_NOP')} ({number})")
    return 0


def _exec_answer(config: Config, state: dict[str, Any], spec: dict[str, Any], command: list[str],
                 argv: list[str]) -> int:
    containers = spec.get("containers") or [{}]
    container = containers[0]
    limits = (container.get("resources") or {}).get("limits") or {}
    joined = " ".join(command)
    if "ulimit -l" in joined:
        print(state.get("containerd_memlock") or "8192")
        return 0
    if command == ["id", "-u"]:
        user = (container.get("securityContext") or {}).get("runAsUser",
                                                            (spec.get("securityContext") or {}).get("runAsUser", 0))
        print(user)
        return 0
    if command[:2] == ["test", "-w"] and len(command) == 3:
        mounted = any(m.get("mountPath", "").rstrip("/") == command[2].rstrip("/") and not m.get("readOnly")
                      for m in container.get("volumeMounts") or [])
        return 0 if mounted else 1
    if command == ["nvidia-smi", "-L"]:
        gpus = cluster.parse_quantity(str(limits.get("nvidia.com/gpu", "0")))
        caps = next((e.get("value", "") for e in container.get("env") or []
                     if e.get("name") == "NVIDIA_DRIVER_CAPABILITIES"), None)
        if gpus <= 0 or (caps is not None and not {"utility", "all"} & set(caps.split(","))):
            print('OCI runtime exec failed: exec failed: unable to start container process: exec: "nvidia-smi": '
                  'executable file not found in $PATH: unknown', file=sys.stderr)
            return 127
        for index in range(gpus):
            print(f"GPU {index}: NVIDIA Twin GPU (UUID: GPU-twin-{index:04d})")
        return 0
    if command[:2] == ["python3", "-c"] and "JUPYTERHUB_SERVICE_URL" in " ".join(command[2:]):
        # The notebook server answers on its prefix once the pod runs (the twin does not run the image):
        # JupyterHub's JUPYTERHUB_SERVICE_URL in the pod's env says where (KubeSpawner puts it there).
        env = {e.get("name"): e.get("value") for e in container.get("env") or []}
        url = env.get("JUPYTERHUB_SERVICE_URL")
        if not url:
            print("KeyError: 'JUPYTERHUB_SERVICE_URL'", file=sys.stderr)
            return 1
        print(f"200 {urllib.parse.urlsplit(url).path}api")
        return 0
    if command == ["ibv_devinfo"]:
        return _ibv_devinfo(config, limits)
    if command == ["test", "-d", "/dev/infiniband"]:
        return 0 if any(r.startswith("rdma/") and str(v) not in ("0", "") for r, v in limits.items()) else 1
    if command == ["df", "-P", "-k", "/dev/shm"]:
        size_kib = 65536
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            empty_dir = (volumes.get(mount.get("name")) or {}).get("emptyDir")
            if mount.get("mountPath") == "/dev/shm" and empty_dir is not None and empty_dir.get("sizeLimit"):
                size_kib = cluster.parse_quantity(str(empty_dir["sizeLimit"])) // 1024
        print("Filesystem     1024-blocks  Used Available Capacity Mounted on")
        print(f"shm            {size_kib:>11}     0 {size_kib:>9}       0% /dev/shm")
        return 0
    print(f"twin: kubectl {' '.join(argv)} is not modelled (see run_in_pod in installer/demo/twin/kubectl.py)",
          file=sys.stderr)
    return 1


def _merge_patch(target: Any, change: Any) -> Any:
    """RFC 7386 JSON merge patch (``--type merge``): null deletes, objects merge, the rest replaces."""
    if not isinstance(change, dict):
        return change
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in change.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = _merge_patch(result.get(k), v)
    return result


def patch(store: Store, args: Args, argv: list[str]) -> int:
    """``kubectl patch KIND NAME --type merge -p JSON`` (a strategic patch of a ConfigMap merges the same way)."""
    kind = ALIASES.get(args.rest[1].lower()) if len(args.rest) > 2 else None
    body = next((argv[i + 1] for i, a in enumerate(argv) if a in ("-p", "--patch")), None)
    body = body or next((a.split("=", 1)[1] for a in argv if a.startswith("--patch=")), None)
    kind_type = next((argv[i + 1] for i, a in enumerate(argv) if a == "--type"), "strategic")
    if kind is None or body is None or kind_type == "json":
        print(f"twin: kubectl {' '.join(argv)} is not modelled", file=sys.stderr)
        return 1
    name, namespace = args.rest[2], args.namespace or "default"
    with store.edit() as state:
        current = cluster.get(state, kind, namespace, name)
        if current is None:
            print(f'Error from server (NotFound): {PLURAL.get(kind, kind.lower() + "s")} "{name}" not found',
                  file=sys.stderr)
            return 1
        updated = _merge_patch(current, json.loads(body))
        changed = updated != current
        cluster.put(state, updated, namespace)
    print(f"{kind.lower()}/{name} {'patched' if changed else 'patched (no change)'}")
    return 0


def rollout_restart(store: Store, args: Args) -> int:
    """``kubectl rollout restart deployment NAME`` (or ``deployment/NAME``): new pods, same spec."""
    what = args.rest[2:]
    kind_word, name = (what[0].split("/", 1) if what and "/" in what[0] else [*what, "", ""][:2])
    kind = ALIASES.get(kind_word.lower())
    namespace = args.namespace or "default"
    state = store.read()
    if kind is None or cluster.get(state, kind, namespace, name) is None:
        print(f'Error from server (NotFound): {PLURAL.get(kind or "", "deployments.apps")} "{name}" not found',
              file=sys.stderr)
        return 1
    print(f"{PLURAL.get(kind, kind.lower()).split('s.')[0].rstrip('s')}.apps/{name} restarted")
    return 0
