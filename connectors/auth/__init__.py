"""Auth types: ``httpx.Auth`` subclasses registered by ``type`` string.

Importing this package registers every type in ``auth_types``: ``none``, ``api_key``,
``static``, ``oauth_client_credentials``, ``jwt``, ``oauth_jwt_bearer`` and
``jwt_token_endpoint``. ``docs/auth-types.md`` describes each.
"""

from connectors.auth.base import (
    AuthConfig,
    AuthOptions,
    AuthRegistry,
    CredentialAuth,
    NoAuth,
    NoAuthConfig,
    auth_types,
    host_allowed,
)
from connectors.auth.oauth import (
    OAuthClientCredentials,
    OAuthClientCredentialsConfig,
    OAuthJwtBearer,
    OAuthJwtBearerConfig,
)
from connectors.auth.signed_jwt import SignedJwtAuth, SignedJwtConfig
from connectors.auth.signing import ALGORITHMS, SigningKey, check_signing_key, sign_jwt
from connectors.auth.static import ApiKeyAuth, ApiKeyConfig, StaticAuth, StaticConfig
from connectors.auth.token_endpoint import (
    ColumnTokenFields,
    JwtTokenEndpoint,
    JwtTokenEndpointConfig,
)
from connectors.auth.token_store import (
    InMemoryTokenStore,
    RedisTokenStore,
    Token,
    TokenCache,
    TokenStore,
)
from connectors.auth.tokens import TokenAuth, token_cache_for

__all__ = [
    "ALGORITHMS",
    "ApiKeyAuth",
    "ApiKeyConfig",
    "AuthConfig",
    "AuthOptions",
    "AuthRegistry",
    "ColumnTokenFields",
    "CredentialAuth",
    "InMemoryTokenStore",
    "JwtTokenEndpoint",
    "JwtTokenEndpointConfig",
    "NoAuth",
    "NoAuthConfig",
    "OAuthClientCredentials",
    "OAuthClientCredentialsConfig",
    "OAuthJwtBearer",
    "OAuthJwtBearerConfig",
    "RedisTokenStore",
    "SignedJwtAuth",
    "SignedJwtConfig",
    "SigningKey",
    "StaticAuth",
    "StaticConfig",
    "Token",
    "TokenAuth",
    "TokenCache",
    "TokenStore",
    "auth_types",
    "check_signing_key",
    "host_allowed",
    "sign_jwt",
    "token_cache_for",
]
