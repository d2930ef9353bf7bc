"""Profile faults: wrong types, unknown sections, typos, and hostile values; and proof nothing reaches a shell.

The cases are generated from the Profile model itself, so a key added tomorrow is
covered tomorrow. What the operator must see: for a bad profile, exit 2 and a line
per fault with the file, the line number and the key path (plus a "did you mean" for
a typo), never the value of a secret; for a hostile but valid value (a password full
of shell syntax), an install that passes it through intact, as data, never as code.
"""

from __future__ import annotations

import ast
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union

import pytest
import yaml
from pydantic import BaseModel

from installer.config.profile import Profile, load_profile
from installer.engine.commands import RealRunner
from installer.errors import ProfileError
from tests.faults.support import PY, REPO, cli, make_host, make_install_bundle

HOSTILE_PASSWORD = "pa$(touch PWNED)`id`'\"; rm -rf / #\n && echo $HOME | tee >x"
HOSTILE_TOKEN = "tok;$(reboot)&&`halt` 'x' \"y\" \\z"
PULL_SECRET = {"registry": "harbor.lab:5000", "username": "robot$notebooks", "password": HOSTILE_TOKEN}


# --- generating the keys ---------------------------------------------------------------------


def _non_none(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _section(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, whether it is a list of them)."""
    for candidate in _non_none(annotation):
        if typing.get_origin(candidate) is list:
            inner = typing.get_args(candidate)[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner, True
        elif isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, False
    return None, False


def keys(model: type[BaseModel] = Profile,
         prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every key of the profile, depth first: ``(path, annotation)``; list items are reached through index 0."""
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        path = (*prefix, name)
        yield path, field.annotation
        inner, is_list = _section(field.annotation)
        if inner is not None:
            yield from keys(inner, (*path, 0) if is_list else path)


def wrong_value(annotation: Any) -> Any:
    """A value of the wrong type for ``annotation`` (never coerced by pydantic)."""
    kind = _non_none(annotation)[0]
    if _section(annotation)[0] is not None and typing.get_origin(kind) is not list:
        return "not-a-section"
    if typing.get_origin(kind) is list:
        return "not-a-list"
    if typing.get_origin(kind) is Literal:
        return 12345
    if kind is bool:
        return "maybe"
    if kind is int:
        return "many"
    if kind is float:
        return "lots"
    return ["a", "list"]  # str, SecretStr, Path, IP addresses


def key_text(path: tuple[str | int, ...]) -> str:
    """``jupyterhub.images[0].gpus``: how error messages spell a key."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def base_data() -> dict[str, Any]:
    """A valid profile with every optional section present, so every key can be reached."""
    data = Profile().model_dump(mode="json", exclude={"source"})
    data["jupyterhub"]["image_pull_secret"] = dict(PULL_SECRET)
    data["jupyterhub"]["auth"] = {"type": "dummy", "password": "a-good-password"}
    data.pop("bundle")
    return data


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return data


def _write(tmp_path: Path, data: dict[str, Any], name: str = "profile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=1 << 30))
    return path


def _line_of(path: Path, key: tuple[str | int, ...]) -> int:
    """The 1-based line of ``key`` in the YAML file (read independently of the product's own lookup)."""
    node: Any = yaml.compose(path.read_text())
    line = 0
    for part in key:
        if isinstance(part, int):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            name, node = next((k, v) for k, v in node.value if k.value == part)
            line = name.start_mark.line + 1
    return line


ALL_KEYS = list(keys())


def test_the_generator_reaches_every_section() -> None:
    """Guard for the generator itself: nested sections and list items are walked."""
    texts = {key_text(path) for path, _ in ALL_KEYS}
    assert {"bundle", "jupyterhub.auth.password", "jupyterhub.images[0].gpus", "jupyterhub.image_pull_secret.password",
            "rdma.link_types", "microk8s.dns_servers"} <= texts
    assert len(texts) > 50


@pytest.mark.parametrize("path", [p for p, _ in ALL_KEYS], ids=[key_text(p) for p, _ in ALL_KEYS])
def test_every_key_with_a_wrong_type_is_named_with_file_and_line(path: tuple[str | int, ...], tmp_path: Path) -> None:
    """Each key given a value of the wrong type: a ProfileError naming file:line and the key path."""
    annotation = dict(ALL_KEYS)[path]
    profile = _write(tmp_path, _set(base_data(), path, wrong_value(annotation)))
    with pytest.raises(ProfileError) as caught:
        load_profile(profile)
    message = caught.value.message
    assert f"{profile}:{_line_of(profile, path)}: {key_text(path)}: " in message, message
    assert caught.value.hint


def test_wrong_types_through_the_cli_exit_2_with_one_line_each(tmp_path: Path) -> None:
    """Several wrong types at once, through `install.sh --profile P --dry-run`: exit 2, one error line per key,
    in file order, each with file:line."""
    data = base_data()
    bad = [("microk8s", "ready_timeout"), ("jupyterhub", "images", 0, "gpus"), ("rdma", "enabled")]
    for path in bad:
        _set(data, path, wrong_value(dict(ALL_KEYS)[path]))
    profile = _write(tmp_path, data)
    done = cli("--profile", str(profile), "--dry-run")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    errors = [line.removeprefix("error: ") for line in lines if str(profile) in line]
    assert len(errors) == 3, done.stderr
    assert [e.split(": ")[1] for e in errors] == ["microk8s.ready_timeout", "rdma.enabled", "jupyterhub.images[0].gpus"]
    assert all(e.startswith(f"{profile}:") and e.split(":")[1].isdigit() for e in errors), errors
    assert lines[-1].startswith("hint: ")
    assert "Traceback" not in done.stderr


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    """A password written as a number is refused without showing it (other wrong values are shown)."""
    data = base_data()
    data["jupyterhub"]["auth"]["password"] = 73918264051
    data["jupyterhub"]["image_pull_secret"]["password"] = 55501234987
    data["jupyterhub"]["ready_timeout"] = "soon"
    done = cli("--profile", str(_write(tmp_path, data)), "--dry-run")
    assert done.returncode == 2
    assert "jupyterhub.auth.password" in done.stderr and "jupyterhub.image_pull_secret.password" in done.stderr
    assert "73918264051" not in done.stderr and "55501234987" not in done.stderr
    assert "'soon'" in done.stderr  # ordinary values are shown, they help


# --- unknown keys ---------------------------------------------------------------------------------


def test_an_unknown_component_section_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    """`hami:` (HAMi is a mode of gpu_sharing, not a section): exit 2, the key, its line, and the sections there are."""
    profile = tmp_path / "profile.yaml"
    profile.write_text("microk8s:\n  channel: '1.32'\nhami:\n  enabled: true\n")
    done = cli("--profile", str(profile), "--dry-run")
    assert done.returncode == 2
    assert f"error: {profile}:3: unknown key 'hami'; valid keys here: bundle, preflight, microk8s, gpu_sharing, " \
           "gpu_operator, rdma, jupyterhub" in done.stderr
    assert "./install.sh schema" in done.stderr


def _typo(name: str) -> str:
    """Swap two inner letters (``enabled`` -> ``enalbed``): the commonest typo."""
    middle = len(name) // 2
    return name[: middle - 1] + name[middle] + name[middle - 1] + name[middle + 1:]


TYPO_KEYS = [(path, ann) for path, ann in ALL_KEYS if isinstance(path[-1], str) and len(path[-1]) >= 4
             and _typo(path[-1]) != path[-1]]


@pytest.mark.parametrize("path", [p for p, _ in TYPO_KEYS], ids=[key_text(p) for p, _ in TYPO_KEYS])
def test_a_typo_at_any_level_gets_a_did_you_mean(path: tuple[str | int, ...], tmp_path: Path) -> None:
    """The key misspelt where it stands (top level, a section, a catalog entry...): its file:line, the misspelt key
    path, and the right key suggested."""
    data = base_data()
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    name = str(path[-1])
    value = parent.pop(name) if name in parent else None
    parent[_typo(name)] = value if value is not None else wrong_value(dict(ALL_KEYS)[path])
    profile = _write(tmp_path, data)
    with pytest.raises(ProfileError) as caught:
        load_profile(profile)
    wrong_key = key_text((*path[:-1], _typo(name)))
    line = next(i for i, text in enumerate(profile.read_text().splitlines(), start=1)
                if text.strip().lstrip("- ").startswith(f"{_typo(name)}:"))
    assert f"{profile}:{line}: unknown key '{wrong_key}'; did you mean '{name}'?" in caught.value.message, \
        caught.value.message


# --- hostile values --------------------------------------------------------------------------------


SHELLY = ["bob; rm -rf /", "$(reboot)", "`id`", "a\nb", "x && y", "a|b", "../../etc", "x'y", "x\"y", "${HOME}"]


@pytest.mark.parametrize("value", SHELLY, ids=repr)
@pytest.mark.parametrize("where", [("jupyterhub", "admin_users", 0), ("jupyterhub", "allowed_users"),
                                   ("jupyterhub", "images", 0, "image"), ("jupyterhub", "images", 0, "name"),
                                   ("jupyterhub", "namespace"), ("jupyterhub", "chart_version"),
                                   ("jupyterhub", "storage", "class_name"), ("gpu_operator", "version"),
                                   ("rdma", "image_tag"), ("rdma", "interfaces"),
                                   ("jupyterhub", "image_pull_secret", "registry")],
                         ids=key_text)
def test_shell_syntax_in_names_is_refused_naming_the_key(where: tuple[str | int, ...], value: str,
                                                         tmp_path: Path) -> None:
    """User names, image refs, names, versions, registry hosts with shell syntax or a newline: refused at load
    time, the key named. They end up in commands, file names and image refs, so they must be plain."""
    data = base_data()
    if where[-1] in ("allowed_users", "interfaces"):
        _set(data, where, [value])
        shown = key_text((*where, 0))
    else:
        _set(data, where, value)
        shown = key_text(where)
    with pytest.raises(ProfileError) as caught:
        load_profile(_write(tmp_path, data))
    assert f": {shown}: " in caught.value.message, caught.value.message


def test_free_text_with_a_newline_is_refused_where_it_must_be_one_line(tmp_path: Path) -> None:
    """A display name or registry user with a newline would break the hub's page and the pull secret."""
    for where in (("jupyterhub", "images", 0, "display_name"), ("jupyterhub", "image_pull_secret", "username")):
        with pytest.raises(ProfileError, match=key_text(where).replace("[", r"\[").replace("]", r"\]")):
            load_profile(_write(tmp_path, _set(base_data(), where, "line one\nline two")))


def _hostile_profile(tmp_path: Path, bundle: Path) -> Path:
    data = base_data()
    data["bundle"] = str(bundle)
    data["jupyterhub"]["auth"]["password"] = HOSTILE_PASSWORD
    data["jupyterhub"]["images"][0]["description"] = "Python; $(rm -rf /) `id` > /etc/passwd"
    return _write(tmp_path, data)


def test_hostile_but_valid_values_reach_the_values_file_intact_and_no_argv(tmp_path: Path) -> None:
    """A password and a token made of shell syntax, and a bundle folder whose name is shell syntax: `plan` writes
    them into the values file exactly (YAML round trip), and every command takes the bundle path as one intact
    argv element; the secrets are in no command at all."""
    root = tmp_path / "bundle dir $(touch PWNED) ; `id` & 'q' \"dq\""
    root.mkdir()
    bundle = make_install_bundle(root)
    profile = _hostile_profile(tmp_path, bundle)
    out = tmp_path / "plan"
    done = cli("plan", "--profile", str(profile), "--out", str(out), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    values = yaml.safe_load((out / "jupyterhub-values.yaml").read_text())
    assert values["hub"]["config"]["DummyAuthenticator"]["password"] == HOSTILE_PASSWORD
    assert values["imagePullSecret"]["password"] == HOSTILE_TOKEN
    assert values["singleuser"]["profileList"][0]["description"] == "Python; $(rm -rf /) `id` > /etc/passwd"
    steps = json.loads(done.stdout)["steps"]
    argvs = [argv for step in steps for argv in step["commands"]]
    chart = str(bundle / "charts" / "jupyterhub-4.2.0.tgz")
    assert any(chart in argv for argv in argvs), argvs  # one element, exactly the path
    for argv in argvs:
        for arg in argv:
            assert HOSTILE_PASSWORD not in arg and HOSTILE_TOKEN not in arg, argv
            if "PWNED" in arg:
                assert arg.startswith(str(root)), argv  # only ever inside the bundle path, whole
    assert not list(tmp_path.rglob("PWNED"))


def test_the_runner_passes_hostile_arguments_as_data(tmp_path: Path) -> None:
    """Through the real runner, every hostile string arrives in the program's argv byte for byte, and none of the
    shell syntax in them runs."""
    hostile = [HOSTILE_PASSWORD, HOSTILE_TOKEN, "$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "a\nb", "*", "~"]
    echo = [PY, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]
    result = RealRunner().run([*echo, *hostile], timeout=60)
    assert json.loads(result.stdout) == hostile
    with pytest.raises(TypeError):
        RealRunner().run(" ".join([*echo, *hostile]))  # type: ignore[arg-type]
    assert not list(Path.cwd().glob("PWNED")) and not list(tmp_path.rglob("PWNED"))


# --- nothing but the runner starts programs -----------------------------------------------------------


ALLOWED_SUBPROCESS = {
    "installer/engine/commands.py": "the one command runner (and Daemon): argv lists, timeouts, redaction",
}
"""Modules allowed to import subprocess, each with the reason. Nothing may use a shell."""
FORBIDDEN_CALLS = {("os", "system"), ("os", "popen"), ("os", "posix_spawn"), ("os", "posix_spawnp"),
                   ("asyncio", "create_subprocess_shell"), ("asyncio", "create_subprocess_exec"), ("pty", "spawn")}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(REPO).as_posix()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] in ("subprocess", "pty") for n in names) and rel not in ALLOWED_SUBPROCESS:
                found.append(f"{rel}:{node.lineno} imports {', '.join(names)}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in FORBIDDEN_CALLS or (
                    node.value.id == "os" and node.attr.startswith(("exec", "spawn"))):
                found.append(f"{rel}:{node.lineno} uses {node.value.id}.{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg == "shell" and not (
                isinstance(node.value, ast.Constant) and node.value.value is False):
            found.append(f"{rel}:{node.lineno} passes shell=...")
    return found


def test_nothing_but_the_command_runner_starts_programs() -> None:
    """Static proof that no profile value can reach a shell: no module but the runner imports subprocess,
    and nothing anywhere uses a shell, os.system, os.popen, os.exec* or os.spawn*."""
    files = sorted((REPO / "installer").rglob("*.py"))
    assert len(files) > 50
    violations = [v for path in files for v in _violations(path)]
    assert violations == [], "\n".join(violations)
    assert "subprocess" in (REPO / "installer/engine/commands.py").read_text()


def test_the_static_check_catches_a_shell(tmp_path: Path) -> None:
    """The check above is honest: it flags each forbidden form in a module that is not allowed."""
    module = REPO / "installer" / "_fault_suite_probe.py"
    module.write_text("import os\nimport subprocess\nos.system('x')\n"
                      "subprocess.run('x', shell=True)\nos.execv('a', [])\n")
    try:
        found = _violations(module)
    finally:
        module.unlink()
    assert len(found) == 4, found


def test_hostile_profile_dry_run_through_the_cli(tmp_path: Path) -> None:
    """`install.sh --profile P --dry-run --output jsonl` with the hostile values: every command event carries an
    argv list, the password appears in none of them and nowhere in the output; nothing ran that changes the host."""
    root = tmp_path / "b $(touch PWNED)"
    root.mkdir()
    profile = _hostile_profile(tmp_path, make_install_bundle(root))
    host = make_host(tmp_path / "host")
    done = cli("--profile", str(profile), "--dry-run", "--output", "jsonl", "--host-root", str(host),
               "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr  # the bundle has no images: the real run would stop at bundle-check
    events = [json.loads(line) for line in done.stdout.splitlines()]
    commands = [e for e in events if e["event"] == "command"]
    assert commands and all(isinstance(e["argv"], list) for e in commands)
    helm = next(e["argv"] for e in commands if e["argv"][:3] == ["microk8s", "helm3", "upgrade"])
    assert str(root / "offline-images" / "charts" / "jupyterhub-4.2.0.tgz") in helm
    for secret in (HOSTILE_PASSWORD, HOSTILE_TOKEN, json.dumps(HOSTILE_PASSWORD)[1:-1]):
        assert secret not in done.stdout and secret not in done.stderr
    values = next(e for e in events if e["event"] == "file" and e["path"].endswith("jupyterhub-values.yaml"))
    assert "password: '***'" in values["content"] or "password: ***" in values["content"], values["content"]
    assert not list(tmp_path.rglob("PWNED"))
    assert not (tmp_path / "state").exists()  # a dry-run writes nothing, not even its state folder
