"""One run context: the bundle folder worked out once, its manifest parsed once, results handed back."""

from __future__ import annotations

from pathlib import Path

from installer.bundle import manifest as manifest_module
from installer.config.profile import Profile, load_profile
from installer.demo.prepare import prepare_demo
from installer.engine.events import CollectingSink
from installer.install_run import InstallOptions, run_install

REPO = Path(__file__).resolve().parents[2]


def _count_parses(monkeypatch) -> list[object]:
    """Record every validation of a manifest document, whoever reads the file."""
    calls: list[object] = []
    original = manifest_module.Manifest.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls, *args, **kwargs):
        calls.append(args[0] if args else None)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(manifest_module.Manifest, "model_validate", classmethod(counting))
    return calls


def test_demo_dry_run_parses_the_manifest_once(tmp_path: Path, monkeypatch) -> None:
    """`./install.sh --demo --profile profiles/cpu.yaml --dry-run`: every step shares one parse (it was ten)."""
    with prepare_demo(tmp_path / "demo", start_containerd=False, keep_dir=tmp_path / "keep") as demo:
        options = demo.options_for(load_profile(REPO / "profiles" / "cpu.yaml"))
        assert options.dry_run
        calls = _count_parses(monkeypatch)
        sink = CollectingSink()
        result = run_install(options, sink)
    assert result.exit_code == 0, result.error
    assert len(calls) == 1


def test_the_bundle_override_is_the_one_folder_every_part_sees(tmp_path: Path) -> None:
    """`--bundle` wins over the profile's folder in the options, the plan options and the profile copy alike."""
    profile = Profile(bundle=tmp_path / "from-profile")
    override = tmp_path / "sub" / ".." / "given"
    options = InstallOptions(profile=profile, bundle_dir=override, state_dir=tmp_path / "state")
    expected = (tmp_path / "given").resolve()
    assert options.bundle() == expected
    assert options.plan_options().bundle(profile) == expected
    assert profile.with_bundle(override).bundle_dir() == expected
    assert profile.bundle_dir(override) == expected
    assert InstallOptions(profile=profile).bundle() == tmp_path / "from-profile"
