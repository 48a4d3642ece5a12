"""The body of one process of the id test (tests/crm/test_ids.py), started with the `spawn`
method: a fresh interpreter, as a deployment starts one. Only the standard library is imported
here at module level, so the child sets its database before Django loads its settings."""

from __future__ import annotations

import os


def draw_ids(database_url: str, simulated_starts: int, start_together, results) -> None:
    """Draw ids as a long-lived process does while `simulated_starts` other processes start,
    draw a few ids and stop (each a new allocator: what a process start gets); a few of them
    stay alive and draw again at the end. Puts the list of every id drawn on `results`."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from crm.ids import IdAllocator, new_id

    start_together.wait()
    drawn = [new_id() for _ in range(500)]
    still_running = []
    for start in range(simulated_starts):
        started = IdAllocator()
        drawn.append(started.new_id(connection))
        drawn.append(started.new_id(connection))
        drawn.append(new_id())  # this process keeps drawing meanwhile
        if start % 50 == 0:
            still_running.append(started)
    for started in still_running:
        drawn.extend(started.new_id(connection) for _ in range(100))
    drawn.extend(new_id() for _ in range(500))
    connection.close()
    results.put(drawn)
