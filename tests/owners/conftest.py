from __future__ import annotations

import pytest

from config.celery import app

CHANGE_OWNER_SCOPE = "ZohoBigin.change_owner.CREATE"


@pytest.fixture
def new_owner(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def client_for(auth_client):
    """A client for `user` holding the change-owner scope."""

    def build(user):
        return auth_client(user, CHANGE_OWNER_SCOPE)

    return build


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


@pytest.fixture
def contacts(make_record):
    return [make_record(module_name="Contacts", name=f"Contact {n}") for n in range(3)]


@pytest.fixture
def in_process_tasks():
    """Tasks run in the calling process, as under `make run` (no broker), errors propagating."""
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
