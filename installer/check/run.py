"""The REST half of the acceptance check: per catalog entry, start a named server, follow it, stop it.

One test user holds one named server per entry. Whatever happens (a failed spawn, a
timeout, Ctrl-C, SIGTERM), the ``finally`` stops every server the check started, waits
for the hub to let go of them and deletes the user, with SIGINT/SIGTERM held back
meanwhile so a second Ctrl-C cannot leave a server behind. The servers are started, followed and
stopped with a token of the test user's own, which the service mints with an expiry (the whole
run's worst case) and revokes in that ``finally``; the service's token only creates and removes
the user and its token, reads the servers' state and cleans up. The probes inside the pod
are a callable handed in (``probe``), so this module needs no Kubernetes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from installer.check.hub_api import HubApiError, HubClient, SpawnTimeout
from installer.engine.events import EventSink, ItemFinished, LogLine, StepProgress
from installer.errors import InstallerError

STEP_ID: Final = "check"
TEST_USER: Final = "acceptance-check"
"""The test user's name (fixed, so a re-run after a crash finds and removes the old one)."""
USER_SCOPES: Final = ("servers!user",)
"""The test user's token: start, follow and stop its own servers (``!user`` is the token's owner)."""
DEFAULT_TIMEOUT: Final = 600.0
"""Seconds one server may take to become ready (a first pull of a large image takes minutes)."""
CLEANUP_TIMEOUT: Final = 120.0
ENTRY_MARGIN: Final = 300.0
"""Seconds per entry beyond its spawn timeout that the test user's token lives on (probes, stopping)."""
SPAWN_HINT: Final = ("see the hub's log (microk8s kubectl logs -n jupyterhub deploy/hub) and the user pod's events "
                     "(microk8s kubectl get events -n jupyterhub)")


@dataclass(frozen=True)
class ProbeResult:
    """One look inside a running server: what was checked, found, and what to do when it failed."""

    name: str
    ok: bool
    found: str
    hint: str = ""


@dataclass(frozen=True)
class EntryResult:
    """One catalog entry's outcome: started (in ``seconds``) or not (``error``), and its probes."""

    entry: str
    started: bool
    seconds: float
    messages: tuple[str, ...] = ()
    error: str = ""
    hint: str = ""
    probes: tuple[ProbeResult, ...] = ()

    @property
    def ok(self) -> bool:
        """Started and every probe passed."""
        return self.started and not self.error and all(p.ok for p in self.probes)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {"entry": self.entry, "ok": self.ok, "started": self.started, "seconds": round(self.seconds, 1),
                "messages": list(self.messages), "error": self.error, "hint": self.hint,
                "probes": [{"name": p.name, "ok": p.ok, "found": p.found, "hint": p.hint} for p in self.probes]}


@dataclass
class CheckReport:
    """Every entry's result, and whether the clean-up left anything behind."""

    entries: list[EntryResult] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every entry passed and nothing was left behind."""
        return all(e.ok for e in self.entries) and not self.leftovers

    @property
    def failed(self) -> list[str]:
        """Names of the entries that failed."""
        return [e.entry for e in self.entries if not e.ok]


Probe = Callable[[str, str, str], Sequence[ProbeResult]]
"""``probe(entry, user, server)``: the looks inside the running server (``installer.check.probes``)."""


def server_name(entry: str) -> str:
    """The named server for ``entry`` (JupyterHub allows letters, digits, ``-``, ``_``, ``.``)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in entry.lower())
    return ("check-" + cleaned)[:60]


def run_check(client: HubClient, entries: Sequence[str], sink: EventSink, *, user: str = TEST_USER,
              timeout: float = DEFAULT_TIMEOUT, probe: Probe | None = None,
              remove_volumes: Callable[[str], list[str]] | None = None,
              secret: Callable[[str], None] | None = None) -> CheckReport:
    """Start, follow, probe and stop one named server per entry (profile slug) for a fresh test user.

    ``remove_volumes(user)`` deletes the user's home volumes once the user is gone (still with the
    signals held) and returns what it could not delete. ``secret(token)`` is told the test user's token
    as soon as it exists (the caller's Redactor), so no message can show it.

    Raises:
        HubUnreachable / HubApiError: the hub is down or refuses the token (nothing was started).
    """
    client.version()  # a hub that is down fails here, before anything is created
    report = CheckReport()
    started: list[str] = []
    token_id = ""
    try:
        client.create_user(user)
        token_id, token = client.create_token(user, expires_in=token_lifetime(len(entries), timeout),
                                              scopes=USER_SCOPES, note="acceptance check (revoked at its end)")
        if secret is not None:
            secret(token)
        own = client.with_token(token)
        for entry in entries:
            server = server_name(entry)
            started.append(server)
            result = _check_entry(client, own, user, server, entry, sink, timeout, probe)
            report.entries.append(result)
            sink.emit(ItemFinished(step_id=STEP_ID, item=entry, status="ok" if result.ok else "failed",
                                   reason=result.error or "; ".join(p.found for p in result.probes if not p.ok)))
            _stop(own, user, server, sink)
    finally:
        with _signals_held():
            if token_id:
                _revoke(client, user, token_id, sink)
            report.leftovers = _clean_up(client, user, started, sink)
            if remove_volumes is not None:
                volumes = remove_volumes(user)
                for item in volumes:
                    sink.emit(LogLine(level="error", message=f"the check could not remove {item}: "
                                                             "microk8s kubectl delete it", step_id=STEP_ID))
                report.leftovers += volumes
    return report


