"""The shape of the house: dependencies point one way and no modules import each other in a
circle, counting imports inside functions (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "crm", "owners", "audit")
# Which app may import which: owners -> crm, owners -> audit, audit -> crm; crm on nothing ours.
ALLOWED = {
    "crm": {"crm"},
    "audit": {"audit", "crm"},
    "owners": {"owners", "crm", "audit"},
    "config": {"config", "crm", "owners", "audit"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in it, function bodies included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` names a module; `from mod import name` names mod.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    paths = [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    ]
    modules = {_module_name(path) for path in paths}
    return {_module_name(path): _imports(path, modules) for path in paths}


def test_apps_depend_on_each_other_one_way():
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if target.split(".")[0] not in ALLOWED[module.split(".")[0]]
    )
    assert wrong == []


def test_no_modules_import_each_other_in_a_circle():
    graph = _graph()
    # A package's __init__ that only hands on names is not a link of a circle.
    assert len(graph) > 50  # the walk found the tree

    circles = []
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            circles.append([*visiting[visiting.index(module) :], module])
            return
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert circles == []


def _production_files() -> list[Path]:
    return [
        path
        for app in ("crm", "owners", "audit")
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    ]


def test_only_the_settings_read_the_environment():
    """A setting is declared in config/settings.py (django-environ) and read as a setting; code
    that reads the environment itself is how a test hook creeps in (no test hooks in production
    code: tests reach states through real mechanisms)."""
    readers = []
    for path in _production_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def test_no_private_name_is_imported_across_modules():
    """`from x import _name` between modules: a private function used by another module is a
    public one in hiding (make it public, or keep the caller beside it)."""
    found = []
    for path in _production_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or node.level):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and not (node.module or "").startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {private}")
    assert found == []
