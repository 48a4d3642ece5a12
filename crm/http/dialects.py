"""The API dialects the service speaks: Bigin v2 and Zoho CRM v8. The same views answer both; a
dialect only renames what the client sees (api-spec.md, "Zoho CRM v8 dialect"):

- module API names: CRM's `Deals` is our `Pipelines` (which CRM does not know); the other modules
  keep their names;
- scope family: a view declares its scopes as `ZohoBigin.*`; under CRM they are the `ZohoCRM.*`
  twins, with the same `.ALL` rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm.modules import MODULES, ModuleInfo

BIGIN_SCOPE_PREFIX = "ZohoBigin."
# The module position of a path, as every dialect's router names it.
MODULE_PREFIX = r"(?P<module>[^/.]+)"


@dataclass(frozen=True)
class Dialect:
    name: str
    path_prefix: str  # e.g. "/bigin/v2/"
    scope_prefix: str  # e.g. "ZohoBigin."
    # Our module API name -> (the dialect's API name, singular label, plural label).
    renamed: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # Zoho CRM (v5 on): `fields` is mandatory when listing a module's records.
    list_needs_fields: bool = False
    # The status of a record write (add, update, upsert, delete) whose records partly failed:
    # Bigin's 202 Accepted, Zoho CRM's 207 Multi-Status.
    records_partial_status: int = 202

    def api_name(self, module: ModuleInfo) -> str:
        renamed = self.renamed.get(module.api_name)
        return renamed[0] if renamed else module.api_name

    def labels(self, module: ModuleInfo) -> tuple[str, str]:
        """(singular, plural) as this dialect's clients see them."""
        renamed = self.renamed.get(module.api_name)
        return (renamed[1], renamed[2]) if renamed else (module.singular_label, module.plural_label)

    def module(self, name: str) -> ModuleInfo | None:
        """The module this dialect calls `name` (case-insensitive), or None."""
        return self._by_lower_name.get(name.lower())

    @property
    def _by_lower_name(self) -> dict[str, ModuleInfo]:
        return _NAMES[self.name]

    def scopes(self, scopes: tuple[str, ...]) -> tuple[str, ...]:
        """A view's `ZohoBigin.*` scopes, in this dialect's family."""
        if self.scope_prefix == BIGIN_SCOPE_PREFIX:
            return scopes
        return tuple(
            self.scope_prefix + scope.removeprefix(BIGIN_SCOPE_PREFIX)
            if scope.startswith(BIGIN_SCOPE_PREFIX)
            else scope
            for scope in scopes
        )


BIGIN = Dialect(name="bigin", path_prefix="/bigin/v2/", scope_prefix=BIGIN_SCOPE_PREFIX)
CRM_V8 = Dialect(
    name="crm_v8",
    path_prefix="/crm/v8/",
    scope_prefix="ZohoCRM.",
    renamed={"Pipelines": ("Deals", "Deal", "Deals")},
    list_needs_fields=True,
    records_partial_status=207,
)
DIALECTS = (BIGIN, CRM_V8)

_NAMES: dict[str, dict[str, ModuleInfo]] = {
    dialect.name: {dialect.api_name(module).lower(): module for module in MODULES}
    for dialect in DIALECTS
}


def dialect_of(view: object) -> Dialect:
    """The dialect a view answers in (a view class attribute; Bigin unless set)."""
    return getattr(view, "dialect", BIGIN)
