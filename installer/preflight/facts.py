"""The host's facts for a step: the ones preflight found, or probed once when no preflight ran.

Apart from :mod:`installer.preflight.step` on purpose: the components' steps call this, and the
preflight report (which asks the component registry for suggestions) must not be imported by them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from installer.bundle.source import run_bundle
from installer.probes import probe_host

if TYPE_CHECKING:
    from installer.engine.plan import StepContext
    from installer.probes.model import HostFacts


def host_facts(ctx: StepContext) -> HostFacts:
    """The facts the preflight step found; probed here (and kept) when no preflight ran."""
    if ctx.facts is None:
        ctx.facts = probe_host(ctx.runner, ctx.host_root, run_bundle(ctx).path)
    return ctx.facts
