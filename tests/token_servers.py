"""A token authority for tests: token endpoints that check credentials and count their calls,
and an API that accepts only the tokens they issued (until those expire or are revoked).

    issuer = TokenIssuer(lifetime_s=3600)
    server.route("/login", issuer.password_endpoint(username="ada", password="pw"))
    server.route("/api", issuer.protected(json_reply({"ok": True})))

Every handler runs on the ``LocalServer`` threads; the issuer is thread-safe.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import jwt as pyjwt
from jwcrypto import jwk, jws

from tests.servers import Handler, RecordedRequest, Reply

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenIssuer:
    """Issues tokens, remembers when each expires, and judges ``Authorization`` headers."""

    def __init__(self, *, lifetime_s: float = 3600, jwt_tokens: bool = False) -> None:
        self.lifetime_s = lifetime_s
        self.jwt_tokens = jwt_tokens
        self._expiry: dict[str, float] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.assertions: list[dict[str, Any]] = []

    # -- issuing ---------------------------------------------------------------------------
    def issue(self) -> str:
        with self._lock:
            number = next(self._numbers)
            expires = time.time() + self.lifetime_s
            if self.jwt_tokens:
                token = pyjwt.encode(
                    {"sub": "api-user", "n": number, "exp": int(expires)},
                    "issuer-signing-secret-of-32-bytes!",
                    algorithm="HS256",
                )
            else:
                token = f"token-{number}"
            self._expiry[token] = expires
            return token

    @property
    def issued(self) -> int:
        with self._lock:
            return len(self._expiry)

    def revoke_all(self) -> None:
        with self._lock:
            self._expiry = dict.fromkeys(self._expiry, 0.0)

    def accepts(self, authorization: str | None, *, prefix: str = "Bearer") -> bool:
        if not authorization:
            return False
        expected = f"{prefix} " if prefix else ""
        if not authorization.startswith(expected):
            return False
        token = authorization[len(expected) :]
        with self._lock:
            return self._expiry.get(token, 0.0) > time.time()

    # -- endpoints -------------------------------------------------------------------------
    def oauth_endpoint(
        self,
        *,
        client_id: str,
        client_secret: str,
        expires_in: bool = True,
        check: Callable[[dict[str, str]], None] | None = None,
    ) -> Handler:
        """RFC 6749 client credentials: client_secret_post or client_secret_basic."""

        def handle(request: RecordedRequest) -> Reply:
            form = request.form()
            basic = _basic_pair(request.header("authorization"))
            given = basic or (form.get("client_id"), form.get("client_secret"))
            if form.get("grant_type") != "client_credentials":
                return Reply.json({"error": "unsupported_grant_type"}, status=400)
            if given != (client_id, client_secret):
                return Reply.json({"error": "invalid_client"}, status=401)
            if check:
                check(form)
            return self._answer(expires_in)

        return handle

    def jwt_bearer_endpoint(self, *, verifying_key: jwk.JWK, algorithm: str) -> Handler:
        """RFC 7523: verify the assertion's signature with jwcrypto, then issue a token."""

        def handle(request: RecordedRequest) -> Reply:
            form = request.form()
            if form.get("grant_type") != JWT_BEARER_GRANT:
                return Reply.json({"error": "unsupported_grant_type"}, status=400)
            verifier = jws.JWS()
            try:
                verifier.deserialize(form["assertion"])
                verifier.verify(verifying_key, alg=algorithm)
            except (KeyError, jws.InvalidJWSObject, jws.InvalidJWSSignature):
                return Reply.json({"error": "invalid_grant"}, status=400)
            self.assertions.append(json.loads(verifier.payload))
            return self._answer(True)

        return handle

    def password_endpoint(
        self,
        *,
        username: str,
        password: str,
        send_as: str = "json",
        fields: tuple[str, str] = ("username", "password"),
        wrap: Callable[[str], Any] | None = None,
        expires_in: bool = False,
    ) -> Handler:
        """Clay's JWT token endpoint: user name and password in, a token somewhere in the JSON."""

        def handle(request: RecordedRequest) -> Reply:
            if send_as == "basic":
                given = _basic_pair(request.header("authorization"))
            else:
                try:
                    data = request.json() if send_as == "json" else request.form()
                except ValueError:
                    return Reply.json({"error": "bad request"}, status=400)
                given = (data.get(fields[0]), data.get(fields[1]))
            if given != (username, password):
                return Reply.json({"message": "Invalid username or password"}, status=401)
            token = self.issue()
            body: Any = wrap(token) if wrap else {"access_token": token}
            if expires_in and isinstance(body, dict):
                body["expires_in"] = self.lifetime_s
            return Reply.json(body)

        return handle

    def protected(
        self, answer: Handler, *, header: str = "authorization", prefix: str = "Bearer"
    ) -> Handler:
        """The API: ``answer`` for a live token, 401 otherwise."""

        def handle(request: RecordedRequest) -> Reply:
            if not self.accepts(request.header(header), prefix=prefix):
                return Reply.json({"error": "invalid_token"}, status=401)
            return answer(request)

        return handle

    def _answer(self, with_expires_in: bool) -> Reply:
        body: dict[str, Any] = {"access_token": self.issue(), "token_type": "Bearer"}
        if with_expires_in:
            body["expires_in"] = self.lifetime_s
        return Reply.json(body)


def _basic_pair(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote(user), unquote(password)
