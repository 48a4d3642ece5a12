"""Argument lookups shared by the token commands (a leading underscore keeps Django from listing
this module as a command)."""

from __future__ import annotations

from django.core.management.base import CommandError

from crm.ids import parse_id
from crm.models import OAuthClient, Organization, User
from crm.oauth.grants import parse_scopes


def user_by_email_or_id(value: str) -> User:
    number = parse_id(value)
    users = User.objects.select_related("organization")
    user = (users.filter(pk=number).first() if number is not None else None) or users.filter(
        email__iexact=value.strip()
    ).first()
    if user is None:
        raise CommandError(f"No user with id or email {value!r}.")
    return user


def active_user(value: str) -> User:
    user = user_by_email_or_id(value)
    if not user.is_active:
        raise CommandError(
            f"User {user.email} is {user.status}; tokens are issued to active users only."
        )
    return user


def organization_by_id_or_name(value: str) -> Organization:
    number = parse_id(value)
    organization = (
        Organization.objects.filter(pk=number).first() if number is not None else None
    ) or Organization.objects.filter(name=value).first()
    if organization is None:
        raise CommandError(f"No organization with id or name {value!r}.")
    return organization


def client_by_client_id(value: str) -> OAuthClient:
    client = OAuthClient.objects.filter(client_id=value).first()
    if client is None:
        raise CommandError(f"No OAuth client with client id {value!r}.")
    return client


def scopes(value: str) -> list[str]:
    try:
        return parse_scopes(value)
    except ValueError as error:
        raise CommandError(f"--scope: {error}") from None
