"""With the queue (Redis) unreachable, queueing a run still records it and says the queue is
unreachable, instead of failing; a worker plans it once the queue answers."""

from __future__ import annotations

import socket

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from enrich.enrichment.broker import broker_epoch, broker_reachable
from enrich.enrichment.models import Run
from tests.servers import json_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_broker(settings) -> str:
    """A Redis URL on a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    return settings.CELERY_BROKER_URL


def test_the_broker_questions_fail_soft(dead_broker) -> None:
    assert broker_reachable() is False
    assert broker_epoch() is None


def test_a_run_queued_while_the_queue_is_unreachable_is_recorded_with_a_warning(
    dead_broker, client, leads, api, make_enrichment
) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/?e={{ row.email }}")})

    response = client.post(reverse("enrichment_run", args=[enrichment.pk]), {"scope": "all"})

    assert response.status_code == 302
    assert Run.objects.get(column=enrichment).status == Run.Status.PLANNING
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert "The queue is unreachable, retrying: the run starts once it answers." in shown
