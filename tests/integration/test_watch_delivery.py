"""Watch callbacks delivered by a real `celery -A config worker` from a real redis-server to a
real HTTP receiver (http.server in this process): a receiver that answers, one that is slow, one
that answers 500 for a while, and one that is down. The change-owner call never waits for any
of them."""

from __future__ import annotations

import pytest

from owners.models import OutboxEntry, WatchDelivery
from tests.owners.bigin import post_bulk
from tests.owners.watch_receiver import dead_url, receiver  # noqa: F401 (the fixture)

from .conftest import wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TOKEN = "TOKEN_FOR_VERIFICATION_OF_7"
SCOPES = ("ZohoBigin.notifications.ALL", "ZohoBigin.change_owner.CREATE")


@pytest.fixture
def new_owner(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, *SCOPES)


@pytest.fixture
def worker(redis_server, queue_name, publish_to, start_worker):
    publish_to(redis_server.url, queue_name)
    return start_worker(redis_server.url, queue_name)


def watch(client, channel_id: str, url: str) -> None:
    response = client.post(
        "/bigin/v2/actions/watch",
        {
            "watch": [
                {
                    "channel_id": channel_id,
                    "events": ["Contacts.edit"],
                    "notify_url": url,
                    "token": TOKEN,
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content


def change(client, records, owner):
    response = post_bulk(
        client, {"ids": [str(r.id) for r in records], "owner": {"id": str(owner.id)}}
    )
    assert response.status_code == 200
    return response


def test_a_receiver_gets_a_signed_callback_from_the_worker(
    worker,
    client,
    receiver,  # noqa: F811
    make_record,
    new_owner,
):
    receiving = receiver(TOKEN)
    watch(client, "7", receiving.url)
    contacts = [make_record() for _ in range(2)]

    change(client, contacts, new_owner)

    wait_until(lambda: receiving.callbacks, what="the callback")
    [callback] = receiving.callbacks
    assert callback.signed
    assert callback.body["ids"] == [str(r.id) for r in contacts]
    assert callback.body["affected_fields"] == [{str(r.id): ["Owner"]} for r in contacts]
    assert callback.headers["X-Bigin-Delivery-Id"] == str(WatchDelivery.objects.get().id)
    wait_until(
        lambda: WatchDelivery.objects.get().status == WatchDelivery.Status.DELIVERED,
        what="the delivery to be marked delivered",
    )


def test_a_slow_receiver_does_not_hold_the_change_owner_call(
    worker,
    client,
    receiver,  # noqa: F811
    make_record,
    new_owner,
    admin_user,
):
    slow = receiver(TOKEN, held=True)
    watch(client, "7", slow.url)
    contact = make_record()

    change(client, [contact], new_owner)
    wait_until(lambda: slow.requests == 1, what="the worker to reach the receiver")
    # The receiver holds the first callback unanswered; the next change answers all the same.
    change(client, [contact], admin_user)
    assert slow.callbacks == []

    slow.release()
    wait_until(lambda: len(slow.callbacks) == 2, what="both callbacks")
    assert all(callback.signed for callback in slow.callbacks)


def test_a_receiver_failing_for_a_while_gets_the_callback_on_a_retry(
    worker,
    client,
    receiver,  # noqa: F811
    make_record,
    new_owner,
):
    flaky = receiver(TOKEN, fail_first=2)
    watch(client, "7", flaky.url)
    contact = make_record()

    change(client, [contact], new_owner)

    # Retried with backoff by the worker (2 s, then 4 s at most).
    wait_until(lambda: flaky.callbacks, what="the callback after two 500s")
    assert flaky.requests == 3
    assert flaky.callbacks[0].signed
    wait_until(
        lambda: WatchDelivery.objects.get().status == WatchDelivery.Status.DELIVERED,
        what="the delivery to be marked delivered",
    )
    delivery = WatchDelivery.objects.get()
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (3, 200, "")


def test_a_dead_receiver_is_retried_and_logged_while_changes_go_on(
    worker,
    client,
    receiver,  # noqa: F811
    make_record,
    new_owner,
    admin_user,
):
    live = receiver(TOKEN)
    watch(client, "7", dead_url())
    watch(client, "8", live.url)
    contact = make_record()

    change(client, [contact], new_owner)
    change(client, [contact], admin_user)

    # The live channel gets both callbacks; the dead one's deliveries wait for their retries.
    wait_until(lambda: len(live.callbacks) == 2, what="the live channel's callbacks")
    dead = lambda: WatchDelivery.objects.filter(channel__channel_id=7)  # noqa: E731
    wait_until(
        lambda: all(d.attempts >= 1 for d in dead()) and dead().count() == 2,
        what="the dead channel's first attempts",
    )
    for delivery in dead():
        assert delivery.status == WatchDelivery.Status.PENDING
        assert delivery.last_status_code is None
        assert delivery.last_error.startswith("not delivered: ConnectionRefusedError")
    # Waiting for their retries, or being retried by the worker at this moment.
    statuses = list(
        OutboxEntry.objects.filter(id__in=[d.outbox_entry_id for d in dead()]).values_list(
            "status", flat=True
        )
    )
    assert len(statuses) == 2
    assert set(statuses) <= {OutboxEntry.Status.PENDING, OutboxEntry.Status.RUNNING}
