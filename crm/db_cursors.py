"""A cursor for the statements every request makes, which PostgreSQL can keep prepared."""

from __future__ import annotations

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def server_binding_cursor():
    """Django's cursor (queries counted and logged, errors wrapped as Django's) for the statements
    every request makes (the token lookup, crm/oauth/authentication.py; a change of owner's lock,
    UPDATE and INSERTs, owners/statements.py). On PostgreSQL it binds the parameters on the
    server rather than quoting them into the text: psycopg then prepares each of these statements
    on a connection after a few calls (`prepare_threshold`, config/settings.py), and PostgreSQL
    stops parsing and planning them on every request, about a fifth of a single-record change's
    time (bench/single.py). Behind pgbouncer in transaction mode (no threshold) each is sent
    whole as an unnamed statement, which holds whichever server session runs it. The ORM's own
    cursors bind on the client and never prepare."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy looks it up
    if db.vendor != "postgresql":
        return db.cursor()
    # What `connection.cursor()` does, with a server-binding cursor in place of Django's.
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    cursor = psycopg.Cursor(db.connection)
    if db.queries_logged:
        return _LoggedCursor(cursor, db)
    return db.make_cursor(cursor)


class _LoggedCursor(CursorDebugWrapper):
    """Django's debug cursor (DEBUG, tests counting queries), logging each statement with its
    values as Django's own cursors do: psycopg keeps no text of a prepared statement's run, which
    is where Django's log reads it."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)
