"""The few lines an install leaves in the terminal when it ends, like ``helm install``'s notes.

The headless mode prints them after the run and the wizard after its app has left
the screen, so both say the same: where the hub is (as the install step read it,
from the run result), how to log in (the admin users; never a password), the saved
profile and the log file; or, when the run failed, one line with the step and the
exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from installer.headless.console import human_bytes

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.engine.runner import RunResult


def login_line(profile: Profile, url: str | None) -> str:
    """How the first users get in: the admins by name, and where (never the password)."""
    hub = profile.jupyterhub
    admins = ", ".join(hub.admin_users) or "-"
    if hub.auth.type == "native":
        where = f" at {url}hub/signup" if url and "<" not in url else ""
        return (f"Log in: sign up as an admin ({admins}){where}; admins are approved at once, "
                "then approve other users at /hub/authorize")
    return f"Log in: as an admin ({admins}) or an allowed user, with the shared password from the profile"


def summary_lines(result: RunResult | None, profile: Profile, *, log_file: Path | None = None,
                  saved_profile: Path | None = None, simulated: str = "") -> list[str]:
    """The end-of-run lines for ``result`` (``None``: the install never started).

    ``simulated`` is said beside the URL when nothing real answers there (``dry-run``, ``simulated MicroK8s``).
    """
    files = [f"Profile: {saved_profile}"] if saved_profile is not None else []
    if log_file is not None:
        files.append(f"Log: {log_file}")
    if result is None:
        return files if saved_profile is not None else []  # nothing ran and nothing was kept: nothing to say
    if not result.ok:
        return [failure_line(result, dry_run=simulated == "dry-run"), *check_lines(result, simulated), *files]
    lines = []
    url = result.results.hub_url
    if url:
        lines.append(f"JupyterHub would be at {url} ({simulated})" if simulated else f"JupyterHub is at {url}")
        lines.append(login_line(profile, url))
    images = result.results.images
    if images is not None:
        done = (f"{images.would_import} would be imported ({human_bytes(images.bytes_to_import)})"
                if images.would_import else f"{images.imported} imported ({human_bytes(images.bytes_imported)})")
        text = f"Images: {done}, {images.present} already present"
        lines.append(text + (f", {images.failed} failed" if images.failed else ""))
    return [*lines, *check_lines(result, simulated), *files]


def check_lines(result: RunResult, simulated: str = "") -> list[str]:
    """The acceptance check's table (``./install.sh check``'s), headed by how many entries passed."""
    from installer.check.report import headed_table

    return headed_table(result.results.check, simulated)


def failure_line(result: RunResult, *, dry_run: bool = False) -> str:
    """One line: what stopped the run, at which step, and the exit code (a dry-run: where a real run would stop)."""
    step = next((o for o in result.outcomes if o.status == "failed"), None)
    where = f" at step {step.step_id}" if step is not None else ""
    reason = (step.reason if step is not None else result.error.message if result.error is not None else "")
    reason = reason.strip().splitlines()[0] if reason.strip() else ""
    verb = "was interrupted" if result.status == "interrupted" else "failed"
    subject = "The dry-run" if dry_run and result.status == "interrupted" else "A real run would" if dry_run \
        else "The install"
    if dry_run and result.status != "interrupted":
        verb = "fail"
    return f"{subject} {verb}{where} (exit {int(result.exit_code)})" + (f": {reason}" if reason else "")
