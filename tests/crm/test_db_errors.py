"""What counts as the database unavailable (crm/db_errors.py): an error the server sends about
the request itself is a bug's, not an outage, even where its class is the one psycopg uses for a
server session lost mid-COMMIT (tests/integration/test_connection_lost.py shows that one)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, InternalError, ProgrammingError, connection, transaction

from crm.db_errors import database_unavailable

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _raised(*statements: str) -> DatabaseError:
    """The error the last of `statements` raises, run in one transaction that is rolled back."""
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cur:
        for statement in statements:
            try:
                cur.execute(statement)
            except ProgrammingError:
                continue  # the transaction is aborted now: the next statement says so
    return raised.value


def test_a_statement_in_an_aborted_transaction_is_not_the_database_unavailable():
    # 25P02, class InternalError: the code went on after an error in its transaction.
    error = _raised("SELECT * FROM no_such_table", "SELECT 1")

    assert isinstance(error, InternalError)
    assert error.__cause__.sqlstate == "25P02"
    assert not database_unavailable(error)


def test_a_cancelled_statement_is_the_database_unavailable():
    # 57014, class OperationalError: statement_timeout, or an operator's pg_cancel_backend.
    error = _raised("SET LOCAL statement_timeout = '10ms'", "SELECT pg_sleep(1)")

    assert database_unavailable(error)
