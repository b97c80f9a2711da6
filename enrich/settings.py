"""Enrich's settings: every environment variable is read here, once.

With nothing set, the embedded default runs: SQLite in ``./var/``, Celery over kombu's
filesystem transport in ``./var/``, a local-memory cache and dev keys generated into ``./var/``.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis. With ``DEBUG=0`` every key
must come from the environment. The README lists each variable with its default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from enrich.environment import (
    dev_key,
    env_bool,
    env_int,
    env_list,
    new_encryption_key,
    new_secret_key,
    require,
)

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ
VAR_DIR = Path(ENV.get("ENRICH_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool(ENV, "DEBUG", default=True)

if DEBUG:
    SECRET_KEY = ENV.get("SECRET_KEY") or dev_key(VAR_DIR / "secret_key", new_secret_key)
    ENCRYPTION_KEYS = env_list(ENV, "ENRICH_ENCRYPTION_KEYS", default=[]) or [
        dev_key(VAR_DIR / "encryption_key", new_encryption_key)
    ]
else:
    SECRET_KEY = require(ENV, "SECRET_KEY", why="production (DEBUG=0) needs a long random value.")
    ENCRYPTION_KEYS = require(
        ENV, "ENRICH_ENCRYPTION_KEYS", why="production (DEBUG=0) needs at least one Fernet key."
    ).split(",")
ENCRYPTION_KEYS = [key.strip() for key in ENCRYPTION_KEYS if key.strip()]

ALLOWED_HOSTS = env_list(ENV, "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list(ENV, "CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "accounts",
    "enrich",
    "enrich.enrichment",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "enrich.content_security_policy.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentWorkspaceMiddleware",
]

if not DEBUG:
    # In development runserver serves static files; in production WhiteNoise does.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "enrich.urls"
WSGI_APPLICATION = "enrich.wsgi.application"
ASGI_APPLICATION = "enrich.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspace",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = ENV.get("DATABASE_URL", "").strip()
# Plain dicts, as Django reads them: dj_database_url's TypedDict types NAME as str, and the
# SQLite branch names its files with Paths.
DATABASES: dict[str, dict[str, Any]]
if DATABASE_URL:
    DATABASES = {
        "default": dict(
            dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
        )
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "enrich.sqlite3",
            # A file, not memory: the test suite's Celery worker is another process.
            "TEST": {"NAME": VAR_DIR / "test.sqlite3"},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE takes the write
        # lock at BEGIN so two writers queue on `timeout` instead of failing mid-transaction.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and the Celery broker ---------------------------------------------------------
REDIS_URL = ENV.get("REDIS_URL", "").strip()
CELERY_BROKER_URL = ENV.get("CELERY_BROKER_URL", "").strip() or REDIS_URL or "filesystem://"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": ENV.get("ENRICH_CACHE_PREFIX", "enrich"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# A task sends at most `attempts` requests of `timeout` seconds plus capped back-off; the
# limits below sit above that.
CELERY_TASK_SOFT_TIME_LIMIT = env_int(ENV, "ENRICH_TASK_SOFT_TIME_LIMIT", default=300, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30

if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_QUEUE_DIR = Path(ENV.get("ENRICH_QUEUE_DIR") or VAR_DIR / "celery" / "queue")
    (CELERY_QUEUE_DIR / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR),
        "data_folder_out": str(CELERY_QUEUE_DIR),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # No "unacked" copies in Redis, so no visibility timeout either: the database is the
        # record of what is left to do, and the sweeper sends again what a dead worker held.
        # It also keeps workers alive across a Redis restart: kombu 5.x, closing a channel
        # whose Redis went away, restores the unacked copies through a transport already torn
        # down and dies with AttributeError("'NoneType' object has no attribute 'hostname'").
        "ack_emulation": False,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
    }

CELERY_TASK_DEFAULT_QUEUE = ENV.get("ENRICH_TASK_QUEUE", "enrich")
CELERY_WORKER_POOL = ENV.get("ENRICH_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = env_int(ENV, "ENRICH_WORKER_CONCURRENCY", default=16, minimum=1)

# --- Enrich ---------------------------------------------------------------------------------
# Networks user-configured URLs may reach besides the public internet (CIDRs). Empty by
# default: loopback, private, link-local and metadata addresses are refused.
ENRICH_ALLOWED_NETWORKS = env_list(ENV, "ENRICH_ALLOWED_NETWORKS", default=[])
# Anyone may create an account when this is on; the first user can always sign up.
ENRICH_OPEN_SIGNUP = env_bool(ENV, "ENRICH_OPEN_SIGNUP", default=True)
# Bounds of every user template (requests, conditions, JWT claims): the largest value one may
# build and the wall time of one render, so no template can take a worker's memory or time.
ENRICH_TEMPLATE_MAX_VALUE_KB = env_int(ENV, "ENRICH_TEMPLATE_MAX_VALUE_KB", default=1024, minimum=1)
ENRICH_TEMPLATE_MAX_MS = env_int(ENV, "ENRICH_TEMPLATE_MAX_MS", default=1000, minimum=10)
# Days an invitation to a workspace stays open for the username or email it names.
ENRICH_INVITATION_DAYS = env_int(ENV, "ENRICH_INVITATION_DAYS", default=14, minimum=1)

# --- Tables and CSV -------------------------------------------------------------------------
# Uploaded files (CSV imports waiting for a worker) live here; web and worker must share it.
MEDIA_ROOT = Path(ENV.get("ENRICH_MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "media/"
# Upper bounds of one CSV import, checked before and while reading; each refusal names its limit.
ENRICH_CSV_MAX_FILE_MB = env_int(ENV, "ENRICH_CSV_MAX_FILE_MB", default=200, minimum=1)
ENRICH_CSV_MAX_ROWS = env_int(ENV, "ENRICH_CSV_MAX_ROWS", default=1_000_000, minimum=1)
ENRICH_CSV_MAX_CELL_KB = env_int(ENV, "ENRICH_CSV_MAX_CELL_KB", default=1024, minimum=1)
# Columns one table may have (an import's new ones included): every page of the table renders
# each of them, so a 10,000-column file is refused up front instead of holding a request.
ENRICH_MAX_COLUMNS = env_int(ENV, "ENRICH_MAX_COLUMNS", default=500, minimum=1)
# Files up to this size import during the upload request; bigger ones go to a worker with a
# progress bar, so the request never outlives a proxy timeout.
ENRICH_CSV_INLINE_MAX_KB = env_int(ENV, "ENRICH_CSV_INLINE_MAX_KB", default=256, minimum=0)
# Cells one paste, clear or fill down may write (a bigger one is refused, naming the limit).
ENRICH_MAX_PASTE_CELLS = env_int(ENV, "ENRICH_MAX_PASTE_CELLS", default=50_000, minimum=1)
# Rows a paste may append past the end of the table without the user confirming first.
ENRICH_PASTE_CONFIRM_ROWS = env_int(ENV, "ENRICH_PASTE_CONFIRM_ROWS", default=20, minimum=0)
# Rows per page of the grid (each "load more" fetches one page).
ENRICH_GRID_PAGE_SIZE = env_int(ENV, "ENRICH_GRID_PAGE_SIZE", default=100, minimum=10)
# Django buffers uploads above this in a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# --- Enrichment runs ---------------------------------------------------------------------------
# A worker owns a running cell this long unless it renews the lease; its heartbeat renews the
# leases of every cell it runs, so only a dead worker's cells run out and are taken over.
ENRICH_CELL_LEASE_S = env_int(ENV, "ENRICH_CELL_LEASE_S", default=30, minimum=2)
# How often each worker renews its cells' leases and notes it is alive (one UPDATE each).
ENRICH_HEARTBEAT_S = env_int(ENV, "ENRICH_HEARTBEAT_S", default=5, minimum=1)
# How often one of the workers sweeps: re-queues lost cells, resumes stalled plans, ends runs.
ENRICH_SWEEP_S = env_int(ENV, "ENRICH_SWEEP_S", default=5, minimum=1)
# A run's planner holds it this long unless renewed; its worker's heartbeat renews it, so only
# a dead planner's run is taken over by another worker.
ENRICH_PLAN_LEASE_S = env_int(ENV, "ENRICH_PLAN_LEASE_S", default=15, minimum=2)
# A queued cell is presumed lost (its task died with a worker or a planner) only once it has
# waited this long and the queue is empty or has moved past it.
ENRICH_REQUEUE_AFTER_S = env_int(ENV, "ENRICH_REQUEUE_AFTER_S", default=10, minimum=1)
if ENRICH_HEARTBEAT_S * 2 > ENRICH_CELL_LEASE_S:
    raise ImproperlyConfigured(
        "ENRICH_CELL_LEASE_S must be at least twice ENRICH_HEARTBEAT_S, or a live worker's "
        f"cells could run out between two renewals (got {ENRICH_CELL_LEASE_S} and "
        f"{ENRICH_HEARTBEAT_S})."
    )
if ENRICH_HEARTBEAT_S * 2 > ENRICH_PLAN_LEASE_S:
    raise ImproperlyConfigured(
        "ENRICH_PLAN_LEASE_S must be at least twice ENRICH_HEARTBEAT_S, or a live planner's "
        f"run could be taken over between two renewals (got {ENRICH_PLAN_LEASE_S} and "
        f"{ENRICH_HEARTBEAT_S})."
    )

# --- Auth, sessions, security -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed sign-ins (app and admin) allowed per username and per client address within the
# lock-out time; one more locks that username or address out for the lock-out time, even for
# the right password (accounts.sign_in_throttle). Counted in the cache: Redis when configured.
ENRICH_SIGN_IN_MAX_FAILURES = env_int(ENV, "ENRICH_SIGN_IN_MAX_FAILURES", default=5, minimum=1)
ENRICH_SIGN_IN_MAX_FAILURES_PER_IP = env_int(
    ENV, "ENRICH_SIGN_IN_MAX_FAILURES_PER_IP", default=20, minimum=1
)
ENRICH_SIGN_IN_LOCKOUT_S = env_int(ENV, "ENRICH_SIGN_IN_LOCKOUT_S", default=900, minimum=1)
# Proxies in front of Enrich that append the client's address to X-Forwarded-For; 0 trusts
# only the connection's own address (a client can write any X-Forwarded-For it likes).
ENRICH_TRUSTED_PROXY_COUNT = env_int(ENV, "ENRICH_TRUSTED_PROXY_COUNT", default=0, minimum=0)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if not DEBUG else None
# HSTS is sent on HTTPS responses only, and never in development (a browser would remember it
# for localhost). A year by default; 0 turns it off, e.g. while trying HTTPS out.
SECURE_HSTS_SECONDS = (
    0 if DEBUG else env_int(ENV, "ENRICH_HSTS_SECONDS", default=31_536_000, minimum=0)
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(ENV, "ENRICH_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool(ENV, "ENRICH_HSTS_PRELOAD", default=False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Every page's scripts, styles, images and requests come from Enrich itself; no inline script,
# inline style or eval is needed (enrich.content_security_policy), in development too.
ENRICH_CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(ENV.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
if not DEBUG:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Accounts (connections and secrets) ---------------------------------------------------------
# httpx logs each request's full URL at INFO (an API key sent as a query parameter is part of
# it) and httpcore traces headers at DEBUG: neither may reach the logs, whatever LOG_LEVEL says.
LOGGING["loggers"].update({"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}})
