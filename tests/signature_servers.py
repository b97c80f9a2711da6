"""An API on 127.0.0.1 that accepts only correctly HMAC-signed requests, as a webhook or API
provider checks them: it rebuilds the canonical string from the request it received and
recomputes the signature with ``hmac``/``hashlib`` — none of the project's code.

    verifier = SignatureVerifier(secret="…", prefix="sha256=")
    server.route("/api/signed", verifier.endpoint())
    ...
    assert verifier.verified == 3
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.servers import Handler, RecordedRequest, Reply

DEFAULT_TEMPLATE = "{method}\n{path}\n{query}\n{timestamp}\n{body_sha256}"


@dataclass
class SignatureVerifier:
    """What the provider knows: the secret, what is signed and where each value travels."""

    secret: str
    template: str = DEFAULT_TEMPLATE
    signature_header: str = "X-Signature"
    prefix: str = ""
    encoding: str = "hex"
    timestamp_header: str = "X-Timestamp"
    key_id_header: str = "X-Key-Id"
    key_id: str = ""
    #: Refuse a timestamp further than this from the server's clock (replay protection).
    tolerance_s: float = 300
    verified: int = 0
    refused: list[str] = field(default_factory=list)
    #: The canonical strings of the requests accepted, in order.
    canonical: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def canonical_bytes(self, request: RecordedRequest) -> bytes:
        """The provider's reading of the request: sorted, RFC 3986-encoded query pairs."""
        pairs = sorted(
            (quote(name, safe="-_.~"), quote(value, safe="-_.~"))
            for name, values in request.query.items()
            for value in values
        )
        values = {
            "method": request.method.encode(),
            "path": request.path.encode(),
            "query": "&".join(f"{name}={value}" for name, value in pairs).encode(),
            "body_sha256": hashlib.sha256(request.body).hexdigest().encode(),
            "body": request.body,
            "timestamp": (request.header(self.timestamp_header) or "").encode(),
            "key_id": (request.header(self.key_id_header) or "").encode(),
        }
        # One pass, so a value that holds "{timestamp}" (a body may) is not filled in again.
        return re.sub(
            rb"\{(\w+)\}", lambda match: values[match.group(1).decode()], self.template.encode()
        )

    def expected(self, message: bytes) -> str:
        digest = hmac.new(self.secret.encode(), message, hashlib.sha256).digest()
        text = digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()
        return self.prefix + text

    def check(self, request: RecordedRequest) -> str | None:
        """Why the request is refused, or None when its signature holds."""
        received = request.header(self.signature_header)
        if not received:
            return "no signature"
        if "{timestamp}" in self.template:
            stamp = request.header(self.timestamp_header) or ""
            if not stamp.isdigit():
                return "no timestamp"
            if abs(time.time() - int(stamp)) > self.tolerance_s:
                return "stale timestamp"
        if self.key_id and request.header(self.key_id_header) != self.key_id:
            return "unknown key id"
        message = self.canonical_bytes(request)
        if not hmac.compare_digest(received, self.expected(message)):
            return "bad signature"
        with self._lock:
            self.canonical.append(message)
        return None

    def endpoint(self) -> Handler:
        """200 with what was checked for a good signature; 401 with the reason otherwise."""

        def handle(request: RecordedRequest) -> Reply:
            reason = self.check(request)
            with self._lock:
                if reason is None:
                    self.verified += 1
                else:
                    self.refused.append(reason)
            if reason is not None:
                return Reply.json({"error": reason}, status=401)
            return Reply.json({"ok": True, "who": "hmac", "path": request.path})

        return handle
