from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower
from django.utils import timezone

from .ids import IdField


class Organization(models.Model):
    """The tenant: Bigin's org, Kenbun's OU."""

    id = IdField()

    class Edition(models.TextChoices):
        """Bigin's editions, for the API credits (docs/limits.md)."""

        FREE = "free", "Free"
        EXPRESS = "express", "Express"
        PREMIER = "premier", "Premier"

    name = models.CharField(max_length=200, unique=True)
    created_time = models.DateTimeField(default=timezone.now)
    edition = models.CharField(max_length=16, choices=Edition.choices, default=Edition.EXPRESS)
    api_credits_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="API credits in a rolling 24 hours; empty: the edition's figure.",
    )
    # The sandbox controls set it for one organization (docs/sandbox.md); empty: the setting.
    related_owner_delay_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds before related records follow; empty: RELATED_OWNER_DELAY_SECONDS.",
    )

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        adding = self._state.adding
        # An organization never exists without its three profiles: both or neither.
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                Profile.objects.bulk_create(
                    Profile(
                        organization=self,
                        name=name,
                        can_change_owner=can_change_owner,
                        can_write_records=can_write_records,
                    )
                    for name, can_change_owner, can_write_records in DEFAULT_PROFILES
                )


# (name, may change owners, may add, edit and delete records)
DEFAULT_PROFILES = (
    ("Administrator", True, True),
    ("Standard", True, True),
    ("Read Only", False, False),
)


