"""Failed sign-ins lock a username and an address out, on the app's page and the admin's."""

from __future__ import annotations

import itertools
import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.exceptions import SignInLocked

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
LOCKED = "Too many failed sign-ins; try again in"

# Every test signs in from addresses of its own, so no count is shared with another test (or
# with a previous run's counters still in Redis).
_addresses = itertools.count(int(time.time() * 1000) % 2**24)


def new_address() -> str:
    n = next(_addresses) % 2**24
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def sign_in(username: str, password: str, *, address: str, url: str | None = None):
    return Client(REMOTE_ADDR=address).post(
        url or reverse("login"), {"username": username, "password": password}
    )


def signed_in(response) -> bool:
    return response.status_code == 302


@pytest.fixture
def username(make_user) -> str:
    return make_user(f"grace{next(_addresses)}", password=PASSWORD).username


def test_thirty_wrong_passwords_then_the_right_one_is_refused(username, settings) -> None:
    address = new_address()
    answers = [sign_in(username, f"guess {n}", address=address) for n in range(30)]
    assert not any(signed_in(answer) for answer in answers)
    failures = settings.ENRICH_SIGN_IN_MAX_FAILURES
    assert all(a.status_code == 200 for a in answers[:failures])
    assert all(a.status_code == 429 for a in answers[failures:])

    right = sign_in(username, PASSWORD, address=address)
    assert right.status_code == 429
    assert f"{LOCKED} 15 minutes." in right.content.decode()
    # The username is locked wherever the next attempt comes from.
    assert not signed_in(sign_in(username, PASSWORD, address=new_address()))


def test_an_unknown_username_is_locked_out_like_a_real_one(username, settings) -> None:
    unknown, address, other = f"nobody{next(_addresses)}", new_address(), new_address()
    for n in range(settings.ENRICH_SIGN_IN_MAX_FAILURES):
        sign_in(unknown, f"guess {n}", address=address)
    answer = sign_in(unknown, "guess", address=other)
    assert answer.status_code == 429
    assert LOCKED in answer.content.decode()


def test_a_username_is_counted_whatever_its_case_and_spaces(username, settings) -> None:
    for n in range(settings.ENRICH_SIGN_IN_MAX_FAILURES):
        sign_in(f" {username.upper()} " if n % 2 else username, "wrong", address=new_address())
    assert not signed_in(sign_in(username, PASSWORD, address=new_address()))


def test_failures_below_the_limit_do_not_lock_and_a_sign_in_forgets_them(
    username, settings
) -> None:
    address = new_address()
    for _ in range(2):
        for n in range(settings.ENRICH_SIGN_IN_MAX_FAILURES - 1):
            sign_in(username, f"guess {n}", address=address)
        assert signed_in(sign_in(username, PASSWORD, address=address))


def test_a_different_user_from_the_same_address_beyond_its_limit_is_refused(
    make_user, settings
) -> None:
    settings.ENRICH_SIGN_IN_MAX_FAILURES_PER_IP = 8
    victim = make_user(f"victim{next(_addresses)}", password=PASSWORD)
    address = new_address()
    # Each username stays under its own limit; together they pass the address's.
    for n in range(8):
        sign_in(f"sprayed{n}", "Winter2026!", address=address)

    refused = sign_in(victim.username, PASSWORD, address=address)
    assert refused.status_code == 429
    assert LOCKED in refused.content.decode()
    # The address is locked, not the user: from elsewhere they sign in.
    assert signed_in(sign_in(victim.username, PASSWORD, address=new_address()))


def test_a_sign_in_does_not_reset_its_addresses_count(make_user, settings) -> None:
    settings.ENRICH_SIGN_IN_MAX_FAILURES_PER_IP = 6
    address = new_address()
    mine = make_user(f"mine{next(_addresses)}", password=PASSWORD)
    for n in range(6):
        sign_in(f"target{n}", "guess", address=address)
        if n == 2:
            assert signed_in(sign_in(mine.username, PASSWORD, address=address))
    assert not signed_in(sign_in(mine.username, PASSWORD, address=address))


