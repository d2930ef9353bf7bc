"""Secrets: a run whose profile holds the hub's shared password and a registry pull-secret token.

What the operator must see: neither secret anywhere on the screen (stdout, stderr,
text or ``--output jsonl``), in the log file, in the journal or in a saved profile
(unless they ask for secrets to be saved); not even when a command fails and its
output quotes the values file. Every file that does hold a secret is mode 0600 in a
root-only (0700) folder. The secrets are chosen to defeat naive masking: quotes
that YAML and JSON escape, and a length that YAML would fold across lines.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from installer.config.profile import dump_profile, load_profile
from installer.engine.commands import serialized_forms
from tests.faults.support import cli, fake_install_argv, finish, make_host, make_install_bundle, start, write_profile

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")

PASSWORD = ("correct horse battery staple: it's the hub's long shared passphrase, spelt ünïcode, "
            "that YAML would fold at eighty columns")
TOKEN = "ghp_R3g1stryT0ken\\with$backslash"
PULL_SECRET = {"registry": "harbor.lab:5000", "username": "robot$notebooks", "password": TOKEN, "email": "ops@lab"}


def _forms() -> set[str]:
    """Every way the secrets could be spelt in output (raw, JSON-escaped, YAML-quoted), and telling pieces."""
    forms = set()
    for secret in (PASSWORD, TOKEN):
        forms |= serialized_forms(secret)
    return forms | {"battery staple", "R3g1stryT0ken"}


def _leaks(text: str) -> list[str]:
    return sorted(form for form in _forms() if form in text)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    bundle = make_install_bundle(tmp_path)
    profile = write_profile(tmp_path / "profile.yaml", bundle, auth={"type": "dummy", "password": PASSWORD},
                            image_pull_secret=PULL_SECRET)
    state = tmp_path / "var" / "state"
    state.mkdir(parents=True, mode=0o755)  # left world-readable by hand: the install must tighten it
    os.chmod(state, 0o755)
    return {"profile": profile, "state": state, "host": make_host(tmp_path / "host"),
            "log": tmp_path / "var" / "log" / "install.log", "cluster": tmp_path / "cluster.json", "root": tmp_path}


def _secret_files(*folders: Path) -> list[Path]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and _leaks(path.read_text(errors="replace")):
                found.append(path)
    return found


def test_secrets_stay_off_screen_log_journal_and_saved_profile(setup: dict[str, Path]) -> None:
    """A whole install (JSON events, then text with --verbose on the re-run): no secret in any output or the log;
    the values file holds both, exactly, mode 0600 in a 0700 state folder."""
    argv = fake_install_argv(setup["cluster"], setup["profile"], setup["state"], setup["host"], setup["log"])
    code, out, err = finish(start([*argv, "--output", "jsonl"]))
    assert code == 0, err
    assert _leaks(out) == [] and _leaks(err) == []
    for line in out.splitlines():
        assert _leaks(json.dumps(json.loads(line))) == []
    code, out, err = finish(start([*argv, "--verbose"]))
    assert code == 0, err
    assert _leaks(out + err) == []
    assert _leaks(setup["log"].read_text()) == []
    assert setup["log"].stat().st_mode & 0o777 == 0o600
    assert setup["log"].parent.stat().st_mode & 0o777 == 0o700
    assert _leaks((setup["state"] / "journal.json").read_text()) == []

    # The secrets are really used (the test would pass vacuously otherwise) ...
    values = yaml.safe_load((setup["state"] / "jupyterhub-values.yaml").read_text())
    assert values["hub"]["config"]["DummyAuthenticator"]["password"] == PASSWORD
    assert values["imagePullSecret"] == {"create": True, "automaticReferenceInjection": True, **PULL_SECRET}
    # ... and every file holding them is private, in a private folder.
    holders = _secret_files(setup["state"], setup["log"].parent)
    # The installed record keeps the profile with its secrets: an upgrade re-renders the same values.
    assert sorted(holders) == [setup["state"] / "installed" / "profile.yaml", setup["state"] / "jupyterhub-values.yaml"]
    for path in holders:
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent


def test_a_failing_command_that_quotes_the_values_is_masked(setup: dict[str, Path]) -> None:
    """Helm fails and prints the values it was given (secrets included): the error on screen, the JSON events and
    the log show *** instead."""
    argv = fake_install_argv(setup["cluster"], setup["profile"], setup["state"], setup["host"], setup["log"],
                             "--output", "jsonl", helm_fail_echo=True)
    code, out, err = finish(start(argv))
    assert code == 1
    assert "INSTALLATION FAILED" in out and "***" in out  # the failure is shown, masked
    assert "error: `microk8s helm3 upgrade --install jupyterhub" in err
    assert _leaks(out) == [] and _leaks(err) == [] and _leaks(setup["log"].read_text()) == []


def test_saved_profiles_leave_secrets_out_unless_asked(setup: dict[str, Path], tmp_path: Path) -> None:
    """The profile a run is saved as (wizard, `dump_profile`) holds no secret unless asked, says so, and is refused
    on replay until the placeholders are replaced; with secrets asked for, it round-trips."""
    profile = load_profile(setup["profile"])
    text = dump_profile(profile)
    assert _leaks(text) == []
    assert "jupyterhub.auth.password" in text and "jupyterhub.image_pull_secret.password" in text  # the header says
    saved = tmp_path / "saved.yaml"
    saved.write_text(text)
    replay = cli("--profile", str(saved), "--dry-run")
    assert replay.returncode == 2
    assert "placeholder" in replay.stderr and "image_pull_secret" in replay.stderr

    with_secrets = dump_profile(profile, include_secrets=True)
    saved.write_text(with_secrets)
    again = load_profile(saved)
    assert again.secrets() == [PASSWORD, TOKEN]


def test_plan_writes_secrets_only_into_private_files(setup: dict[str, Path], tmp_path: Path) -> None:
    """`plan --out DIR` (a reviewer's copy of the values): the file is 0600 in a folder created 0700; stdout and
    stderr hold no secret."""
    out = tmp_path / "review" / "plan"
    done = cli("plan", "--profile", str(setup["profile"]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _leaks(done.stdout + done.stderr) == []
    values = out / "jupyterhub-values.yaml"
    assert values.stat().st_mode & 0o777 == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert PASSWORD in yaml.safe_load(values.read_text())["hub"]["config"]["DummyAuthenticator"]["password"]


def test_a_dry_run_shows_the_values_file_with_secrets_masked(setup: dict[str, Path]) -> None:
    """`--dry-run` prints every file it would write: the values file appears, its secrets as ***."""
    done = cli("--profile", str(setup["profile"]), "--dry-run", "--host-root", str(setup["host"]),
               "--state-dir", str(setup["root"] / "dry-state"))
    assert done.returncode == 2, done.stderr  # the bundle has no images: the real run would stop at bundle-check
    assert "would write" in done.stdout and "jupyterhub-values.yaml" in done.stdout
    assert "DummyAuthenticator" in done.stdout and "***" in done.stdout
    assert _leaks(done.stdout + done.stderr) == []


@pytest.mark.parametrize("text", ['jupyterhub:\n  image_pull_secret: "robot:TOKENxyz123"\n',
                                  'jupyterhub:\n  auth: "robot:TOKENxyz123"\n'])
def test_a_string_given_for_a_section_holding_a_secret_is_not_echoed(tmp_path: Path, text: str) -> None:
    """Operators paste the credential where a mapping belongs: the error names the key, never the value."""
    from installer.config.profile import parse_profile
    from installer.errors import ProfileError

    with pytest.raises(ProfileError) as caught:
        parse_profile(text, tmp_path / "p.yaml")
    assert "TOKENxyz123" not in caught.value.message + caught.value.hint
    assert "p.yaml:2" in caught.value.message


# --- hostile passwords: every way a profile can spell one, and every way it can leave -------------------------------

HOSTILE = {
    # name: (how the profile spells it, the value it means, words that must never show)
    "block": ("|\n      Zebra7q first line\n      second: Quokka9x # hash & *star\n",
              "Zebra7q first line\nsecond: Quokka9x # hash & *star\n", ["Zebra7q", "Quokka9x"]),
    "block-strip": ("|-\n      it's Wombat3k \"dq\" &anchor\n      *alias: Narwhal5z\n",
                    "it's Wombat3k \"dq\" &anchor\n*alias: Narwhal5z", ["Wombat3k", "Narwhal5z"]),
    "folded": (">\n      Ocelot4f folded\n      words here\n\n      Lemur8p para\n",
               "Ocelot4f folded words here\nLemur8p para\n", ["Ocelot4f", "Lemur8p"]),
    "spaces": ("'  Jackal2s spaced ''quote'' #x  '", "  Jackal2s spaced 'quote' #x  ", ["Jackal2s"]),
    "escapes": ('"Tapir6e \\u00fcn\\u00efcode\\ttab\\nnew Gecko1b \\\\ back & more"',
                "Tapir6e ünïcode\ttab\nnew Gecko1b \\ back & more", ["Tapir6e", "Gecko1b", "ünïcode"]),
}


def _hostile_profile(root: Path, spelling: str) -> Path:
    """A dummy-auth profile whose password is written exactly as ``spelling`` (YAML source text)."""
    bundle = make_install_bundle(root)
    path = write_profile(root / "profile.yaml", bundle, auth={"type": "dummy", "password": "PLACEHOLDER-PW"})
    text = path.read_text()
    assert "password: PLACEHOLDER-PW\n" in text
    path.write_text(text.replace("PLACEHOLDER-PW", spelling, 1))
    return path


def _shown(words: list[str], *texts: str) -> list[str]:
    """The secret's words found in ``texts``, also inside each JSON line's decoded strings."""
    found = {word for word in words for text in texts if word in text}
    for text in texts:
        for line in text.splitlines():
            if line.startswith("{"):
                decoded = json.dumps(json.loads(line), ensure_ascii=False)
                found |= {word for word in words if word in decoded}
    return sorted(found)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_password_is_kept_exactly_and_masked_in_every_dry_run_output(tmp_path: Path, case: str) -> None:
    """Multi-line (block, folded), quoted, escaped, spaced passwords with `#`, `: `, `&`, `*`, unicode: the profile
    keeps each exactly (no stripped spaces) and the dry-run shows none of it, in text with -v nor in JSON lines."""
    spelling, value, words = HOSTILE[case]
    profile = _hostile_profile(tmp_path, spelling)
    assert load_profile(profile).secrets() == [value]
    host = make_host(tmp_path / "host")
    for output in (["--verbose"], ["--output", "jsonl"]):
        done = cli("--profile", str(profile), "--dry-run", "--host-root", str(host),
                   "--state-dir", str(tmp_path / "dry-state"), *output)
        assert done.returncode == 2, done.stderr  # no images in the bundle: a real run would stop at bundle-check
        assert "DummyAuthenticator" in done.stdout  # the values file is shown ...
        assert _shown(words, done.stdout, done.stderr) == []  # ... without the password


@pytest.mark.parametrize("case", ["block", "spaces"])
def test_a_hostile_password_stays_off_a_real_runs_json_lines_and_log(tmp_path: Path, case: str) -> None:
    """A real (MicroK8s-twin) install with a multi-line or spaced password: JSON lines and log hold none of it; the
    values file Helm gets holds it exactly, spaces included."""
    spelling, value, words = HOSTILE[case]
    profile = _hostile_profile(tmp_path, spelling)
    state, log = tmp_path / "state", tmp_path / "log" / "install.log"
    argv = fake_install_argv(tmp_path / "cluster.json", profile, state, make_host(tmp_path / "host"), log,
                             "--output", "jsonl")
    code, out, err = finish(start(argv))
    assert code == 0, err
    assert any(json.loads(line)["event"] == "file" for line in out.splitlines())  # the values file is reported
    assert _shown(words, out, err, log.read_text()) == []
    values = yaml.safe_load((state / "jupyterhub-values.yaml").read_text())
    assert values["hub"]["config"]["DummyAuthenticator"]["password"] == value
