"""Organizations made and removed by the sandbox controls, one per test (docs/sandbox.md), and
the tokens they hand out.

`create_organization` takes the sandbox file's shape for one organization (crm/sandbox/loader.py
validates it, so the controls and `load_sandbox` accept the same data) and writes it in one
transaction with bulk INSERTs: the organization is new, so there is nothing to match or update.
Records are created with their first owner, which is not a change of owner (no audit row), as
the loader does. Then a self client and, for every active user, a refresh token and an access
token, through the token server's own grant (crm/oauth/grants.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.admin.models import LogEntry
from django.db import connection, transaction
from django.utils import timezone

from crm.ids import new_id, parse_id
from crm.models import (
    AccessToken,
    GrantCode,
    OAuthClient,
    Organization,
    Profile,
    Record,
    RefreshToken,
    Role,
    User,
)
from crm.modules import module_by_name
from crm.oauth.grants import (
    SelfClient,
    create_self_client,
    exchange_code,
    issue_access_token,
    issue_grant,
)

from . import journal, loader, snapshots
from .models import Fault, JournalEntry, Snapshot
from .ownership import Ownership

# Every endpoint the service serves, in both scope families (the official Zoho CRM SDKs send
# ZohoCRM.* tokens): what a token gets unless the caller names its scopes.
ALL_SCOPES = tuple(
    f"{family}.{resource}.ALL"
    for family in ("ZohoBigin", "ZohoCRM")
    for resource in ("change_owner", "modules", "users", "settings", "org")
)
CLIENT_NAME = "Sandbox"


@dataclass(frozen=True)
class UserTokens:
    user: User
    access_token: str | None  # None for a user who is not active: no token would work
    refresh_token: str | None


@dataclass(frozen=True)
class CreatedOrganization:
    organization: Organization
    users: list[UserTokens]
    client: SelfClient
    records: list[tuple[int, str]] = field(default_factory=list)  # (id, module), in input order


def _prepared(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with an id for every user and record, and owners named by email turned into
    those ids, so records can name owners whose ids the caller did not choose. A record without
    an owner gets the first active user, as a record made through Bigin's API would."""
    if not isinstance(entry.get("users", []), list):
        return entry  # the loader names the mistake
    users = [dict(user) if isinstance(user, dict) else user for user in entry.get("users", [])]
    by_email: dict[str, int] = {}
    for user in users:
        if not isinstance(user, dict):
            continue
        if user.get("id") is None:
            user["id"] = str(new_id())
        if isinstance(user.get("email"), str) and parse_id(user["id"]) is not None:
            by_email.setdefault(user["email"].lower(), parse_id(user["id"]))
    first_active = next(
        (
            user["id"]
            for user in users
            if isinstance(user, dict) and user.get("status", "active") == "active"
        ),
        None,
    )
    records = []
    for record in entry.get("records", []) if isinstance(entry.get("records"), list) else []:
        if isinstance(record, dict):
            record = dict(record)
            if record.get("id") is None:
                record["id"] = str(new_id())
            owner = record.get("owner", first_active)
            if isinstance(owner, str) and owner.lower() in by_email:
                owner = str(by_email[owner.lower()])
            record["owner"] = owner
        records.append(record)
    prepared = {**entry, "users": users}
    if "records" in entry:
        prepared["records"] = records if isinstance(entry["records"], list) else entry["records"]
    return prepared


