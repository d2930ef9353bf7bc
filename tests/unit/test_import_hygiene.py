"""The engine and the headless mode never import Textual or Rich (the wizard is only a front end)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import installer

REPO = Path(__file__).resolve().parents[2]


def _engine_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(installer.__path__, "installer."):
        if info.name.startswith("installer.tui") or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def test_engine_modules_do_not_load_textual_or_rich() -> None:
    modules = _engine_modules()
    assert "installer.engine.runner" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "", f"engine modules pulled in: {done.stdout.strip()}"
