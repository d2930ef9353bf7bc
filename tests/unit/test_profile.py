"""Profile loading: defaults, precise errors with file/line/key, typo suggestions, schema in sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from installer.config.profile import Profile, dump_profile, load_profile, parse_profile, schema_json
from installer.errors import ExitCode, ProfileError

REPO = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str) -> Profile:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return load_profile(path)


def test_empty_profile_gives_defaults(tmp_path: Path) -> None:
    profile = _load(tmp_path, "")
    assert profile.microk8s.channel == "1.32"
    assert profile.gpu_operator.enabled is False
    assert profile.jupyterhub.admin_users == ["admin"]


def test_misspelt_key_names_file_line_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        _load(tmp_path, "jupyterhub:\n  namespace: jh\n  admin_user: [alice]\n")
    message = str(err.value)
    assert f"{tmp_path / 'p.yaml'}:3" in message
    assert "jupyterhub.admin_user" in message
    assert "did you mean 'admin_users'" in message
    assert err.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize(
    ("text", "line", "key", "suggestion"),
    [
        ("microk8z:\n  channel: '1.32'\n", 1, "microk8z", "'microk8s'"),
        ("microk8s:\n  chanel: '1.32'\n", 2, "microk8s.chanel", "'channel'"),
        ("jupyterhub:\n  auth:\n    typ: native\n", 3, "jupyterhub.auth.typ", "'type'"),
        ("jupyterhub:\n  images:\n    - name: a\n      display_name: A\n      image: x/y:1\n      gpu: 1\n",
         6, "jupyterhub.images[0].gpu", "'gpus'"),
    ],
)
def test_typo_at_each_level(tmp_path: Path, text: str, line: int, key: str, suggestion: str) -> None:
    with pytest.raises(ProfileError) as err:
        _load(tmp_path, text)
    assert f"p.yaml:{line}: unknown key '{key}'" in str(err.value)
    assert suggestion in str(err.value)


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        _load(tmp_path, "microk8s:\n  channel: '1.32'\n jupyterhub: [\n")
    assert "p.yaml:3" in str(err.value)
    assert "not valid YAML" in str(err.value)


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        _load(tmp_path, "jupyterhub:\n  service:\n    node_port: eighty\n")
    assert "p.yaml:3: jupyterhub.service.node_port" in str(err.value)
    assert "'eighty'" in str(err.value)


@pytest.mark.parametrize("bad", ["$(reboot)", "alice\nbob", "a;rm -rf /", "`id`", "Alice Smith"])
def test_user_names_with_shell_characters_are_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ProfileError, match="not a valid user name"):
        _load(tmp_path, "jupyterhub:\n  admin_users: [" + json.dumps(bad) + "]\n")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="profile not found"):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="is a folder"):
        load_profile(tmp_path)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="must be a YAML mapping"):
        _load(tmp_path, "- a\n- b\n")


def test_dummy_auth_needs_password(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="needs 'password'"):
        _load(tmp_path, "jupyterhub:\n  auth:\n    type: dummy\n")


def test_dump_round_trips_and_hides_password(tmp_path: Path) -> None:
    profile = _load(tmp_path, "jupyterhub:\n  auth:\n    type: dummy\n    password: s3cret-pass\n")
    assert profile.secrets() == ["s3cret-pass"]
    hidden = dump_profile(profile)
    assert "s3cret-pass" not in hidden
    assert "CHANGE-ME" in hidden
    with pytest.raises(ProfileError, match="still the placeholder CHANGE-ME"):
        parse_profile(hidden, tmp_path / "saved.yaml")
    clear = dump_profile(profile, include_secrets=True)
    again = parse_profile(clear, tmp_path / "again.yaml")
    assert again.jupyterhub.auth.password is not None
    assert again.jupyterhub.auth.password.get_secret_value() == "s3cret-pass"
    assert again.model_dump(exclude={"source"}) == profile.model_dump(exclude={"source"})


def test_bundle_is_relative_to_profile(tmp_path: Path) -> None:
    profile = _load(tmp_path, "bundle: ../bundle\n")
    assert profile.bundle_dir() == (tmp_path.parent / "bundle").resolve()


def test_checked_in_schema_is_in_sync() -> None:
    checked_in = REPO / "profiles" / "profile-schema.json"
    assert checked_in.read_text() == schema_json(), (
        "profiles/profile-schema.json is stale: regenerate with ./install.sh schema > profiles/profile-schema.json")


@pytest.mark.parametrize("path", sorted((REPO / "profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_load(path: Path) -> None:
    load_profile(path)


def test_shipped_profiles_exist() -> None:
    names = {p.name for p in (REPO / "profiles").glob("*.yaml")}
    assert {"cpu.yaml", "gpu.yaml", "gpu-rdma.yaml"} <= names


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    """Plain YAML keeps the last `jupyterhub:` block silently, dropping the first one's settings."""
    text = "jupyterhub:\n  admin_users: [ops]\nmicrok8s: {}\njupyterhub:\n  storage: {size: 5Gi}\n"
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, tmp_path / "twice.yaml")
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "twice.yaml:4" in caught.value.message
    assert "'jupyterhub' is given twice (also on line 1)" in caught.value.message
    nested = "jupyterhub:\n  storage: {size: 5Gi, size: 6Gi}\n"
    with pytest.raises(ProfileError, match="'size' is given twice"):
        parse_profile(nested, tmp_path / "nested.yaml")


def test_bundle_is_a_folder_or_a_section_with_a_trust_file(tmp_path: Path) -> None:
    """Issue 18: ``bundle: DIR`` as before, or ``bundle: {path, trust}``; both resolve next to the profile,
    ``--bundle`` keeps the trust file, and a bad value names ``bundle.trust`` and its line."""
    plain = tmp_path / "plain.yaml"
    plain.write_text("bundle: usb/offline-images\n")
    assert load_profile(plain).bundle_dir() == tmp_path / "usb" / "offline-images"
    assert load_profile(plain).bundle_trust() is None
    signed = tmp_path / "signed.yaml"
    signed.write_text("bundle:\n  path: usb/offline-images\n  trust: keys/trusted-signers\n")
    profile = load_profile(signed)
    assert profile.bundle_dir() == tmp_path / "usb" / "offline-images"
    assert profile.bundle_trust() == tmp_path / "keys" / "trusted-signers"
    moved = profile.with_bundle(tmp_path / "elsewhere")
    assert (moved.bundle_dir(), moved.bundle_trust()) == (tmp_path / "elsewhere", tmp_path / "keys" / "trusted-signers")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bundle:\n  path: usb\n  trust: [a, b]\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(bad)
    assert f"{bad}:3: bundle.trust: " in caught.value.message
