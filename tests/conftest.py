"""Shared fixtures: users, workspaces, signed-in clients and a real Celery worker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from itertools import count
from typing import TYPE_CHECKING

import pytest
from django.test import Client

if TYPE_CHECKING:
    from accounts.models import Membership, Workspace
    from tests.worker import WorkerProcess

# Django models are imported inside the fixtures, so the pure-Python connectors tests can
# run without Django (``pytest tests/connectors -p no:django``).

_sequence = count(1)


@pytest.fixture
def make_user(django_user_model) -> Callable[..., object]:
    def make(username: str | None = None, *, password: str = "correct horse battery") -> object:
        name = username or f"user{next(_sequence)}"
        return django_user_model.objects.create_user(
            username=name, email=f"{name}@example.test", password=password
        )

    return make


@pytest.fixture
def make_workspace(make_user) -> Callable[..., Workspace]:
    from accounts.workspaces import workspace_create

    def make(name: str | None = None, *, owner=None) -> Workspace:
        return workspace_create(
            name=name or f"Workspace {next(_sequence)}", owner=owner or make_user()
        )

    return make


@pytest.fixture
def owner_client(make_workspace, make_user) -> tuple[Client, Workspace]:
    """A client signed in as the owner of a fresh workspace, which is current."""
    user = make_user()
    workspace = make_workspace(owner=user)
    client = Client()
    client.force_login(user)
    return client, workspace


def member_of(workspace: Workspace, user, role: str = "member") -> Membership:
    from accounts.models import Membership

    return Membership.objects.create(workspace=workspace, user=user, role=role)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[WorkerProcess]:
    """A real ``celery worker`` process on the configured broker and the test database.

    Tests that ran before it may have queued tasks with no worker to take them (their rows are
    gone with their database): the queue is emptied first, so the first test with a worker does
    not wait behind hundreds of stale messages (the filesystem broker takes ~10 a second)."""
    from tests.worker import purge_test_queue, start_worker

    purge_test_queue()
    with django_db_blocker.unblock():
        worker = start_worker()
    try:
        yield worker
    finally:
        worker.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    queue_dir = os.environ.get("ENRICH_QUEUE_DIR", "")
    if queue_dir and os.path.basename(queue_dir).startswith("enrich-test-queue-"):
        shutil.rmtree(queue_dir, ignore_errors=True)
