"""HMAC request signing: every request carries an HMAC-SHA256 of a canonical string that the
API rebuilds from what it received — the scheme webhook and API providers use.

The canonical string is a template of placeholders, arranged as the provider documents it:

- ``{method}``: the method, upper case (``POST``);
- ``{path}``: the path as sent, percent-encoded (``/v1/people``);
- ``{query}``: the query's ``name=value`` pairs, each RFC 3986-encoded, sorted, joined by ``&``;
- ``{body_sha256}``: the SHA-256 of the body as sent, lower-case hex (of no bytes when empty);
- ``{body}``: the body as sent;
- ``{timestamp}``: Unix seconds, also sent in the timestamp header;
- ``{key_id}``: the key id, also sent in the key id header.

Signed per attempt (a retry gets a fresh timestamp); nothing is fetched or cached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from collections import deque
from collections.abc import Generator
from typing import Literal
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator, model_validator

from connectors.auth.base import AuthConfig, AuthOptions, CredentialAuth, auth_types, secret_field
from connectors.auth.presentation import FieldPresentation
from connectors.config import valid_header_name, valid_header_value
from connectors.templating import TemplateContext

PLACEHOLDERS = ("method", "path", "query", "body_sha256", "body", "timestamp", "key_id")
DEFAULT_CANONICAL_TEMPLATE = "{method}\n{path}\n{query}\n{timestamp}\n{body_sha256}"
#: Signatures each thread remembers for masking (the request a result shows is its last).
RECENT_SIGNATURES_PER_THREAD = 4

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: RFC 3986 section 2.3: the characters never percent-encoded.
_UNRESERVED = "-_.~"


class HmacSignatureConfig(AuthConfig):
    """A shared secret, what is signed (``canonical_template``) and where the signature,
    the timestamp and the key id go."""

    type: Literal["hmac_signature"] = "hmac_signature"
    secret: str = secret_field(
        min_length=1, description="The shared signing secret the provider gave you."
    )
    key_id: str = Field(
        default="",
        description="The id of your key, if the provider gave one (not secret; sent in the "
        "key id header).",
    )
    canonical_template: str = Field(
        default=DEFAULT_CANONICAL_TEMPLATE,
        description="What is signed: text and {method}, {path}, {query}, {body_sha256}, "
        "{body}, {timestamp}, {key_id}, as the provider documents it.",
    )
    signature_header: str = Field(
        default="X-Signature", description="The header that carries the signature."
    )
    signature_prefix: str = Field(
        default="", description="Text sent before the signature, e.g. sha256= (optional)."
    )
    encoding: Literal["hex", "base64"] = Field(
        default="hex", description="How the signature is written: lower-case hex or base64."
    )
    timestamp_header: str = Field(
        default="X-Timestamp",
        description="The header that carries the timestamp; empty: not sent.",
    )
    key_id_header: str = Field(
        default="X-Key-Id", description="The header that carries the key id, when there is one."
    )

    @field_validator("canonical_template")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        # A text area sends CRLF line ends; a provider's canonical string joins with LF.
        template = template.replace("\r\n", "\n")
        if not template.strip():
            raise ValueError("give the text to sign, e.g. {method}\\n{path}\\n{timestamp}")
        unknown = [name for name in _PLACEHOLDER.findall(template) if name not in PLACEHOLDERS]
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            raise ValueError(f"{{{unknown[0]}}} is no placeholder; use {known}")
        if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
            raise ValueError("a brace stands outside a placeholder such as {method}")
        return template

    @field_validator("signature_header")
    @classmethod
    def _signature_header(cls, name: str) -> str:
        return valid_header_name(name)

    @field_validator("timestamp_header", "key_id_header")
    @classmethod
    def _optional_header(cls, name: str) -> str:
        return valid_header_name(name) if name else name

    @field_validator("signature_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        return valid_header_value(prefix, name="The signature prefix")

    @field_validator("key_id")
    @classmethod
    def _key_id(cls, key_id: str) -> str:
        return valid_header_value(key_id.strip(), name="The key id")

    @model_validator(mode="after")
    def _headers_are_given_and_distinct(self) -> HmacSignatureConfig:
        if "{timestamp}" in self.canonical_template and not self.timestamp_header:
            raise ValueError(
                "The string to sign uses {timestamp}: name the timestamp header, so the API "
                "can rebuild it."
            )
        if self.key_id and not self.key_id_header:
            raise ValueError("Name the header that carries the key id (or clear the key id).")
        sent = [self.signature_header, self.timestamp_header]
        if self.key_id:
            sent.append(self.key_id_header)
        names = [name.lower() for name in sent if name]
        if len(set(names)) != len(names):
            raise ValueError("The signature, timestamp and key id go in different headers.")
        return self

    def key_credentials(self) -> dict[str, str]:
        return {"secret": self.secret}


def canonical_query(url: httpx.URL) -> str:
    """The query as signed: each name and value RFC 3986-encoded, pairs sorted, ``&``-joined."""
    pairs = sorted(
        (quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED))
        for name, value in url.params.multi_items()
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_bytes(
    template: str, request: httpx.Request, *, timestamp: str, key_id: str = ""
) -> bytes:
    """The bytes signed for ``request``: ``template`` with its placeholders filled in."""
    body = request.content
    values = {
        "method": request.method.upper().encode(),
        "path": request.url.raw_path.split(b"?", 1)[0] or b"/",
        "query": canonical_query(request.url).encode(),
        "body_sha256": hashlib.sha256(body).hexdigest().encode(),
        "body": body,
        "timestamp": timestamp.encode(),
        "key_id": key_id.encode(),
    }
    parts: list[bytes] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts += [template[position : match.start()].encode(), values[match.group(1)]]
        position = match.end()
    parts.append(template[position:].encode())
    return b"".join(parts)


def hmac_sha256(secret: str, message: bytes, *, encoding: str) -> str:
    """HMAC-SHA256 of ``message`` under ``secret`` (its UTF-8 bytes), as hex or base64."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


