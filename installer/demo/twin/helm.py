"""``microk8s helm3`` of the twin: releases kept as Helm keeps them, charts rendered by a REAL helm.

Rendering (``helm template``) is a real helm binary given by the caller (the tests: one from a
PyPI wheel, tests/helmbin.py; the demo: ``helm`` when it is on PATH). Without one, a chart whose
templates hold no template directive is applied as written (the demo's stand-in chart), and any
other is refused naming what is missing: the twin never re-implements Helm. Only what needs a
cluster is the twin's: storing releases and their revisions, applying
the rendered objects, ``--wait``. The behaviours follow helm v3 pkg/action:
``upgrade --install`` marks the release ``pending-install``/``pending-upgrade`` before
it applies anything (a killed Helm leaves it so, and every later upgrade fails with
"another operation ... is in progress"); ``list`` hides pending releases without
``--all`` (list.go: deployed|failed by default); ``crds/`` is applied on install only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Final

import yaml

from installer.demo.twin import cluster, passthrough
from installer.demo.twin.state import Config, Store

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
OWNER = "meta.helm.sh/release-name"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helm", add_help=False)
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("-o", "--output", default="table")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--create-namespace", action="store_true")
    parser.add_argument("--wait", action="store_true")
    parser.add_argument("--atomic", action="store_true")
    parser.add_argument("--disable-openapi-validation", action="store_true")
    parser.add_argument("--timeout", default="5m0s")
    parser.add_argument("--filter", default="")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("--version")
    parser.add_argument("rest", nargs="*")
    return parser


def _seconds(text: str) -> float:
    """A Go duration (``900s``, ``5m0s``, ``1h``) in seconds."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def chart_meta(chart: str) -> dict[str, Any]:
    """Chart.yaml of a chart archive or folder."""
    path = Path(chart)
    if path.is_dir():
        return yaml.safe_load((path / "Chart.yaml").read_text())  # type: ignore[no-any-return]
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                handle = tar.extractfile(member)
                assert handle is not None
                return yaml.safe_load(handle.read())  # type: ignore[no-any-return]
    msg = f"Error: Chart.yaml file is missing in {chart}"
    raise HelmError(msg)


