"""The seven Bigin modules. The data migration creates these rows with these ids, so a request can
resolve a module name without a query."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleInfo:
    id: int
    api_name: str
    module_name: str
    singular_label: str
    plural_label: str
    is_activity: bool = False


MODULES: tuple[ModuleInfo, ...] = (
    ModuleInfo(4876876000000002175, "Contacts", "Contacts", "Contact", "Contacts"),
    ModuleInfo(4876876000000002181, "Pipelines", "Deals", "Pipeline", "Pipelines"),
    ModuleInfo(4876876000000002177, "Accounts", "Accounts", "Company", "Companies"),
    ModuleInfo(4876876000000002185, "Products", "Products", "Product", "Products"),
    ModuleInfo(4876876000000002193, "Tasks", "Tasks", "Task", "Tasks", is_activity=True),
    ModuleInfo(4876876000000002195, "Events", "Events", "Event", "Events", is_activity=True),
    ModuleInfo(4876876000000002197, "Calls", "Calls", "Call", "Calls", is_activity=True),
)

_BY_LOWER_NAME = {module.api_name.lower(): module for module in MODULES}
ACTIVITY_MODULES = tuple(module for module in MODULES if module.is_activity)
ACTIVITY_MODULE_IDS = frozenset(module.id for module in ACTIVITY_MODULES)


def module_by_name(name: str) -> ModuleInfo | None:
    """The module with this API name, matched case-insensitively, or None."""
    return _BY_LOWER_NAME.get(name.lower())


_BY_ID = {module.id: module for module in MODULES}


def module_by_id(module_id: int) -> ModuleInfo:
    """The module with this id (ids come from our own rows, so it always exists)."""
    return _BY_ID[module_id]
