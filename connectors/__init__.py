"""Enrich's request engine: turn a request config and a row into an HTTP call and a result.

Pure Python, no Django. What it needs from the application (secrets, allowed networks, a shared
rate-limit store) comes in as arguments and small protocols.

    engine = Engine(network_policy=NetworkPolicy.allowing("10.20.0.0/16"))
    result = engine.send(config, context=TemplateContext(row=row, secrets=lookup), auth=auth)
    if result.ok:
        cell.value = result.value
"""

from connectors.auth import AuthConfig, AuthOptions, CredentialAuth, NoAuth, auth_types
from connectors.config import (
    Method,
    RateLimitConfig,
    RequestConfig,
    RetryConfig,
    describe_validation_error,
    parse_field_paths,
)
from connectors.debug import MASK, AttemptRecord, DebugRecord, HopRecord
from connectors.engine import Engine, send
from connectors.errors import (
    AuthError,
    BlockedAddressError,
    ConfigError,
    ConnectorError,
    CredentialsRefused,
    NetworkError,
    RateLimitTimeoutError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TemplateError,
    TooManyRedirectsError,
    UpstreamStatusError,
)
from connectors.filtering import drop_nulls, filter_response
from connectors.network import NetworkPolicy, classify_address, parse_ip_literal
from connectors.ratelimit import InMemoryRateLimitStore, RateLimitStore, RedisRateLimitStore
from connectors.request import RenderedRequest, render_request
from connectors.result import Result
from connectors.templating import (
    SecretLookup,
    TemplateContext,
    check_template,
    evaluate_expression,
    render_json,
    render_template,
    render_value,
    template_column_keys,
    template_secret_names,
)

__all__ = [
    "MASK",
    "AttemptRecord",
    "AuthConfig",
    "AuthError",
    "AuthOptions",
    "BlockedAddressError",
    "ConfigError",
    "ConnectorError",
    "CredentialAuth",
    "CredentialsRefused",
    "DebugRecord",
    "Engine",
    "HopRecord",
    "InMemoryRateLimitStore",
    "Method",
    "NetworkError",
    "NetworkPolicy",
    "NoAuth",
    "RateLimitConfig",
    "RateLimitStore",
    "RateLimitTimeoutError",
    "RedisRateLimitStore",
    "RenderedRequest",
    "RequestConfig",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "Result",
    "RetryConfig",
    "SecretLookup",
    "TemplateContext",
    "TemplateError",
    "TooManyRedirectsError",
    "UpstreamStatusError",
    "auth_types",
    "check_template",
    "classify_address",
    "describe_validation_error",
    "drop_nulls",
    "evaluate_expression",
    "filter_response",
    "parse_field_paths",
    "parse_ip_literal",
    "render_json",
    "render_request",
    "render_template",
    "render_value",
    "send",
    "template_column_keys",
    "template_secret_names",
]
