"""Loading a Bigin-shaped sandbox file (format: the README and docs/sandbox.md).

The whole file is validated before anything is written, and written in one transaction, so a
malformed file leaves the database as it was. Loading the same file twice changes nothing:
entries are matched by id when the file gives one (else organizations by name, users by email,
records by organization, module and name) and a row is saved only when a value differs.

The owner of a record that exists already is never written here: a different owner in the file
is listed in `LoadSummary.owner_changes`, and `owners.services.load_sandbox` (what the commands
in owners/management/commands call) changes it like every change of owner, with its audit row.
With `create_only` (seed_demo) only what is missing is created; existing rows stay as users left
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.ids import parse_id
from crm.models import Organization, Profile, Record, Role, User
from crm.modules import ACTIVITY_MODULE_IDS, module_by_name

USER_STATUSES = tuple(choice.value for choice in User.Status)
PROFILE_NAMES = ("Administrator", "Read Only", "Standard")


class SandboxError(ValueError):
    """A malformed sandbox file; the message names the entry."""


@dataclass(frozen=True)
class OwnerChange:
    """The file gives an existing record another owner (None: no owner)."""

    organization_id: int
    module_id: int
    record_id: int
    new_owner_id: int | None


@dataclass
class LoadSummary:
    created: dict[str, int] = field(
        default_factory=lambda: {"organizations": 0, "users": 0, "records": 0}
    )
    updated: dict[str, int] = field(
        default_factory=lambda: {"organizations": 0, "users": 0, "records": 0}
    )
    # Counted in `updated`, written by the caller through the ownership core.
    owner_changes: list[OwnerChange] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [
            f"{kind}: {self.created[kind]} created, {self.updated[kind]} updated"
            for kind in self.created
        ]
        return "; ".join(parts)


def _fail(where: str, message: str) -> SandboxError:
    return SandboxError(f"{where}: {message}")


def _optional_id(entry: dict[str, Any], where: str, key: str = "id") -> int | None:
    if entry.get(key) is None:
        return None
    value = parse_id(entry[key])
    if value is None:
        raise _fail(where, f"{key} {entry[key]!r} is not a numeric id")
    return value


def _text(entry: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(
            where, f"{key} must be a non-empty string" if required else f"{key} must be a string"
        )
    return value


def _choice(
    entry: dict[str, Any], key: str, where: str, choices: tuple[str, ...], default: str
) -> None:
    value = entry.get(key, default)
    if not isinstance(value, str) or value not in choices:
        raise _fail(where, f"{key} {value!r} is not one of {', '.join(choices)}")


def _list(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    value = parent.get(key, [])
    if not isinstance(value, list):
        raise _fail(where, f"{key} must be an array")
    return value


def _existing_org_id(entry: dict[str, Any], where: str) -> int | None:
    """The id of the organization this entry names, if it is already in the database."""
    org_id = _optional_id(entry, where)
    by_name = Organization.objects.filter(name=entry["name"]).values_list("id", flat=True).first()
    if org_id is None:
        return by_name
    if by_name is not None and by_name != org_id:
        raise _fail(where, f"name {entry['name']!r} belongs to organization {by_name}")
    return org_id if Organization.objects.filter(id=org_id).exists() else None


def validate(data: Any) -> None:
    """Raise SandboxError naming the first bad entry; return when the whole file is sound."""
    if not isinstance(data, dict) or not isinstance(data.get("organizations"), list):
        raise SandboxError('the file must be an object with an "organizations" array')
    seen_ids: dict[int, str] = {}
    seen_emails: dict[str, str] = {}
    seen_org_names: dict[str, str] = {}

    def claim_id(value: int | None, where: str) -> None:
        if value is None:
            return
        if value in seen_ids:
            raise _fail(where, f"duplicate id {value} (also {seen_ids[value]})")
        seen_ids[value] = where

    for o, org in enumerate(data["organizations"]):
        where = f"organizations[{o}]"
        if not isinstance(org, dict):
            raise _fail(where, "must be an object")
        claim_id(_optional_id(org, where), where)
        name = _text(org, "name", where)
        if name in seen_org_names:
            raise _fail(where, f"duplicate name {name!r} (also {seen_org_names[name]})")
        seen_org_names[name] = where
        _choice(org, "edition", where, tuple(Organization.Edition.values), "express")
        credits = org.get("api_credits_per_day")
        if credits is not None and (type(credits) is not int or not 0 < credits < 2**31):
            raise _fail(where, "api_credits_per_day must be a positive integer or null")
        org_id = _existing_org_id(org, where)
        existing_users: set[int] = set()
        if org_id is not None:
            existing_users = set(
                User.objects.filter(organization_id=org_id).values_list("id", flat=True)
            )

        org_user_ids: set[int] = set()
        for u, user in enumerate(_list(org, "users", where)):
            uwhere = f"{where}.users[{u}]"
            if not isinstance(user, dict):
                raise _fail(uwhere, "must be an object")
            user_id = _optional_id(user, uwhere)
            claim_id(user_id, uwhere)
            _text(user, "full_name", uwhere)
            email = _text(user, "email", uwhere).lower()
            if "@" not in email:
                raise _fail(uwhere, f"email {email!r} is not an email address")
            if email in seen_emails:
                raise _fail(uwhere, f"duplicate email {email} (also {seen_emails[email]})")
            seen_emails[email] = uwhere
            _choice(user, "status", uwhere, USER_STATUSES, "active")
            _choice(user, "profile", uwhere, PROFILE_NAMES, "Standard")
            if user.get("role") is not None:
                _text(user, "role", uwhere)
            holder = User.objects.filter(email=email).values_list("id", "organization_id").first()
            if holder is not None and (
                holder[1] != org_id or (user_id is not None and holder[0] != user_id)
            ):
                raise _fail(uwhere, f"email {email} belongs to another user ({holder[0]})")
            if user_id is not None:
                org_user_ids.add(user_id)

        users_elsewhere = User.objects.filter(id__in=org_user_ids)
        if org_id is not None:
            users_elsewhere = users_elsewhere.exclude(organization_id=org_id)
        for user_id in users_elsewhere.values_list("id", flat=True)[:1]:
            raise _fail(where, f"user id {user_id} is a user of another organization")

        # id -> (where, is an activity) for the records of this entry.
        file_records: dict[int, tuple[str, bool]] = {}
        for r, record in enumerate(_list(org, "records", where)):
            rwhere = f"{where}.records[{r}]"
            if not isinstance(record, dict):
                raise _fail(rwhere, "must be an object")
            record_id = _optional_id(record, rwhere)
            claim_id(record_id, rwhere)
            module_name = record.get("module")
            module = module_by_name(module_name) if isinstance(module_name, str) else None
            if module is None or module.api_name != module_name:
                raise _fail(rwhere, f"module {module_name!r} is not a Bigin module")
            _text(record, "name", rwhere, required=False)
            if not isinstance(record.get("fields", {}), dict):
                raise _fail(rwhere, "fields must be an object")
            owner_id = _optional_id(record, rwhere, "owner")
            if owner_id is not None and owner_id not in org_user_ids | existing_users:
                raise _fail(rwhere, f"owner {owner_id} is not a user of this organization")
            if record_id is not None:
                file_records[record_id] = (rwhere, module.is_activity)

        elsewhere = Record.objects.filter(id__in=file_records)
        if org_id is not None:
            elsewhere = elsewhere.exclude(organization_id=org_id)
        for record_id in elsewhere.values_list("id", flat=True)[:1]:
            raise _fail(
                file_records[record_id][0], f"id {record_id} is a record of another organization"
            )

        for r, record in enumerate(org.get("records", [])):
            rwhere = f"{where}.records[{r}]"
            parent_id = _optional_id(record, rwhere, "related_to")
            if parent_id is None:
                continue
            if not module_by_name(record["module"]).is_activity:
                raise _fail(rwhere, "only Tasks, Events and Calls can be related to a record")
            if parent_id in file_records:
                parent_is_activity = file_records[parent_id][1]
            else:
                in_db = (
                    Record.objects.filter(id=parent_id, organization_id=org_id)
                    .values_list("module_id", flat=True)
                    .first()
                    if org_id is not None
                    else None
                )
                if in_db is None:
                    raise _fail(
                        rwhere, f"related_to {parent_id} is not a record of this organization"
                    )
                parent_is_activity = in_db in ACTIVITY_MODULE_IDS
            if parent_is_activity:
                raise _fail(rwhere, f"related_to {parent_id} is an activity, not its parent record")


def _upsert(
    model,
    lookup: dict[str, Any],
    values: dict[str, Any],
    summary: LoadSummary,
    kind: str,
    *,
    create_only: bool = False,
) -> Any:
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        instance = model(**{**values, **lookup})
        if isinstance(instance, User):
            instance.set_unusable_password()
        instance.save()
        summary.created[kind] += 1
        return instance
    if create_only:
        return instance
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    owner_changed = False
    if isinstance(instance, Record) and "owner_id" in changed:
        # Not saved here: the caller changes it through the ownership core, with its audit row.
        changed.remove("owner_id")
        owner_changed = True
        summary.owner_changes.append(
            OwnerChange(
                organization_id=instance.organization_id,
                module_id=instance.module_id,
                record_id=instance.id,
                new_owner_id=values["owner_id"],
            )
        )
    if owner_changed and not changed:
        summary.updated[kind] += 1
    if changed:
        for name in changed:
            setattr(instance, name, values[name])
        if isinstance(instance, Record):
            instance.modified_time = timezone.now()
        instance.save()
        summary.updated[kind] += 1
    return instance


def load(data: Any, *, create_only: bool = False) -> LoadSummary:
    """Validate the sandbox, then create or update what it names in one transaction, except the
    owners of existing records (see the module's docstring). With `create_only`, create what is
    missing and leave every existing row alone."""
    validate(data)
    summary = LoadSummary()
    with transaction.atomic():
        for org_entry in data["organizations"]:
            org_id = parse_id(org_entry.get("id")) if org_entry.get("id") is not None else None
            org_lookup = {"id": org_id} if org_id else {"name": org_entry["name"]}
            org_values = {
                "name": org_entry["name"],
                "edition": org_entry.get("edition", Organization.Edition.EXPRESS),
                "api_credits_per_day": org_entry.get("api_credits_per_day"),
            }
            org = _upsert(
                Organization,
                org_lookup,
                org_values,
                summary,
                "organizations",
                create_only=create_only,
            )
            profiles = dict(Profile.objects.filter(organization=org).values_list("name", "id"))
            for entry in org_entry.get("users", []):
                role_id = None
                if entry.get("role"):
                    role_id = Role.objects.get_or_create(organization=org, name=entry["role"])[0].id
                values = {
                    "organization_id": org.id,
                    "email": entry["email"].lower(),
                    "full_name": entry["full_name"],
                    "status": entry.get("status", "active"),
                    "profile_id": profiles[entry.get("profile", "Standard")],
                    "role_id": role_id,
                }
                user_id = parse_id(entry["id"]) if entry.get("id") is not None else None
                lookup = {"id": user_id} if user_id else {"email": values["email"]}
                _upsert(User, lookup, values, summary, "users", create_only=create_only)

            # Parents first, so an activity's related_to always points at a saved record.
            entries = sorted(
                org_entry.get("records", []), key=lambda e: e.get("related_to") is not None
            )
            for entry in entries:
                module = module_by_name(entry["module"])
                values = {
                    "organization_id": org.id,
                    "module_id": module.id,
                    "name": entry.get("name", ""),
                    "fields": entry.get("fields", {}),
                    "owner_id": parse_id(entry["owner"])
                    if entry.get("owner") is not None
                    else None,
                    "related_to_id": (
                        parse_id(entry["related_to"])
                        if entry.get("related_to") is not None
                        else None
                    ),
                }
                record_id = parse_id(entry["id"]) if entry.get("id") is not None else None
                if record_id:
                    lookup = {"id": record_id}
                else:
                    lookup = {
                        "organization_id": org.id,
                        "module_id": module.id,
                        "name": values["name"],
                    }
                _upsert(Record, lookup, values, summary, "records", create_only=create_only)
    return summary
