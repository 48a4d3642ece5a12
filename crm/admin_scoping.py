"""One rule for every tenant model in the admin: a superuser runs the platform and sees every
organization; any other staff user sees, chooses and filters by its own organization only.

An admin opts in with `OrganizationScopedAdmin` and names the lookup from its model to the
organization. Foreign-key choices follow the same rule through the related model's own admin, so
each model declares its path once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import ForeignKey, QuerySet
from django.forms import Field
from django.http import HttpRequest


def scope_to_organization(
    queryset: QuerySet, organization_field: str, request: HttpRequest
) -> QuerySet:
    """`queryset` as `request.user` may see it: whole for a superuser, else its organization's."""
    if request.user.is_superuser:
        return queryset
    return queryset.filter(**{organization_field: request.user.organization_id})


class VisibleValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Django offers the values of a field across a relation (`profile__name`) from every row of
    the related table, other organizations' included; these come from the rows on the list."""

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (
            model_admin.get_queryset(request)
            .distinct()
            .order_by(field_path)
            .values_list(field_path, flat=True)
        )


class OrganizationScopedAdmin:
    """Mixin for a ModelAdmin of a tenant model; put it before `admin.ModelAdmin` in the bases.

    `organization_field` is the lookup from the model to its organization: `organization`,
    `user__organization`, `client__organization`, or `id` for Organization itself.
    """

    organization_field: str = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Everything else (change, history, delete and password pages, actions, filters) starts
        # from this queryset, so another organization's id behaves like a missing one.
        return scope_to_organization(
            super().get_queryset(request), self.organization_field, request
        )

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Field | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        related_admin = self._scoped_admin_of(db_field.related_model)
        if field is not None and related_admin is not None:
            field.queryset = scope_to_organization(
                field.queryset, related_admin.organization_field, request
            )
        return field

    def get_list_filter(self, request: HttpRequest):
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [self._visible_choices_only(spec) for spec in filters]

    def _visible_choices_only(self, spec):
        """A filter whose choices come from the rows this user sees, not from a whole table."""
        if isinstance(spec, (list, tuple)):
            path, filter_class = spec
            if filter_class is admin.RelatedFieldListFilter:
                return (path, admin.RelatedOnlyFieldListFilter)
            return spec
        if not isinstance(spec, str):
            return spec  # a SimpleListFilter computes its own choices
        fields = get_fields_from_path(self.model, spec)
        if fields[-1].is_relation:
            return (spec, admin.RelatedOnlyFieldListFilter)
        if len(fields) > 1:
            return (spec, VisibleValuesFieldListFilter)
        return spec

    def _scoped_admin_of(self, model) -> OrganizationScopedAdmin | None:
        if not self.admin_site.is_registered(model):
            return None
        model_admin = self.admin_site.get_model_admin(model)
        return model_admin if isinstance(model_admin, OrganizationScopedAdmin) else None