class HelmError(Exception):
    """Helm's own error line."""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for k, v in extra.items():
        base[k] = _merge(base.get(k) or {}, v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def render(config: Config, release: str, chart: str, namespace: str, values: list[str]) -> str:
    """``helm template`` with the real helm (CRDs included, as install applies them first), or plain manifests."""
    if not config.helm:
        return plain_manifests(chart, crds=True)
    argv = [config.helm, "template", release, chart, "--namespace", namespace, "--include-crds",
            "--kube-version", f"v{config.channel}.3"]
    for path in values:
        argv += ["--values", path]
    done = passthrough.run(argv, env=_helm_env(config), probe=True)
    if not done.ok:
        raise HelmError(done.stderr.strip() or f"helm template exited {done.returncode}")
    return done.stdout


def _helm_env(config: Config) -> dict[str, str]:
    return {**os.environ, "HELM_CACHE_HOME": str(config.state_dir / "helm-cache"),
            "HELM_CONFIG_HOME": str(config.state_dir / "helm-config"),
            "HELM_DATA_HOME": str(config.state_dir / "helm-data")}


NO_HELM: Final = ("the MicroK8s twin has no helm binary to render it (put `helm` on PATH, or install "
                  "the test extras: pip install -e '.[test]')")


def plain_manifests(chart: str, *, crds: bool) -> str:
    """The chart's ``templates/`` (and ``crds/``) files joined as one manifest, when none holds a directive.

    Raises:
        HelmError: a template uses ``{{ }}`` (naming the file and the missing helm), or the chart cannot be read.
    """
    files: dict[str, str] = {}
    path = Path(chart)
    if path.is_dir():
        for member in sorted(path.rglob("*")):
            if member.is_file():
                files[f"{path.name}/{member.relative_to(path)}"] = member.read_text(errors="replace")
    else:
        with tarfile.open(path) as tar:
            for info in tar.getmembers():
                handle = tar.extractfile(info) if info.isfile() else None
                if handle is not None:
                    files[info.name] = handle.read().decode(errors="replace")
    wanted = ("templates", "crds") if crds else ("templates",)
    parts = []
    for name, text in sorted(files.items(), key=lambda item: (item[0].split("/")[1:2] != ["crds"], item[0])):
        pieces = name.split("/")
        if len(pieces) < 3 or pieces[1] not in wanted or not name.endswith((".yaml", ".yml")):
            continue
        if "{{" in text:
            msg = f"Error: cannot render {name}: it holds template directives and {NO_HELM}"
            raise HelmError(msg)
        parts.append(f"---\n# Source: {name}\n{text.strip()}\n")
    return "".join(parts)


def _latest(state: dict[str, Any], namespace: str, name: str) -> dict[str, Any] | None:
    history = state["releases"].get(f"{namespace}/{name}") or []
    return history[-1] if history else None


def upgrade(config: Config, store: Store, args: argparse.Namespace) -> int:
    """``helm upgrade [--install] NAME CHART``."""
    name, chart = args.rest[0], args.rest[1]
    ns = args.namespace
    action = "UPGRADE"
    try:
        meta = chart_meta(chart)
        manifest = render(config, name, chart, ns, args.values)
    except (HelmError, OSError, tarfile.TarError) as exc:
        print(f"Error: {action} FAILED: {exc}".replace("Error: Error:", "Error:"), file=sys.stderr)
        return 1
    values: dict[str, Any] = {}
    for path in args.values:
        values = _merge(values, yaml.safe_load(Path(path).read_text()) or {})
    with store.edit() as state:
        if not cluster.api_up(config, state):
            print("Error: Kubernetes cluster unreachable: Get \"https://127.0.0.1:16443/version\": dial tcp "
                  "127.0.0.1:16443: connect: connection refused", file=sys.stderr)
            return 1
        latest = _latest(state, ns, name)
        if latest is None and not args.install:
            print(f'Error: UPGRADE FAILED: "{name}" has no deployed releases', file=sys.stderr)
            return 1
        if latest is not None and latest["status"] in PENDING:
            print("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
                  file=sys.stderr)
            return 1
        installing = latest is None or latest["status"] == "uninstalled"
        action = "INSTALLATION" if installing else "UPGRADE"
        if installing and ns not in cluster.SYSTEM_NAMESPACES and cluster.get(state, "Namespace", None, ns) is None:
            if not args.create_namespace:
                print(f'Error: {action} FAILED: create: failed to create: namespaces "{ns}" not found', file=sys.stderr)
                return 1
            cluster.put(state, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        revision = 1 if latest is None else latest["revision"] + 1
        record = {"revision": revision, "status": "pending-install" if installing else "pending-upgrade",
                  "chart": f"{meta['name']}-{meta['version']}", "app_version": str(meta.get("appVersion", "")),
                  "values": values, "manifest": manifest, "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "description": "Initial install underway" if installing else "Preparing upgrade"}
        state["releases"].setdefault(f"{ns}/{name}", []).append(record)
    if installing:
        print(f'Release "{name}" does not exist. Installing it now.')
    time.sleep(config.helm_delay)  # a test may kill Helm here: the release stays pending, as with a real Helm
    with store.edit() as state:
        try:
            apply_manifest(state, manifest, ns, name, crds=installing)
        except cluster.ApplyError as exc:
            _finish(state, ns, name, "failed", str(exc))
            print(f"Error: {action} FAILED: {exc}", file=sys.stderr)
            return 1
    if args.wait or args.atomic:
        deadline = time.monotonic() + _seconds(args.timeout) * config.time_scale
        while True:
            from installer.demo.twin import images

            images.present.cache_clear()
            state = store.read()
            waiting = [p for p in cluster.pods(config, state) if _owned(state, p, ns, name) and not p.running]
            if not waiting:
                break
            if time.monotonic() >= deadline:
                with store.edit() as state:
                    _finish(state, ns, name, "failed", "context deadline exceeded")
                print(f"Error: {action} FAILED: context deadline exceeded", file=sys.stderr)
                return 1
            config.sleep(2)
    with store.edit() as state:
        _finish(state, ns, name, "deployed", "Install complete" if installing else "Upgrade complete")
    latest = _latest(store.read(), ns, name)
    assert latest is not None
    print(f"NAME: {name}\nLAST DEPLOYED: {latest['updated']}\nNAMESPACE: {ns}\nSTATUS: deployed\n"
          f"REVISION: {latest['revision']}")
    return 0


def _owned(state: dict[str, Any], pod: cluster.PodState, namespace: str, release: str) -> bool:
    latest = _latest(state, namespace, release)
    keys = set((latest or {}).get("objects") or [])
    return any(k.endswith(f"/{pod.namespace}/{pod.owner}") for k in keys)


def _finish(state: dict[str, Any], namespace: str, name: str, status: str, description: str) -> None:
    history = state["releases"][f"{namespace}/{name}"]
    if status == "deployed":
        for older in history[:-1]:
            if older["status"] == "deployed":
                older["status"] = "superseded"
    history[-1]["status"] = status
    history[-1]["description"] = description


def apply_manifest(state: dict[str, Any], manifest: str, namespace: str, release: str, *, crds: bool) -> None:
    """Create the release's objects (CRDs first, only on install), drop the ones the new revision lost."""
    docs = cluster.load_manifests(manifest)
    crd_docs = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    others = [d for d in docs if d.get("kind") != "CustomResourceDefinition"]
    for doc in crd_docs:
        if crds or cluster.get(state, "CustomResourceDefinition", None, doc["metadata"]["name"]) is None:
            cluster.put(state, doc)
    latest = _latest(state, namespace, release)
    assert latest is not None
    previous = [r for r in state["releases"][f"{namespace}/{release}"][:-1] if r["status"] == "deployed"]
    keys = []
    for doc in others:
        doc.setdefault("metadata", {}).setdefault("annotations", {})[OWNER] = release
        cluster.put(state, doc, namespace)
        keys.append(cluster.key(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]))
    for old in previous[-1:]:
        for stale in set(old.get("objects") or []) - set(keys):
            state["objects"].pop(stale, None)
    latest["objects"] = keys


def list_releases(state: dict[str, Any], args: argparse.Namespace) -> int:
    """``helm list``: latest revision of each release; deployed and failed only unless ``--all``."""
    rows = []
    for full, history in sorted(state["releases"].items()):
        ns, name = full.split("/", 1)
        if not args.all_namespaces and ns != args.namespace:
            continue
        if args.filter and not re.search(args.filter, name):
            continue
        latest = history[-1]
        if latest["status"] == "uninstalled" or (not args.all and latest["status"] not in ("deployed", "failed")):
            continue
        rows.append({"name": name, "namespace": ns, "revision": str(latest["revision"]),
                     "updated": latest["updated"] + " +0000 UTC", "status": latest["status"],
                     "chart": latest["chart"], "app_version": latest["app_version"]})
    if args.output == "json":
        print(json.dumps(rows))
    else:
        print("NAME\tNAMESPACE\tREVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION")
        for r in rows:
            print("\t".join(r[k] for k in ("name", "namespace", "revision", "updated", "status", "chart",
                                           "app_version")))
    return 0


BUILT_IN_KUBE_VERSION = {"1.30": "v1.24.0"}
"""What ``helm template`` assumes without ``--kube-version``, for the helm each channel ships.

microk8s branch 1.30 ``build-scripts/components/helm/version.sh`` (v3.9.1) built with ``make``;
helm v3.9.1 ``Makefile`` bakes in its client-go module v0.24.2 (``pkg/chartutil/capabilities.go``).
Later channels ship newer helm; their built-in versions are not encoded here.
"""


def main(config: Config, argv: list[str]) -> int:
    """``microk8s helm3 ARGS``."""
    if argv and argv[0] == "template":  # rendering needs no cluster: the real helm does it all
        if not config.helm:
            return template_without_helm(argv[1:])
        if "--kube-version" not in argv and config.channel in BUILT_IN_KUBE_VERSION:
            argv = [*argv, "--kube-version", BUILT_IN_KUBE_VERSION[config.channel]]
        return passthrough.relay([config.helm, *argv], env=_helm_env(config))
    if argv and argv[0] in ("version",):
        if not config.helm:
            print(f"Error: {NO_HELM}", file=sys.stderr)
            return 1
        return passthrough.relay([config.helm, *argv], env=_helm_env(config))
    store = Store(config)
    args, _unknown = _parser().parse_known_intermixed_args(argv)
    if not args.rest:
        print("Error: unknown command", file=sys.stderr)
        return 1
    verb, args.rest = args.rest[0], args.rest[1:]
    state = store.read()
    if verb == "upgrade":
        return upgrade(config, store, args)
    if verb in ("list", "ls"):
        return list_releases(state, args)
    if verb == "get" and args.rest[:1] == ["values"]:
        latest = _latest(state, args.namespace, args.rest[1])
        if latest is None or latest["status"] == "uninstalled":
            print("Error: release: not found", file=sys.stderr)
            return 1
        print(json.dumps(latest["values"] or None) if args.output == "json" else yaml.safe_dump(latest["values"]))
        return 0
    if verb == "history":
        history = state["releases"].get(f"{args.namespace}/{args.rest[0]}") or []
        if not history:
            print("Error: release: not found", file=sys.stderr)
            return 1
        print("REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION")
        for r in history:
            print(f"{r['revision']}\t{r['updated']}\t{r['status']}\t{r['chart']}\t{r['app_version']}\t{r['description']}")
        return 0
    if verb == "rollback":
        return rollback(config, store, args)
    if verb in ("uninstall", "delete", "del"):
        return uninstall(store, args)
    print(f"twin: helm {verb} is not modelled (add it to installer/demo/twin/helm.py with its upstream behaviour)",
          file=sys.stderr)
    return 1


def template_without_helm(argv: list[str]) -> int:
    """``helm template NAME CHART [flags]`` without a helm: the chart's plain manifests, or helm-like refusal."""
    args, _unknown = _parser().parse_known_intermixed_args(argv)
    if len(args.rest) < 2:
        print("Error: \"helm template\" requires at least 1 argument", file=sys.stderr)
        return 1
    try:
        print(plain_manifests(args.rest[1], crds="--include-crds" in argv), end="")
    except (HelmError, OSError, tarfile.TarError) as exc:
        print(str(exc) if str(exc).startswith("Error:") else f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


def rollback(config: Config, store: Store, args: argparse.Namespace) -> int:
    """``helm rollback NAME [REVISION]``: a new revision with the target's chart and values."""
    with store.edit() as state:
        history = state["releases"].get(f"{args.namespace}/{args.rest[0]}") or []
        if not history:
            print("Error: release: not found", file=sys.stderr)
            return 1
        number = int(args.rest[1]) if len(args.rest) > 1 else history[-1]["revision"] - 1
        target = next((r for r in history if r["revision"] == number), None)
        if target is None:
            print(f"Error: release has no {number} version", file=sys.stderr)
            return 1
        if history[-1]["status"] in PENDING:
            history[-1]["status"] = "failed"
        record = {**target, "revision": history[-1]["revision"] + 1, "status": "pending-rollback",
                  "description": f"Rollback to {number}", "updated": time.strftime("%Y-%m-%d %H:%M:%S")}
        history.append(record)
        apply_manifest(state, target["manifest"], args.namespace, args.rest[0], crds=False)
        _finish(state, args.namespace, args.rest[0], "deployed", f"Rollback to {number}")
    print("Rollback was a success! Happy Helming!")
    return 0


def uninstall(store: Store, args: argparse.Namespace) -> int:
    """``helm uninstall NAME``: delete the release's objects (not its CRDs) and its history."""
    name = args.rest[0]
    with store.edit() as state:
        history = state["releases"].pop(f"{args.namespace}/{name}", None)
        if not history:
            print(f"Error: uninstall: Release not loaded: {name}: release: not found", file=sys.stderr)
            return 1
        for release in history:
            for k in release.get("objects") or []:
                state["objects"].pop(k, None)
    print(f'release "{name}" uninstalled')
    return 0