@auth_types.register
class HmacSignatureAuth(CredentialAuth):
    """Signs every request with the shared secret; the secret itself never leaves."""

    type_name = "hmac_signature"
    config_model = HmacSignatureConfig
    label = "HMAC request signing"
    description = (
        "Each request signed with a shared secret (HMAC-SHA256 of its method, path, query, "
        "body and a timestamp), as webhook and API providers ask."
    )
    order = 25
    field_presentation = {
        "secret": FieldPresentation(label="Signing secret"),
        "key_id": FieldPresentation(label="Key ID", example="key_live_1"),
        "canonical_template": FieldPresentation(label="String to sign", long_text=True),
        "signature_header": FieldPresentation(label="Signature header", example="X-Signature"),
        "signature_prefix": FieldPresentation(label="Signature prefix", example="sha256="),
        "encoding": FieldPresentation(label="Signature encoding"),
        "timestamp_header": FieldPresentation(label="Timestamp header", example="X-Timestamp"),
        "key_id_header": FieldPresentation(
            label="Key ID header", example="X-Key-Id", advanced=True
        ),
    }

    #: The body is part of what is signed: httpx reads it before ``auth_flow``.
    requires_request_body = True

    config: HmacSignatureConfig

    def __init__(
        self,
        config: HmacSignatureConfig,
        *,
        context: TemplateContext | None = None,
        options: AuthOptions | None = None,
    ) -> None:
        super().__init__(config)
        # The timestamp and key id are not secret; showing them helps match the provider's.
        self.credential_headers = frozenset({config.signature_header.lower()})
        self._recent = threading.local()

    def _recent_signatures(self) -> deque[str]:
        signatures: deque[str] | None = getattr(self._recent, "signatures", None)
        if signatures is None:
            signatures = self._recent.signatures = deque(maxlen=RECENT_SIGNATURES_PER_THREAD)
        return signatures

    def secret_values(self) -> frozenset[str]:
        """The secret, and the signatures this thread made last (those of the request it sent)."""
        return frozenset({self.config.secret, *self._recent_signatures()})

    def sign(self, request: httpx.Request, *, timestamp: str) -> str:
        """The signature of ``request`` at ``timestamp`` (Unix seconds, as text)."""
        config = self.config
        message = canonical_bytes(
            config.canonical_template, request, timestamp=timestamp, key_id=config.key_id
        )
        signature = hmac_sha256(config.secret, message, encoding=config.encoding)
        self._recent_signatures().append(signature)
        return signature

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        config = self.config
        timestamp = str(int(time.time()))
        signature = self.sign(request, timestamp=timestamp)
        request.headers[config.signature_header] = config.signature_prefix + signature
        if config.timestamp_header:
            request.headers[config.timestamp_header] = timestamp
        if config.key_id:
            request.headers[config.key_id_header] = config.key_id
        yield request
