"""The wizard's GPU sharing choice (issue 15): on Components, and the slice columns of the catalog table."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import RadioButton

from installer.tui.app import InstallerApp
from installer.tui.screens.components import ComponentsScreen
from installer.tui.screens.jupyterhub import JupyterHubScreen
from installer.tui.screens.review import ReviewScreen
from installer.tui.widgets.catalog import CatalogTable

from .test_wizard_flow import SIZE, settle, text_of
from .wizard_fakes import fake_plan, fixed_preflight, make_session


def _labels(table: CatalogTable) -> list[str]:
    return [str(column.label) for column in table.columns.values()]


async def test_sharing_choice_reaches_the_profile_and_shows_the_slice_columns(tmp_path: Path, monkeypatch) -> None:
    fixed_preflight(monkeypatch)
    fake_plan(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ComponentsScreen)
        assert app.screen.query_one("#sharing-none", RadioButton).value is True
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, JupyterHubScreen)
        assert "GPU mem" not in _labels(app.screen.query_one(CatalogTable))  # sharing off: no slice columns
        await pilot.press("escape")
        assert isinstance(app.screen, ComponentsScreen)
        hami = app.screen.query_one("#sharing-hami", RadioButton)
        assert "slice of GPU memory and cores" in str(hami.label)
        hami.value = True
        await pilot.pause()
        assert app.session.model.profile.gpu_sharing.mode == "hami"
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, JupyterHubScreen)
        assert {"GPU mem", "GPU %"} <= set(_labels(app.screen.query_one(CatalogTable)))
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert "GPU sharing" in text_of(app, "#choices")