def token_lifetime(entries: int, timeout: float) -> int:
    """Seconds the test user's token lives: every entry's spawn timeout and margin, and the clean-up."""
    return int(max(entries, 1) * (timeout + ENTRY_MARGIN) + CLEANUP_TIMEOUT)


def _check_entry(client: HubClient, own: HubClient, user: str, server: str, entry: str, sink: EventSink,
                 timeout: float, probe: Probe | None) -> EntryResult:
    """``own`` (the test user's token) starts and follows the server; ``client`` (the service) reads its state."""
    begin = time.monotonic()
    deadline = begin + timeout
    messages: list[str] = []
    try:
        own.start_server(user, server, entry)
        last: dict[str, Any] = {}
        for event in own.progress(user, server, deadline):
            last = event
            message = str(event.get("message") or "")
            if message:
                messages.append(message)
            percent = event.get("progress")
            sink.emit(StepProgress(step_id=STEP_ID, item=entry, done=int(percent) if isinstance(percent, int | float)
                                   else 0, total=100, unit="%", message=message))
        state = client.server(user, server)
        if last.get("failed") or not (last.get("ready") or state.ready):
            reason = messages[-1] if messages else "the spawn ended without the server becoming ready"
            return EntryResult(entry, False, time.monotonic() - begin, tuple(messages), error=reason,
                               hint=SPAWN_HINT)
    except SpawnTimeout as error:
        return EntryResult(entry, False, time.monotonic() - begin, tuple(messages), error=error.message,
                           hint=f"the server was not ready after {timeout:.0f} s: a large image may still be "
                                "pulling, or the pod cannot be scheduled (GPUs, memory); raise --timeout or "
                                "look at the pod's events")
    except HubApiError as error:  # a spawn that dies early fails the start request itself (HTTP 500)
        return EntryResult(entry, False, time.monotonic() - begin, tuple(messages), error=error.message,
                           hint=error.hint or SPAWN_HINT)
    seconds = time.monotonic() - begin
    probes: tuple[ProbeResult, ...] = ()
    if probe is not None:
        probes = tuple(probe(entry, user, server))
    return EntryResult(entry, True, seconds, tuple(messages), probes=probes)


def _stop(client: HubClient, user: str, server: str, sink: EventSink) -> None:
    client.stop_server(user, server)
    sink.emit(LogLine(level="info", message=f"stopped {user}/{server}", step_id=STEP_ID))


def _revoke(client: HubClient, user: str, token_id: str, sink: EventSink) -> None:
    """Revoke the test user's token (deleting the user would too; this also covers a user left behind)."""
    try:
        client.revoke_token(user, token_id)
    except InstallerError as error:
        sink.emit(LogLine(level="warning", message=f"the check could not revoke its token for {user} "
                                                   f"({error.message}); it expires by itself", step_id=STEP_ID))


def _clean_up(client: HubClient, user: str, servers: list[str], sink: EventSink) -> list[str]:
    """Stop every server, wait until the hub lets go of them, delete the user; what could not be removed."""
    deadline = time.monotonic() + CLEANUP_TIMEOUT
    left: list[str] = []
    try:
        for server in servers:
            while True:
                try:
                    state = client.server(user, server)
                except HubApiError as error:
                    if error.status == 404:  # the user is gone already
                        return []
                    raise
                if not state.exists:
                    break
                if state.pending != "stop":
                    with contextlib.suppress(HubApiError):  # 400 while a stop is settling: wait and retry
                        client.stop_server(user, server)
                if time.monotonic() > deadline:
                    left.append(f"server {user}/{server}")
                    break
                time.sleep(0.5)
        while True:
            try:
                client.delete_user(user)
                break
            except HubApiError as error:
                if error.status != 400 or time.monotonic() > deadline:  # 400: a server is still stopping
                    raise
                time.sleep(0.5)
    except InstallerError as error:
        left.append(f"user {user} ({error.message})")
    for item in left:
        sink.emit(LogLine(level="error", message=f"the check could not remove {item}: remove it in the hub's "
                                                 "admin page", step_id=STEP_ID))
    return left


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back during the clean-up (main thread only), then deliver them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, _frame: caught.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])
