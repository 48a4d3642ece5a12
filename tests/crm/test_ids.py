from __future__ import annotations

import json
import threading

import pytest

from crm.ids import MAX_ID, emit_id, new_id, parse_id
from crm.models import Record
from crm.modules import module_by_name


def test_new_ids_are_unique_and_increasing_within_a_process():
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_new_ids_fit_a_signed_64_bit_integer_and_19_digits():
    ids = [new_id() for _ in range(1_000)]
    assert all(0 < i <= MAX_ID == 2**63 - 1 for i in ids)
    assert all(len(str(i)) <= 19 for i in ids)


def test_new_ids_are_unique_across_threads():
    results: list[list[int]] = []
    start = threading.Barrier(8)

    def draw() -> None:
        start.wait()
        results.append([new_id() for _ in range(10_000)])

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [i for batch in results for i in batch]
    assert len(drawn) == 80_000
    assert len(set(drawn)) == 80_000


@pytest.mark.django_db
def test_bulk_insert_of_20000_records_gets_unique_ids(organization, admin_user):
    contacts = module_by_name("Contacts").id
    Record.objects.bulk_create(
        (
            Record(organization=organization, module_id=contacts, owner=admin_user, name=f"r{n}")
            for n in range(20_000)
        ),
        batch_size=2_000,
    )
    ids = list(Record.objects.filter(organization=organization).values_list("id", flat=True))
    assert len(ids) == 20_000
    assert len(set(ids)) == 20_000
    assert max(ids) <= MAX_ID


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgres_a_process_takes_its_node_number_from_a_sequence(monkeypatch):
    from django.db import connection

    import crm.ids

    # As a freshly started process: no node yet.
    monkeypatch.setattr(crm.ids, "_node", None)
    node = (new_id() >> 12) & 0x3FF
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('crm_id_node')")
        (following,) = cursor.fetchone()
    assert following == (node + 1) % 1024


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("4876876000000002175", 4876876000000002175),
        (4876876000000002175, 4876876000000002175),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), None),  # 19 digits, but past bigint
        (2**63, None),
        ("12345678901234567890", None),  # 20 digits
        ("0", None),
        (0, None),
        (-5, None),
        ("-5", None),
        ("12a", None),
        (" 12", None),
        ("", None),
        ("١٢٣", None),  # Arabic-Indic digits: str.isdigit() says yes, Bigin says no
        (True, None),
        (1.0, None),
        (None, None),
        ([], None),
    ],
)
def test_parse_id_accepts_digit_strings_and_integers_only(value, expected):
    assert parse_id(value) == expected


def test_ids_are_emitted_as_strings_so_json_clients_keep_every_digit():
    record_id = new_id()
    body = json.dumps({"id": emit_id(record_id), "owner": emit_id(None)})
    assert body == f'{{"id": "{record_id}", "owner": null}}'
    # What a client sends back, string or integer, parses to the same id.
    assert parse_id(json.loads(body)["id"]) == record_id
    assert parse_id(json.loads(str(record_id))) == record_id
