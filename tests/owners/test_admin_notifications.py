"""Watch channels and deliveries in the admin: listed for operators, a failed callback sent
again by the "Send again" action."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from owners.models import OutboxEntry, WatchChannel, WatchDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_delivery(organization):
    channel = WatchChannel.objects.create(
        organization=organization,
        channel_id=1000,
        events=["Contacts.edit"],
        notify_url="https://receiver.example.com/callback",
        channel_expiry=timezone.now() + timedelta(hours=1),
    )
    entry = OutboxEntry.objects.create(
        organization=organization,
        kind=OutboxEntry.Kind.WATCH_DELIVERY,
        status=OutboxEntry.Status.FAILED,
        batch_id=uuid.uuid4(),
        payload={},
        attempts=10,
        run_after=timezone.now(),
        last_error="TransientJobError('the receiver answered 500')",
    )
    delivery = WatchDelivery.objects.create(
        organization=organization,
        channel=channel,
        batch_id=entry.batch_id,
        module_name="Contacts",
        body="{}",
        status=WatchDelivery.Status.FAILED,
        attempts=10,
        last_status_code=500,
        last_error="the receiver answered 500",
        outbox_entry_id=entry.id,
    )
    OutboxEntry.objects.filter(id=entry.id).update(payload={"delivery_id": str(delivery.id)})
    return delivery


def test_operators_see_channels_and_the_delivery_log(admin_site_client, failed_delivery):
    channels = admin_site_client.get(reverse("admin:owners_watchchannel_changelist"))
    deliveries = admin_site_client.get(reverse("admin:owners_watchdelivery_changelist"))

    assert channels.status_code == deliveries.status_code == 200
    assert "Contacts.edit" in channels.content.decode()
    assert "the receiver answered 500" in deliveries.content.decode()


def test_send_again_makes_a_failed_delivery_pending_with_its_entry(
    admin_site_client, failed_delivery
):
    response = admin_site_client.post(
        reverse("admin:owners_watchdelivery_changelist"),
        {"action": "redeliver_action", "_selected_action": [failed_delivery.id]},
        follow=True,
    )

    assert "1 failed callback sent to the workers again." in response.content.decode()
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == WatchDelivery.Status.PENDING
    entry = OutboxEntry.objects.get(id=failed_delivery.outbox_entry_id)
    assert (entry.status, entry.attempts) == (OutboxEntry.Status.PENDING, 0)
