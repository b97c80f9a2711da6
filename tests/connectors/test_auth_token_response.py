"""Finding the token in a token endpoint's answer and deciding how long it lives."""

from __future__ import annotations

import time

import jwt
import pytest

from connectors.auth.token_response import (
    DEFAULT_LIFETIME_S,
    token_at_path,
    token_lifetime,
)
from connectors.errors import AuthError

ENDPOINT = "https://auth.example.test/login"


@pytest.mark.parametrize(
    ("payload", "path", "token"),
    [
        ({"access_token": "abc"}, "access_token", "abc"),
        ({"data": {"token": "abc"}}, "data.token", "abc"),
        ({"data": {"tokens": [{"jwt": "abc"}]}}, "data.tokens.0.jwt", "abc"),
        ({"data": {"token": " abc "}}, " data . token ", "abc"),
    ],
)
def test_the_token_is_found_by_its_dot_path(payload, path: str, token: str) -> None:
    assert token_at_path(payload, path, endpoint=ENDPOINT) == token


def test_a_wrong_path_asks_to_fill_out_the_auth_fields_naming_path_and_keys() -> None:
    payload = {"jwt": "eyJ-secret-value", "expires": 3600}
    with pytest.raises(AuthError) as caught:
        token_at_path(payload, "data.token", endpoint=ENDPOINT)

    message = caught.value.message
    assert message.startswith("Please fill out your auth fields")
    assert "“data.token”" in message
    assert "expires, jwt" in message
    assert ENDPOINT in message
    assert "eyJ-secret-value" not in message
    assert "3600" not in message


@pytest.mark.parametrize(
    ("payload", "described"),
    [
        ({"token": 12345}, "found a number in"),
        ({"token": ""}, "found an empty string in"),
        ({"token": {"value": "x"}}, "found an object in"),
        (["a", "b"], "the answer is an array, not an object"),
    ],
)
def test_a_path_to_something_that_is_not_a_token_says_what_it_found(payload, described) -> None:
    with pytest.raises(AuthError, match="Please fill out your auth fields") as caught:
        token_at_path(payload, "token", endpoint=ENDPOINT)
    assert described in caught.value.message


def test_a_jwt_lives_until_its_own_exp() -> None:
    now = time.time()
    token = jwt.encode({"exp": int(now) + 600}, "k" * 32, algorithm="HS256")
    assert token_lifetime(token, {"expires_in": 99999}, now=now) == pytest.approx(600, abs=1)


def test_otherwise_expires_in_counts_then_55_minutes() -> None:
    assert token_lifetime("opaque", {"expires_in": "120"}) == 120
    assert token_lifetime("opaque", {"expires_in": 0}) == DEFAULT_LIFETIME_S
    assert token_lifetime("opaque", {}) == DEFAULT_LIFETIME_S == 3300
    no_exp = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
    assert token_lifetime(no_exp, {"expires_in": 120}) == 120


def test_an_already_expired_jwt_is_cached_for_a_moment_only() -> None:
    token = jwt.encode({"exp": 1}, "k" * 32, algorithm="HS256")
    assert token_lifetime(token, {}) == 1.0