def create_organization(*, entry: dict[str, Any], scopes: list[str]) -> CreatedOrganization:
    """Create an organization from one sandbox-file entry (raises loader.SandboxError naming the
    first bad part), with a self client and tokens for its active users, and its `creation`
    snapshot (what `reset` goes back to)."""
    entry = _prepared(entry)
    loader.validate({"organizations": [entry]})
    now = timezone.now()
    with transaction.atomic(durable=True):
        organization = Organization.objects.create(
            name=entry["name"],
            edition=entry.get("edition", Organization.Edition.EXPRESS),
            api_credits_per_day=entry.get("api_credits_per_day"),
        )
        profiles = dict(Profile.objects.filter(organization=organization).values_list("name", "id"))
        role_names = sorted({user["role"] for user in entry["users"] if user.get("role")})
        roles = {
            role.name: role.id
            for role in Role.objects.bulk_create(
                Role(id=new_id(), organization=organization, name=name) for name in role_names
            )
        }
        users = []
        for spec in entry["users"]:
            user = User(
                id=parse_id(spec["id"]),
                organization=organization,
                email=spec["email"].lower(),
                full_name=spec["full_name"],
                status=spec.get("status", User.Status.ACTIVE),
                profile_id=profiles[spec.get("profile", "Standard")],
                role_id=roles.get(spec.get("role")),
                created_time=now,
            )
            user.set_unusable_password()
            users.append(user)
        User.objects.bulk_create(users)
        records = [
            Record(
                id=parse_id(spec["id"]),
                organization=organization,
                module_id=module_by_name(spec["module"]).id,
                owner_id=parse_id(spec["owner"]) if spec.get("owner") is not None else None,
                name=spec.get("name", ""),
                fields=spec.get("fields", {}),
                related_to_id=(
                    parse_id(spec["related_to"]) if spec.get("related_to") is not None else None
                ),
                created_time=now,
                modified_time=now,
            )
            for spec in entry.get("records", [])
        ]
        Record.objects.bulk_create(records)
        snapshots.take(organization, Snapshot.CREATION, history=[])
    client = create_self_client(organization=organization, name=CLIENT_NAME)
    issued = [
        _tokens_for(client, user, scopes) if user.is_active else UserTokens(user, None, None)
        for user in users
    ]
    return CreatedOrganization(
        organization=organization,
        users=issued,
        client=client,
        records=[
            (record.id, spec["module"])
            for record, spec in zip(records, entry.get("records", []), strict=True)
        ],
    )


def _tokens_for(client: SelfClient, user: User, scopes: list[str]) -> UserTokens:
    """A refresh token and its first access token, as a self client's grant code gives them."""
    code = issue_grant(client=client.client, user=user, scopes=scopes)
    issued = exchange_code(
        client_id=client.client.client_id, client_secret=client.client_secret, code=code
    )
    return UserTokens(user, issued.access_token, issued.refresh_token)


def issue_token(*, user: User, scopes: list[str], expires_in: int) -> str:
    """An access token of `expires_in` seconds (1 lets a client test its refresh path)."""
    return issue_access_token(user=user, scopes=scopes, expires_in=timedelta(seconds=expires_in))


def delete_organization(organization: Organization, *, ownership: Ownership) -> None:
    """Remove the organization and everything of it, in one transaction: its owner history and
    pending work (through `ownership`), records, sandbox rows, tokens, clients, users.

    Records and users go by one DELETE each rather than through Django's collector, which would
    look for their dependants with queries no index serves (records by owner alone, by
    `modified_by`) over every organization's rows; what depends on them is deleted first."""
    org_id = organization.id
    with transaction.atomic(durable=True):
        ownership.forget(org_id)
        user_ids = list(User.objects.filter(organization_id=org_id).values_list("id", flat=True))
        with connection.cursor() as cursor:
            # One statement for every record: activities and their parents go together, so the
            # self-referencing key (deferred on PostgreSQL) holds at commit.
            cursor.execute(
                f"DELETE FROM {Record._meta.db_table} WHERE organization_id = %s", [org_id]
            )
        for model in (Fault, JournalEntry, Snapshot):
            model.objects.filter(organization_id=org_id).delete()
        journal.forget_calls_under_way(org_id)
        AccessToken.objects.filter(user_id__in=user_ids).delete()
        RefreshToken.objects.filter(user_id__in=user_ids).delete()
        GrantCode.objects.filter(user_id__in=user_ids).delete()
        OAuthClient.objects.filter(organization_id=org_id).delete()
        for through in (User.groups.through, User.user_permissions.through):
            through.objects.filter(user_id__in=user_ids).delete()
        LogEntry.objects.filter(user_id__in=user_ids).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {User._meta.db_table} WHERE organization_id = %s", [org_id]
            )
        Organization.objects.filter(id=org_id).delete()
