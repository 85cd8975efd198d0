"""Browser sessions: a token typed once becomes an HttpOnly, SameSite=Strict cookie.

The cookie holds only a random session id; the server keeps the token it stands for and
checks it again on every request, so a revoked token signs its sessions out at once. Each
session has its own CSRF secret, which every form that changes something carries back.
Sessions live in the server's memory: a restarted server asks everyone to sign in again.

``shipyard ui`` signs a browser in without pasting: the CLI, holding a token, asks for a
one-time link (``POST /api/v1/ui/links``) that opens a session for that token, once,
within ``LINK_S`` seconds — at once when the user opened it themself, else after a click
(see ``pages.signin_link``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "shipyard_session"
LIFETIME_S = 12 * 3600  # a working day; signing in again is one paste of the token
MAX_SESSIONS = 10_000  # the oldest are dropped beyond this: memory stays bounded
LINK_S = 60.0  # a sign-in link opens a session once, within this many seconds
MAX_LINKS = 1_000


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in browser."""

    id: str
    token: str = field(repr=False)  # the Authorization header value it stands for: a secret
    csrf: str
    expires_at: float

    def checks(self, csrf: str | None) -> bool:
        """Whether a form's CSRF field is this session's."""
        return csrf is not None and hmac.compare_digest(csrf.encode(), self.csrf.encode())


class Sessions:
    """The signed-in browsers of one server process."""

    def __init__(self, lifetime_s: float = LIFETIME_S) -> None:
        self._lifetime_s = lifetime_s
        self._by_id: dict[str, Session] = {}
        self._links: dict[str, tuple[str, float]] = {}  # link secret: (token, expires at)
        self._lock = threading.Lock()

    def open(self, token: str) -> Session:
        """A new session for an accepted token."""
        session = Session(
            secrets.token_urlsafe(32),
            token,
            secrets.token_urlsafe(32),
            time.monotonic() + self._lifetime_s,
        )
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                oldest = min(self._by_id.values(), key=lambda s: s.expires_at)
                del self._by_id[oldest.id]
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session a cookie names, if any."""
        if not session_id:
            return None
        with self._lock:
            found = self._by_id.get(session_id)
            if found is not None and found.expires_at <= time.monotonic():
                del self._by_id[session_id]
                return None
        return found

    def close(self, session_id: str) -> None:
        """Sign a browser out."""
        with self._lock:
            self._by_id.pop(session_id, None)

    def link(self, token: str) -> str:
        """A one-time sign-in secret for an accepted token (see the module's docstring)."""
        secret = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._links = {k: v for k, v in self._links.items() if v[1] > now}
            if len(self._links) >= MAX_LINKS:
                del self._links[next(iter(self._links))]
            self._links[secret] = (token, now + LINK_S)
        return secret

    def peek(self, secret: str) -> str | None:
        """The token a live link stands for, leaving the link as it is."""
        with self._lock:
            found = self._links.get(secret)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def redeem(self, secret: str) -> str | None:
        """The token a link stands for, once; None when unknown, used or expired."""
        with self._lock:
            found = self._links.pop(secret, None)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]
