from __future__ import annotations

import importlib
import json
import multiprocessing
import pkgutil
import queue
import sqlite3
import threading
import time

import pytest
from django.db import connection, transaction

import crm.migrations
from crm.ids import BLOCK_SIZE, ID_BASE, LAST_BLOCK, MAX_ID, IdAllocator, new_id, parse_id
from crm.models import Organization, Record, User
from crm.modules import module_by_name
from tests.crm.id_draws import draw_ids

pytestmark = pytest.mark.django_db


def test_new_ids_are_unique_and_increasing_within_a_process():
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_new_ids_have_19_digits_and_fit_a_signed_64_bit_integer():
    ids = [new_id() for _ in range(1_000)]
    assert all(ID_BASE <= i <= MAX_ID == 2**63 - 1 for i in ids)
    assert {len(str(i)) for i in ids} == {19}


def test_an_allocator_takes_the_next_block_when_its_block_runs_out():
    allocator = IdAllocator()
    ids = [allocator.new_id(connection) for _ in range(BLOCK_SIZE + 1)]
    assert allocator.blocks_taken == 2
    assert ids[:-1] == list(range(ids[0], ids[0] + BLOCK_SIZE))  # the whole first block, in order
    assert _block(ids[-1]) > _block(ids[0])


def test_new_ids_are_unique_across_threads():
    results: list[list[int]] = []
    first_ids = threading.Lock()
    start = threading.Barrier(8)

    def draw() -> None:
        try:
            # One thread at a time takes a block (on SQLite each thread takes its own), then all
            # draw at once.
            with first_ids:
                batch = [new_id()]
            start.wait()
            batch += [new_id() for _ in range(10_000)]
            results.append(batch)
        finally:
            connection.close()

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [i for batch in results for i in batch]
    assert len(drawn) == 80_008
    assert len(set(drawn)) == 80_008


def test_an_instance_gets_its_id_when_saved_not_when_built(django_assert_num_queries):
    # Django's system checks build a User before the database may exist (`manage.py migrate` on
    # a fresh one): building an instance must not touch the database.
    with django_assert_num_queries(0):
        built = User(email="new@zylker.test")
    assert built.id is None
    organization = Organization.objects.create(name="Zylker")
    assert ID_BASE <= organization.id <= MAX_ID


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


def _taken_blocks() -> int:
    """How many blocks the database has handed out."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT CASE WHEN is_called THEN last_value + 1 ELSE 0 END FROM crm_id_block"
            )
        else:
            cursor.execute("SELECT last_block + 1 FROM crm_id_block")
        return cursor.fetchone()[0]


def _block(record_id: int) -> int:
    return (record_id - ID_BASE) // BLOCK_SIZE


def test_a_process_start_takes_a_block_the_database_records_as_taken():
    allocator = IdAllocator()  # what a freshly started process has
    first = allocator.new_id(connection)
    assert first == ID_BASE + _block(first) * BLOCK_SIZE  # the first id of its block
    assert _taken_blocks() == _block(first) + 1
    assert IdAllocator().new_id(connection) == first + BLOCK_SIZE  # the next start: next block


def test_a_block_taken_in_a_transaction_that_rolls_back_is_never_used_unrecorded():
    # On SQLite the counter's increment rolls back with the transaction, and another process
    # could take the same block next: the allocator must not keep it. On PostgreSQL nextval
    # survives the rollback and the block is kept.
    allocator = IdAllocator()
    with pytest.raises(RuntimeError), transaction.atomic():
        allocator.new_id(connection)
        raise RuntimeError("roll back")
    after_rollback = allocator.new_id(connection)
    assert _block(after_rollback) < _taken_blocks()
    expected_blocks = 1 if connection.vendor == "postgresql" else 2
    assert allocator.blocks_taken == expected_blocks


def _draw_in_processes(database_url: str, processes: int, starts_each: int) -> list[int]:
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters, as real process starts
    start_together = spawn.Barrier(processes)
    results = spawn.Queue()
    children = [
        spawn.Process(target=draw_ids, args=(database_url, starts_each, start_together, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    batches: list[list[int]] = []
    deadline = time.monotonic() + 600
    while len(batches) < processes:
        try:
            batches.append(results.get(timeout=1))
        except queue.Empty:
            failed = [child.exitcode for child in children if child.exitcode not in (None, 0)]
            assert not failed, f"a drawing process failed (exit codes {failed})"
            assert time.monotonic() < deadline, "the drawing processes did not finish"
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return [i for batch in batches for i in batch]


def _assert_no_duplicate(drawn: list[int], processes: int, starts_each: int) -> None:
    per_process = 500 + 3 * starts_each + 100 * len(range(0, starts_each, 50)) + 500
    assert len(drawn) == processes * per_process
    assert len(set(drawn)) == len(drawn)
    assert all(ID_BASE <= i <= MAX_ID for i in drawn)


@pytest.mark.postgres
def test_5000_process_starts_and_8_concurrent_processes_draw_no_duplicate_id():
    # The old scheme (a node number from a sequence cycling through 1,024 values) gave two live
    # processes the same node after 1,024 starts; their same-millisecond draws collided.
    settings = connection.settings_dict
    database_url = (
        f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}"
        f"/{settings['NAME']}"
    )
    blocks_before = _taken_blocks()
    drawn = _draw_in_processes(database_url, processes=8, starts_each=625)
    _assert_no_duplicate(drawn, processes=8, starts_each=625)
    # Every simulated start took a block of its own from the sequence, as a real one does.
    assert _taken_blocks() - blocks_before >= 8 * 625 + 8


def _block_migration():
    """The crm migration that creates the block sequence and table (found by what it defines)."""
    return next(
        module
        for module in (
            importlib.import_module(f"crm.migrations.{info.name}")
            for info in pkgutil.iter_modules(crm.migrations.__path__)
        )
        if hasattr(module, "OTHER_FORWARD")
    )


def test_the_sequence_stops_at_the_last_block_whose_ids_fit_a_bigint():
    assert _block_migration().LAST_BLOCK == LAST_BLOCK == 7_842_418_705_800  # docs: ~7.8e12
    assert ID_BASE + (LAST_BLOCK + 1) * BLOCK_SIZE - 1 <= MAX_ID
    assert ID_BASE + (LAST_BLOCK + 2) * BLOCK_SIZE - 1 > MAX_ID


def test_on_sqlite_concurrent_processes_draw_no_duplicate_id(tmp_path):
    path = tmp_path / "ids.sqlite3"
    migration = _block_migration()  # the counter table as the migration creates it
    with sqlite3.connect(path) as database:
        for statement in migration.OTHER_FORWARD:
            database.execute(statement)
    database.close()
    # SQLite has one writer at a time: wait for the lock as long as a loaded machine needs.
    drawn = _draw_in_processes(f"sqlite:///{path}?timeout=120", processes=4, starts_each=50)
    _assert_no_duplicate(drawn, processes=4, starts_each=50)
    with sqlite3.connect(path) as database:
        (last_block,) = database.execute("SELECT last_block FROM crm_id_block").fetchone()
    database.close()
    assert last_block + 1 >= 4 * 50 + 4


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


def test_an_id_sent_back_as_a_string_or_an_integer_parses_to_the_same_id():
    record_id = new_id()
    body = json.dumps({"id": str(record_id)})
    assert parse_id(json.loads(body)["id"]) == record_id
    assert parse_id(json.loads(str(record_id))) == record_id
