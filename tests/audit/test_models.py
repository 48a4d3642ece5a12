from __future__ import annotations

import uuid

import pytest
from django.db.models import ProtectedError

from audit.models import AuditEntry
from crm.modules import module_by_name
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_the_log_names_cannot_be_deleted_without_database_keys(organization, admin_user):
    # The log's keys have no database constraints (audit/models.py); Django's PROTECT still
    # refuses to delete what an entry names.
    leaver = UserFactory(organization=organization)
    AuditEntry.objects.create(
        organization=organization,
        module_id=module_by_name("Contacts").id,
        record_id=1,
        previous_owner=leaver,
        new_owner=admin_user,
        actor=admin_user,
        source="api",
        batch_id=uuid.uuid4(),
    )

    with pytest.raises(ProtectedError):
        leaver.delete()
