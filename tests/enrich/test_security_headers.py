"""Security headers: HSTS over HTTPS with DEBUG=0, the Content-Security-Policy on every page,
and the headers Django already sent kept."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from enrich.content_security_policy import policy_header

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]
ONE_YEAR = 31_536_000


def production_settings(**environ: str) -> dict[str, object]:
    """The security settings ``enrich.settings`` reads with DEBUG=0 and ``environ``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENRICH_HSTS", "DJANGO_SETTINGS"))
    }
    env |= {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 60,
        "ENRICH_ENCRYPTION_KEYS": "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=",
        **environ,
    }
    names = [
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    ]
    code = (
        "import json, enrich.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_debug_0_sends_hsts_for_a_year_including_subdomains_by_default() -> None:
    values = production_settings()
    assert values["SECURE_HSTS_SECONDS"] == ONE_YEAR
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]


def test_hsts_is_configured_from_the_environment() -> None:
    values = production_settings(
        ENRICH_HSTS_SECONDS="600", ENRICH_HSTS_INCLUDE_SUBDOMAINS="0", ENRICH_HSTS_PRELOAD="1"
    )
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert production_settings(ENRICH_HSTS_SECONDS="0")["SECURE_HSTS_SECONDS"] == 0


@pytest.fixture
def over_https(settings):
    """The DEBUG=0 security settings, behind a proxy that says the request came over HTTPS."""
    settings.DEBUG = False
    settings.SECURE_HSTS_SECONDS = ONE_YEAR
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    return Client(HTTP_X_FORWARDED_PROTO="https")


def test_pages_over_https_carry_hsts_csp_and_the_existing_headers(over_https, make_user) -> None:
    make_user()
    for url in (reverse("login"), reverse("sign_up"), reverse("admin:login"), reverse("health")):
        response = over_https.get(url, follow=False)
        assert response["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"
        assert response["Content-Security-Policy"] == policy_header(
            django_settings.ENRICH_CONTENT_SECURITY_POLICY
        )
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_a_signed_in_page_over_https_carries_them_too(
    over_https, make_workspace, make_user
) -> None:
    user = make_user()
    make_workspace(owner=user)
    over_https.force_login(user)
    response = over_https.get(reverse("home"))
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_plain_http_gets_no_hsts(settings, make_user) -> None:
    settings.SECURE_HSTS_SECONDS = ONE_YEAR
    make_user()
    response = Client().get(reverse("login"))
    assert "Strict-Transport-Security" not in response
    assert "Content-Security-Policy" in response


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    policy = django_settings.ENRICH_CONTENT_SECURITY_POLICY
    assert policy["script-src"] == policy["style-src"] == policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == policy["object-src"] == ["'none'"]
    header = policy_header(policy)
    assert "unsafe" not in header and "*" not in header and "http" not in header


def test_no_template_needs_an_inline_script_or_style() -> None:
    """What the policy refuses must not be in a template: a ``<script>`` without ``src``, a
    ``style=`` attribute, a ``<style>`` element or an ``on…=`` handler."""
    found = []
    for path in sorted((BASE_DIR / "templates").rglob("*.html")):
        text = path.read_text()
        patterns = (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"\sstyle\s*=",
            r"<style\b",
            r"\son[a-z]+\s*=",
            r"hx-on",
        )
        for pattern in patterns:
            found += [
                f"{path.relative_to(BASE_DIR)}: {m.group(0)}" for m in re.finditer(pattern, text)
            ]
    assert not found, found


def test_htmx_is_told_not_to_inject_styles_or_eval(client) -> None:
    response = client.get(reverse("home"))
    html = response.content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert config is not None
    values = json.loads(config.group(1))
    assert values["includeIndicatorStyles"] is False
    assert values["allowEval"] is False
