"""The acceptance check as the last step of an install (on by default; ``--no-check`` leaves it out).

It starts a server with each offered image through the hub's API (reached through a
``kubectl port-forward``), looks inside each pod, removes the test user and its volumes,
and hands the result table back in the run's results. A failed entry fails the step
(exit 1) naming it; every earlier step stays done, so a re-run only checks again.
"""

from __future__ import annotations

from typing import Any

from installer.check.cluster import hub_forward, remove_volumes
from installer.check.hub_api import HubClient
from installer.check.probes import make_probe
from installer.check.report import report_dict
from installer.check.run import DEFAULT_TIMEOUT, STEP_ID, run_check
from installer.check.token import read_token
from installer.components.jupyterhub.settings import JupyterHubSettings
from installer.components.jupyterhub.values import offered_images
from installer.engine.plan import Step, StepContext
from installer.errors import StepFailed

FORWARD_LOG = "check-port-forward.log"


class AcceptanceCheckStep(Step):
    """Start, probe and remove a server per catalog entry through the hub's REST API."""

    id = STEP_ID
    title = "Check: start a server with each notebook image"
    component = "jupyterhub"

    def __init__(self, settings: JupyterHubSettings, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.settings = settings
        self.timeout = timeout

    def inputs(self) -> Any:
        """The entries checked."""
        return {"id": self.id, "entries": [i.name for i in offered_images(self.settings)]}

    def is_done(self, ctx: StepContext) -> bool:
        """Never: each run proves it again."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Check every offered entry; fail naming the ones that did not pass."""
        images = {image.name: image for image in offered_images(self.settings)}
        namespace = self.settings.namespace
        if ctx.dry_run:
            ctx.log(f"would start a server with each of {', '.join(images)} as user acceptance-check through "
                    "the hub's API, look inside each pod, then remove the servers, the user and its volumes")
            return
        token = read_token(ctx.state_dir)
        ctx.runner.redact.add(token)
        with hub_forward(ctx.runner, namespace, ctx.state_dir / FORWARD_LOG) as url:
            client = HubClient(url, token)
            report = run_check(client, list(images), ctx.sink, timeout=self.timeout, secret=ctx.runner.redact.add,
                               probe=make_probe(client, ctx.runner, images, namespace),
                               remove_volumes=lambda user: remove_volumes(ctx.runner, namespace, user))
        ctx.results.check = report_dict(report, url)
        if not report.ok:
            names = ", ".join(report.failed) or "clean-up"
            what = f"left behind: {', '.join(report.leftovers)}" if report.leftovers and not report.failed else ""
            raise StepFailed(f"the acceptance check failed: {names}" + (f" ({what})" if what else ""),
                             "the table below says what each probe found; fix it and run the install again "
                             "(only the check runs again), or ./install.sh check")
