"""Auth types: ``httpx.Auth`` subclasses registered by ``type`` string.

Importing this package registers every type in ``auth_types``: ``none``, ``api_key``,
``static``, ``hmac_signature``, ``oauth_client_credentials``, ``jwt``, ``oauth_jwt_bearer`` and
``jwt_token_endpoint``. ``docs/auth-types.md`` describes each. A type describes itself on its
class (label, description, order, field presentation, ``Capabilities``, ``exercise``), so the
app reads everything it shows about a type from ``auth_types``.
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
from connectors.auth.hmac_signature import HmacSignatureAuth, HmacSignatureConfig
from connectors.auth.oauth import (
    OAuthClientCredentials,
    OAuthClientCredentialsConfig,
    OAuthJwtBearer,
    OAuthJwtBearerConfig,
)
from connectors.auth.presentation import Capabilities, ExerciseResult, FieldPresentation
from connectors.auth.signed_jwt import SignedJwtAuth, SignedJwtConfig, SigningKeyConfig
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
    "Capabilities",
    "ColumnTokenFields",
    "CredentialAuth",
    "ExerciseResult",
    "FieldPresentation",
    "HmacSignatureAuth",
    "HmacSignatureConfig",
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
    "SigningKeyConfig",
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
