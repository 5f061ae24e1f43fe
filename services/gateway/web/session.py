"""Browser sessions of the review UI: a sealed cookie and its CSRF token.

The cookie holds the session (the API key a person signed in with, a CSRF token, an expiry)
encrypted with AES-256-GCM under a subkey of the gateway's key pepper or LANGGRAPH_AES_KEY, so
any replica opens it and nothing in the browser reads the key: the cookie is HttpOnly,
SameSite=Strict and Secure over HTTPS. Without a server secret (local mode) the subkey is random
per process. Every page hands out a session, in local mode too, so every form carries a token
that a page of another site cannot know.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes
from fastapi import Request, Response

from services.gateway.sealed import derive

COOKIE = "autopilot_session"
CSRF_FIELD = "csrf_token"
LIFETIME_SECONDS = 8 * 3600
_AD = b"autopilot-web-session-v1"


def _token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """One browser's session: the API key it signed in with (None: local mode or signed out)."""

    csrf: str = field(default_factory=_token)
    key: str | None = None
    expires: float = field(default_factory=lambda: time.time() + LIFETIME_SECONDS)
    new: bool = False

    def valid_csrf(self, sent: str | None) -> bool:
        """Whether a form's token is this session's (constant time)."""
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), (sent or "").encode())


class Sessions:
    """Seals sessions into cookie values and opens them again."""

    def __init__(self, secret: bytes | None) -> None:
        self._key = derive(secret, b"autopilot-web-sessions") if secret else get_random_bytes(32)

    def seal(self, session: Session) -> str:
        """base64url(nonce + tag + ciphertext) of the session."""
        nonce = get_random_bytes(12)
        aes = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=16)
        aes.update(_AD)
        data = json.dumps({"c": session.csrf, "k": session.key, "e": session.expires})
        ciphertext, tag = aes.encrypt_and_digest(data.encode())
        return base64.urlsafe_b64encode(nonce + tag + ciphertext).decode().rstrip("=")

    def open(self, value: str | None) -> Session | None:
        """The session a cookie holds; None when it is missing, forged, from another key or old."""
        if not value or len(value) > 4096:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            aes = AES.new(self._key, AES.MODE_GCM, nonce=raw[:12], mac_len=16)
            aes.update(_AD)
            data = json.loads(aes.decrypt_and_verify(raw[28:], raw[12:28]))
            session = Session(csrf=str(data["c"]), key=data["k"], expires=float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def current(self, request: Request) -> Session:
        """The request's session, or a fresh one (`new`: the response must set the cookie)."""
        return self.open(request.cookies.get(COOKIE)) or Session(new=True)

    def store(self, request: Request, response: Response, session: Session) -> None:
        """Set the cookie: HttpOnly, SameSite=Strict, Secure when the page came over HTTPS."""
        response.set_cookie(
            COOKIE,
            self.seal(session),
            max_age=max(int(session.expires - time.time()), 0),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear(response: Response) -> None:
        """Forget the session (sign out)."""
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
