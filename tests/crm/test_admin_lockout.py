"""The admin login locks a source address out after repeated failures (django-axes)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"


@pytest.fixture
def staff(admin_user, settings):
    settings.AXES_ENABLED = True
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.set_password(PASSWORD)
    admin_user.save()
    return admin_user


def _login(client: Client, email: str, password: str, address: str):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=address)


def test_the_admin_locks_an_address_out_after_five_failures(staff):
    client = Client()
    failures = [_login(client, staff.email, f"guess-{n}", "203.0.113.7") for n in range(5)]
    locked = _login(client, staff.email, PASSWORD, "203.0.113.7")
    elsewhere = _login(Client(), staff.email, PASSWORD, "198.51.100.20")

    assert [r.status_code for r in failures[:4]] == [200] * 4  # the form again, with its error
    assert failures[4].status_code == 429
    # Locked out: even the right password is refused, and no session is opened.
    assert locked.status_code == 429
    assert b"too many login attempts" in locked.content.lower()
    assert "_auth_user_id" not in client.session
    # Another address is not affected.
    assert elsewhere.status_code == 302
