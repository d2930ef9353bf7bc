"""The installer's own Python packages, as wheels, so ``install.sh`` needs no network at all.

``pip download`` resolves the installer and its dependencies for each target Python
(Ubuntu 22.04 ships 3.10, 24.04 ships 3.12) as manylinux x86_64 binary wheels, from
this connected machine, whatever its own Python is. The installer's wheel is built
from a copy of the source tree (so the build leaves no ``build/`` folder in the
checkout), and pip's own wheel comes along: Ubuntu servers often lack
``python3-venv``'s ensurepip, and ``install.sh`` then runs pip straight from it.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from installer.bundle.manifest import WheelEntry
from installer.bundle.safefile import bundle_path
from installer.engine.commands import CommandRunner
from installer.engine.events import EventSink, LogLine, NullSink
from installer.errors import BundleError
from installer.export.archive import file_sha256

_LOGGER: Final = logging.getLogger(__name__)

WHEELS_DIR: Final = "wheels"
PYTHON_VERSIONS: Final = ("3.10", "3.12")
"""Ubuntu 22.04 and 24.04's python3."""
PLATFORMS: Final = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
"""Wheel platform tags accepted; glibc 2.28 is older than both Ubuntu targets' (2.35, 2.39).
pip does not widen a ``manylinux_2_x`` tag by itself, so each one is listed."""
EXTRA_REQUIREMENTS: Final = ("pip",)
"""Installed next to the installer: ``install.sh`` bootstraps a venv with no ensurepip from it."""
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
_SOURCE_ITEMS: Final = ("pyproject.toml", "README.md", "installer")
PIP_TIMEOUT: Final = 1800.0


def _source_copy(project_root: Path, workdir: Path) -> Path:
    """A throw-away copy of what the wheel is built from (no caches, no venv, no bundle)."""
    target = workdir / "src"
    target.mkdir()
    for name in _SOURCE_ITEMS:
        source = project_root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, target / name)
    if not (target / "README.md").exists():  # pyproject names it; the wheel build fails without one
        (target / "README.md").write_text("JupyterHub offline installer\n")
    if not (target / "pyproject.toml").is_file():
        msg = f"{project_root} has no pyproject.toml: cannot build the installer's wheel"
        raise BundleError(msg, "Run export from the installer's checkout (the folder with install.sh).")
    return target


def download_wheels(runner: CommandRunner, out_dir: Path, *, python_versions: Sequence[str] = PYTHON_VERSIONS,
                    platforms: Sequence[str] = PLATFORMS, project_root: Path = PROJECT_ROOT,
                    python: str = sys.executable, sink: EventSink | None = None,
                    step_id: str = "wheels") -> list[WheelEntry]:
    """Build the installer's wheel and download its dependencies into ``out_dir/wheels``.

    Returns:
        One manifest entry per wheel in the folder afterwards.

    Raises:
        CommandFailed: pip could not build or download (the error carries pip's output).
    """
    sink = sink or NullSink()
    dest = out_dir / WHEELS_DIR
    dest.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        if line.strip():
            sink.emit(LogLine(level="debug", message=line, step_id=step_id))

    with tempfile.TemporaryDirectory(prefix="installer-wheel-") as tmp:
        source = _source_copy(project_root, Path(tmp))
        built = Path(tmp) / "built"
        runner.run([python, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                    "--wheel-dir", str(built), str(source)],
                   timeout=PIP_TIMEOUT, mutates=True, on_stdout_line=log,
                   hint="Building the installer's wheel needs setuptools from PyPI: check access to PyPI.")
        own = sorted(built.glob("*.whl"))
        if len(own) != 1:
            msg = f"pip wheel built {len(own)} wheels instead of the installer's one in {built}"
            raise BundleError(msg, "Check the pip output in the log file.")
        installer_wheel = dest / own[0].name
        shutil.copyfile(own[0], installer_wheel)
    for version in python_versions:
        argv = [python, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(dest),
                "--only-binary=:all:", "--implementation", "cp", "--python-version", version]
        for platform in platforms:
            argv += ["--platform", platform]
        argv += [str(installer_wheel), *EXTRA_REQUIREMENTS]
        sink.emit(LogLine(level="info", message=f"downloading wheels for Python {version}", step_id=step_id))
        runner.run(argv, timeout=PIP_TIMEOUT, mutates=True, on_stdout_line=log,
                   hint=f"pip needs PyPI to find manylinux x86_64 wheels for Python {version}: "
                        "check access to PyPI (or a mirror set in pip.conf).")
    entries = []
    for path in sorted(dest.glob("*.whl")):
        real = bundle_path(out_dir, f"{WHEELS_DIR}/{path.name}")  # a link out of the bundle is refused, unread
        entries.append(WheelEntry(file=f"{WHEELS_DIR}/{path.name}", sha256=file_sha256(real), size=real.stat().st_size))
    return entries
