"""Settings for the test suite: Enrich's own, on a queue and a test database of this run's
alone.

The variables are set before ``enrich.settings`` reads them, and child processes (the Celery
worker the pipeline tests start) inherit them, so the worker and the tests share one queue
that no other worker on this machine or broker consumes, and two test runs at once (two
checkouts, or CI beside a developer's run) never share a database.
"""

import os
import tempfile
import uuid

RUN = os.environ.setdefault("ENRICH_TEST_RUN", uuid.uuid4().hex[:12])
os.environ.setdefault("ENRICH_TASK_QUEUE", f"enrich-test-{RUN}")
if not (os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")):
    os.environ.setdefault("ENRICH_QUEUE_DIR", tempfile.mkdtemp(prefix="enrich-test-queue-"))
# The test servers listen on loopback; production allows no private network by default.
os.environ.setdefault("ENRICH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")

from enrich.settings import *  # noqa: E402, F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    TEST_DATABASE = str(VAR_DIR / f"test-{RUN}.sqlite3")  # noqa: F405
else:
    TEST_DATABASE = f"test_enrich_{RUN}"
DATABASES["default"]["TEST"] = {"NAME": TEST_DATABASE}  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