def test_the_lock_out_ends_after_its_time(username, settings) -> None:
    settings.ENRICH_SIGN_IN_LOCKOUT_S = 1
    address = new_address()
    for n in range(settings.ENRICH_SIGN_IN_MAX_FAILURES):
        sign_in(username, f"guess {n}", address=address)
    refused = sign_in(username, PASSWORD, address=address)
    assert refused.status_code == 429
    assert f"{LOCKED} 1 minute." in refused.content.decode()

    time.sleep(1.5)
    assert signed_in(sign_in(username, PASSWORD, address=address))


def test_the_admin_sign_in_is_throttled_too(django_user_model, settings) -> None:
    admin = django_user_model.objects.create_superuser(
        f"root{next(_addresses)}", "root@example.test", PASSWORD
    )
    url = reverse("admin:login")
    address = new_address()
    for n in range(settings.ENRICH_SIGN_IN_MAX_FAILURES):
        assert sign_in(admin.username, f"guess {n}", address=address, url=url).status_code == 200

    refused = sign_in(admin.username, PASSWORD, address=address, url=url)
    assert refused.status_code == 200  # the admin's form, with the reason
    assert LOCKED in refused.content.decode()
    # The app's page shares the same counters.
    assert not signed_in(sign_in(admin.username, PASSWORD, address=new_address()))


def test_failures_on_the_admin_page_count_for_the_app_page(username, settings) -> None:
    address = new_address()
    for n in range(settings.ENRICH_SIGN_IN_MAX_FAILURES):
        sign_in(username, f"guess {n}", address=address, url=reverse("admin:login"))
    assert sign_in(username, PASSWORD, address=new_address()).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(username, settings) -> None:
    settings.ENRICH_TRUSTED_PROXY_COUNT = 1
    settings.ENRICH_SIGN_IN_MAX_FAILURES_PER_IP = 3
    proxy, client, spoofed = new_address(), new_address(), new_address()
    for n in range(3):
        # Whatever the client writes first, the proxy appends the address it really saw.
        Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"{new_address()}, {client}").post(
            reverse("login"), {"username": f"spray{n}", "password": "guess"}
        )
    locked = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"{spoofed}, {client}")
    assert (
        locked.post(reverse("login"), {"username": username, "password": PASSWORD}).status_code
        == 429
    )
    other = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=new_address())
    assert signed_in(other.post(reverse("login"), {"username": username, "password": PASSWORD}))


def test_the_lock_out_message_names_the_minutes_left() -> None:
    assert str(SignInLocked(minutes=1)) == f"{LOCKED} 1 minute."
    assert str(SignInLocked(minutes=15)) == f"{LOCKED} 15 minutes."


HOSTILE_VALUES = ["", " ", "a" * 10_000, "nul\x00byte", "ünï©ødé", "' OR 1=1 --", "%00"]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_sign_in_and_sign_up_never_answer_a_server_error(value: str, make_user) -> None:
    make_user()  # a server with users: the login page is shown, not sign-up
    client = Client(REMOTE_ADDR=new_address(), raise_request_exception=False)
    pages = {
        reverse("login"): {"username": value, "password": value},
        reverse("sign_up"): {
            "username": value,
            "email": value,
            "password1": value,
            "password2": value,
            "workspace_name": value,
        },
        reverse("admin:login"): {"username": value, "password": value},
    }
    for url, data in pages.items():
        for answer in (client.post(url, data), client.post(url, {k: [value, value] for k in data})):
            assert answer.status_code in {200, 302, 429}, (url, answer.status_code)
        assert client.get(url, {"next": value}).status_code in {200, 302}, url


def test_invalid_utf8_in_a_sign_in_or_sign_up_is_not_a_server_error(make_user) -> None:
    make_user()
    client = Client(REMOTE_ADDR=new_address(), raise_request_exception=False)
    body = "username=%ED%A0%80%FF&password=%C0%AF&email=%FE&workspace_name=%80"
    for url in (reverse("login"), reverse("sign_up"), reverse("admin:login")):
        answer = client.post(url, body, content_type="application/x-www-form-urlencoded")
        assert answer.status_code in {200, 302, 400, 429}, (url, answer.status_code)


def test_an_unreachable_cache_refuses_sign_in_with_a_clear_message(username, settings) -> None:
    # Nothing listens on port 1 of loopback: every cache call fails to connect.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    answer = sign_in(username, PASSWORD, address=new_address())
    assert answer.status_code == 503
    assert "Signing in is unavailable for a moment" in answer.content.decode()
