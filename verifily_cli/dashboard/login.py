"""The dashboard's password check, with repeated failures throttled per client address.

Why: Gradio checks ``--auth`` as often as it is asked, so a password can be guessed at network
speed. Gradio accepts a callable for ``auth`` but gives it only the user name and password; the
client's address is taken from the request by a small ASGI middleware (installed through
``launch(app_kwargs=...)``) into a context variable that the check reads.

After :data:`FREE_ATTEMPTS` failures in a row, a client is locked out for a time that doubles with
every further failure (1 s, 2 s, 4 s ... capped at :data:`MAX_LOCKOUT_SECONDS`): during a lockout
every attempt fails *without the password being compared*, so guessing gets no answers. A success
clears the client's record. Behind ``--share`` every client arrives through the tunnel with one
address, so there the lockout is shared by all: slower for a real user, never faster for a guesser.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Tuple

log = logging.getLogger("verifily")

FREE_ATTEMPTS = 5
BASE_LOCKOUT_SECONDS = 1.0
MAX_LOCKOUT_SECONDS = 300.0
MAX_TRACKED_CLIENTS = 10_000  # a flood of addresses must not grow memory without bound
CLIENT: ContextVar[str] = ContextVar("verifily_dashboard_client", default="unknown")


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class ThrottledLogin:
    """``auth=`` for Gradio: True for the right ``user:password``, with failures throttled."""

    def __init__(self, credentials: Tuple[str, str], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._user = credentials[0].encode("utf-8")
        self._password = credentials[1].encode("utf-8")
        self._clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def __call__(self, username: str, password: str) -> bool:
        client, now = CLIENT.get(), self._clock()
        failures = self._failures.get(client)
        if failures is not None and now < failures.locked_until:
            log.warning("dashboard login from %s refused: locked out (%d failures)", client, failures.count)
            return False
        # both compared, always, so the time taken does not tell which one was wrong
        user_ok = hmac.compare_digest(username.encode("utf-8"), self._user)
        password_ok = hmac.compare_digest(password.encode("utf-8"), self._password)
        if user_ok and password_ok:
            self._failures.pop(client, None)
            return True
        self._record_failure(client, now)
        return False

    def locked_for(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when it may now)."""
        failures = self._failures.get(client)
        return max(0.0, failures.locked_until - self._clock()) if failures else 0.0

    def _record_failure(self, client: str, now: float) -> None:
        failures = self._failures.pop(client, None) or _Failures()
        failures.count += 1
        if failures.count >= FREE_ATTEMPTS:
            lockout = BASE_LOCKOUT_SECONDS * 2.0 ** (failures.count - FREE_ATTEMPTS)
            failures.locked_until = now + min(MAX_LOCKOUT_SECONDS, lockout)
        self._failures[client] = failures
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)


class ClientAddress:
    """ASGI middleware: the request's client address into :data:`CLIENT` for :class:`ThrottledLogin`."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client") if scope.get("type") == "http" else None
        token = CLIENT.set(str(client[0]) if client else "unknown")
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT.reset(token)