class Profile(models.Model):
    id = IdField()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="profiles"
    )
    name = models.CharField(max_length=100)
    can_change_owner = models.BooleanField(default=False)
    # Bigin's Create, Edit and Delete permissions of the modules, as one: a Read Only profile
    # has none of them.
    can_write_records = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="profile_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    id = IdField()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="role_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    class Status(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"
        DELETED = "deleted"

    id = IdField()
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="users")
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="users")
    role = models.ForeignKey(
        Role, on_delete=models.SET_NULL, null=True, blank=True, related_name="users"
    )
    # Kenbun's assignment alert: does an assignment through the Kenbun API email this user?
    assignment_alert = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_time = models.DateTimeField(default=timezone.now)
    modified_time = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name", "organization", "profile"]

    class Meta:
        indexes = [models.Index(fields=["organization", "status"], name="user_org_status")]
        constraints = [
            # Target of the (owner_id, organization_id) foreign key on records (PostgreSQL).
            models.UniqueConstraint(fields=["id", "organization"], name="user_id_org_unique")
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.status == self.Status.ACTIVE

    @property
    def first_name(self) -> str:
        return self.full_name.rsplit(" ", 1)[0] if " " in self.full_name else ""

    @property
    def last_name(self) -> str:
        return self.full_name.rsplit(" ", 1)[-1]

    def clean(self) -> None:
        errors = {}
        if not self.organization_id:
            return
        if self.profile_id and self.profile.organization_id != self.organization_id:
            errors["profile"] = "The profile belongs to another organization."
        if self.role_id and self.role.organization_id != self.organization_id:
            errors["role"] = "The role belongs to another organization."
        if errors:
            raise ValidationError(errors)


class Module(models.Model):
    """A Bigin module. The seven rows come from the data migration (see crm/modules.py)."""

    id = models.BigIntegerField(primary_key=True)
    api_name = models.CharField(max_length=50, unique=True)
    module_name = models.CharField(max_length=50)
    singular_label = models.CharField(max_length=50)
    plural_label = models.CharField(max_length=50)
    is_activity = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.api_name


# The keys of a record's fields JSON that are indexed for search and duplicate checks.
SEARCHED_KEYS = ("Email", "Phone", "Mobile")


class Record(models.Model):
    """One table for the records of every module."""

    id = IdField()
    # No single-column indexes for these two: record_org_module_id starts with them.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    module = models.ForeignKey(Module, on_delete=models.PROTECT, related_name="+", db_index=False)
    # No database constraint of its own: the composite key (owner_id, organization_id) of
    # migration 0002 already refuses an owner that does not exist, and also one of another
    # organization; a second, plain key checked the same row again at every commit (half a
    # second per 50,000 rows a related transfer moves). No index of its own either:
    # record_org_owner_module_id starts with (organization, owner).
    owner = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="owned_records",
        db_constraint=False,
        db_index=False,
    )
    name = models.CharField(max_length=255, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    # An activity's parent record: Bigin's What_Id and $se_module. No database constraint of its
    # own, as for owner: the composite key (related_to_id, organization_id) of migration 0002
    # refuses a parent that does not exist or is of another organization. Its index is
    # record_related_to below.
    related_to = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        db_constraint=False,
        db_index=False,
    )
    created_time = models.DateTimeField(default=timezone.now)
    modified_time = models.DateTimeField(default=timezone.now)
    # When the owner last changed (None: never, since the record was created). Written by the
    # owner UPDATE with the time of its audit rows; the outbox entries compare it with the time of
    # the batch that asked for them, so a newer change of owner is never overwritten
    # (owners/statements.py, `newest_write_wins`).
    owner_changed_time = models.DateTimeField(null=True, blank=True, editable=False)
    # Not indexed: nothing looks records up by who touched them last, and every owner change
    # writes it. No database constraint either, as for the audit rows' actor
    # (audit/models.py): the value is the authenticated caller, a user the same request has just
    # read. A key PostgreSQL checks needs an index to check it by: without one, deleting a user
    # read every record of every organization once per user and key (a sandbox organization's
    # two users, in a database of 8M records: 2.2 s, bench/sandbox.py); with one, every owner
    # change would write one index entry more. Deleting a user through Django still empties
    # these columns (on_delete=SET_NULL); a sandbox organization's delete removes its records
    # before its users, and its users act on no other organization's records.
    modified_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Who added the record through the record APIs (None: loaded from a sandbox file). Neither
    # indexed nor a database constraint, for the same reasons as modified_by.
    created_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        indexes = [
            # A module's list in id order (and its pages by page_token: an id range).
            models.Index(fields=["organization", "module", "id"], name="record_org_module_id"),
            # An owner's list of a module in id order, an owner's count (index only), all of an
            # owner's records across modules (offboarding), and the composite owner key's
            # checks when a user changes. An owner with no record and one with a million both
            # read one range of it.
            models.Index(
                fields=["organization", "owner", "module", "id"],
                name="record_org_owner_module_id",
            ),
            # An organization's activities by parent (the related transfer's lookup), and the
            # composite key's check when records are deleted (related_to_id = $1 AND
            # organization_id = $2). Led by the organization like every index here, so that
            # PostgreSQL does not prefer another of them for that check: with the parent first,
            # the records of a new organization (no statistics yet: "1 row") were scanned once
            # per deleted record, 10,000 deleted records took 4 s. Contacts, Companies and
            # Pipelines have no parent: the index holds activities only, and the owner change
            # of a parent record writes nothing to it.
            models.Index(
                fields=["organization", "related_to"],
                name="record_org_related_to",
                condition=models.Q(related_to__isnull=False),
            ),
            # What a client searches by (GET .../search: email, phone, criteria on Email, Phone,
            # Mobile or the name) and what a write checks for duplicates, compared without case:
            # one index range however many records the organization has (bench/search.py).
            *(
                models.Index(
                    "organization",
                    "module",
                    Lower(KeyTextTransform(key, "fields")),
                    name=f"record_org_module_{key.lower()}",
                )
                for key in SEARCHED_KEYS
            ),
            models.Index("organization", "module", Lower("name"), name="record_org_module_name"),
        ]
        constraints = [
            # Target of the (related_to_id, organization_id) foreign key (PostgreSQL).
            models.UniqueConstraint(fields=["id", "organization"], name="record_id_org_unique")
        ]

    def __str__(self) -> str:
        return self.name or str(self.id)

    def clean(self) -> None:
        # PostgreSQL enforces both rules with composite foreign keys (migration 0002); this gives
        # forms and SQLite the same answer.
        errors = {}
        if (
            self.owner_id
            and not User.objects.filter(
                id=self.owner_id, organization_id=self.organization_id
            ).exists()
        ):
            errors["owner"] = "The owner must be a user of the record's organization."
        if (
            self.related_to_id
            and not Record.objects.filter(
                id=self.related_to_id, organization_id=self.organization_id
            ).exists()
        ):
            errors["related_to"] = "The related record must be in the same organization."
        if errors:
            raise ValidationError(errors)


# OAuth: every secret is stored only as its SHA-256 (crm/oauth/tokens.py) and looked up by it.


class OAuthClient(models.Model):
    """A Zoho "self client": its id is public, its secret is shown once and stored hashed."""

    id = IdField()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class GrantCode(models.Model):
    """Single-use, short-lived authorization code."""

    id = IdField()
    code_hash = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_time = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"grant code {self.id} of {self.user_id}"


class RefreshToken(models.Model):
    id = IdField()
    token_hash = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens")
    scopes = models.JSONField(default=list)
    created_time = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_time"], name="refresh_user_created")]

    def __str__(self) -> str:
        return f"refresh token {self.id} of {self.user_id}"


class AccessToken(models.Model):
    id = IdField()
    token_hash = models.CharField(max_length=64, unique=True)
    # Null for tokens printed by `issue_token`, which have no refresh token.
    refresh_token = models.ForeignKey(
        RefreshToken,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="access_tokens",
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    created_time = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["refresh_token", "created_time"], name="access_refresh_created")
        ]

    def __str__(self) -> str:
        return f"access token {self.id} of {self.user_id}"


# The sandbox controls' rows (crm/sandbox/models.py) are crm's models too.
from .sandbox.models import Fault, JournalEntry, Snapshot, SnapshotRecord  # noqa: E402, F401
