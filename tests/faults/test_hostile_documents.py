"""Hostile YAML and JSON, through the real CLI: every document from a bundle, a profile or a values file.

Two shapes hurt a parser or whatever walks its result: nesting thousands of levels deep
(``RecursionError`` in the YAML composer, in ``json.loads`` or in our own walkers) and an
alias "bomb" (a few hundred bytes whose anchors expand to 387 million values when
walked). Each one, wherever it is read -- a profile, the bundle's ``manifest.yaml``, an
image archive's ``manifest.json``, a chart's ``Chart.yaml`` in the bundle or given to
``export --chart``, a values file given to ``export --helm-values`` -- must end in exit 2
with a line naming the file, at once: no traceback, no hang.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.support import cli

DEEP = "[" * 5000 + "]" * 5000
"""Flow nesting far past Python's recursion limit (the YAML composer recurses per level)."""
SELF = "&self [1, *self]"
"""A value that contains itself: walked, it never ends."""


def _bomb(use: str) -> str:
    """Nine anchors of nine aliases each (9**9 values once expanded), then ``use`` referring to the last."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n" + use + "\n"


def _tar(path: Path, members: dict[str, bytes], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _chart(path: Path, chart_yaml: str) -> Path:
    return _tar(path, {"evil/Chart.yaml": chart_yaml.encode(), "evil/values.yaml": b"{}\n"}, "w:gz")


# Each case builds its input under ``root`` and returns (CLI arguments, the file the error must name, what it says).
Case = Callable[[Path], tuple[list[str], Path, str]]


def _profile(text: str, says: str) -> Case:
    def build(root: Path) -> tuple[list[str], Path, str]:
        path = root / "profile.yaml"
        path.write_text(text)
        return ["--profile", str(path), "--dry-run"], path, says
    return build


def _bundle_manifest(text: str, says: str) -> Case:
    def build(root: Path) -> tuple[list[str], Path, str]:
        bundle = root / "bundle"
        bundle.mkdir()
        (bundle / "manifest.yaml").write_text(text)
        return ["verify", "--bundle", str(bundle)], bundle / "manifest.yaml", says
    return build


def _archive_index(name: str, data: bytes, says: str) -> Case:
    def build(root: Path) -> tuple[list[str], Path, str]:
        bundle = root / "bundle"
        archive = _tar(bundle / "images" / "x.tar", {name: data})
        return ["verify", "--bundle", str(bundle)], archive, says
    return build


def _bundle_chart(chart_yaml: str, says: str, verb: tuple[str, ...] = ("verify",)) -> Case:
    def build(root: Path) -> tuple[list[str], Path, str]:
        bundle = root / "bundle"
        chart = _chart(bundle / "charts" / "evil-1.0.0.tgz", chart_yaml)
        return [*verb, "--bundle", str(bundle)], chart, says
    return build


def _export_chart(chart_yaml: str, says: str) -> Case:
    def build(root: Path) -> tuple[list[str], Path, str]:
        chart = _chart(root / "evil-1.0.0.tgz", chart_yaml)
        return ["export", "--no-profile-images", "--out", str(root / "out"), "--chart", str(chart)], chart, says
    return build


def _export_values(text: str, says: str) -> Case:
    def build(root: Path) -> tuple[list[str], Path, str]:
        values = root / "values.yaml"
        values.write_text(text)
        return ["export", "--no-profile-images", "--out", str(root / "out"), "--helm-values", str(values)], values, says
    return build


TOO_DEEP = "nest"  # libyaml stops at its own bound ("exceeded maximum nesting depth"), ours says "nested deeper"
DEEPER = "nested deeper than"
EXPANDED = "aliases expanded"
CONTAINS = "refers to a value that contains it"

CASES: dict[str, Case] = {
    "profile-deep": _profile(f"jupyterhub:\n  admin_users: {DEEP}\n", TOO_DEEP),
    "profile-deep-block": _profile("jupyterhub:\n" + "".join(" " * i + "a:\n" for i in range(1, 120)), DEEPER),
    "profile-alias-bomb": _profile(_bomb("jupyterhub:\n  admin_users: *l9"), EXPANDED),
    "profile-self-alias": _profile(f"jupyterhub:\n  admin_users: {SELF}\n", CONTAINS),
    "bundle-manifest-deep": _bundle_manifest(f"version: 1\ncomponents: {DEEP}\n", TOO_DEEP),
    "bundle-manifest-alias-bomb": _bundle_manifest(_bomb("version: 1\ncomponents:\n  extra:\n    images: *l9"), EXPANDED),
    "archive-manifest-json-deep": _archive_index("manifest.json", b"[" * 200_000, DEEPER),
    "archive-index-json-deep": _archive_index("index.json", b'{"manifests": ' + b"[" * 3000 + b"]" * 3000 + b"}",
                                              DEEPER),
    "bundle-chart-alias-bomb": _bundle_chart(_bomb("name: evil\nversion: 1.0.0\nkeywords: *l9"), EXPANDED),
    "bundle-chart-deep-lock": _bundle_chart("name: evil\nversion: 1.0.0\nkeywords: " + "[" * 500 + "]" * 500 + "\n",
                                            DEEPER, ("bundle", "lock")),
    "export-chart-deep": _export_chart(f"name: evil\nversion: 1.0.0\nkeywords: {DEEP}\n", "Chart.yaml"),
    "export-chart-alias-bomb": _export_chart(_bomb("name: evil\nversion: 1.0.0\nkeywords: *l9"), EXPANDED),
    "export-helm-values-deep": _export_values(f"hub:\n  extra: {DEEP}\n", TOO_DEEP),
    "export-helm-values-alias-bomb": _export_values(_bomb("hub:\n  image: *l9"), EXPANDED),
    "export-helm-values-self-alias": _export_values(f"hub:\n  image: {SELF}\n", CONTAINS),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_document_is_refused_naming_the_file(name: str, tmp_path: Path) -> None:
    """Exit 2, the file named on the line that says what is wrong, no traceback, no hang."""
    args, named, says = CASES[name](tmp_path)
    try:
        done = cli(*args, cwd=tmp_path, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(args)}` did not end: the document was not bounded")
    assert "Traceback" not in done.stderr and "a bug in the installer" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if says in line]
    assert lines, done.stdout + done.stderr
    assert str(named) in lines[0], lines[0]
