"""The error tables in docs/ are the code's error tables: every documented (HTTP status, code,
message) is a row the code can answer, and every row of the code's tables is documented.

The code's tables are the module-level ErrorKind (Bigin envelope) and KenbunErrorKind (Kenbun's
`{"status": "error", "message"}`) objects of crm, owners and audit, and the token endpoint's
`{"error": ...}` values."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

from crm.http.errors import ErrorKind
from crm.oauth import grants
from crm.oauth import views as oauth_views
from owners.api.kenbun.request import KenbunErrorKind

from .markdown import DOCS

PACKAGES = ("crm", "owners", "audit")
TOKEN_ERRORS = {grants.INVALID_CLIENT, grants.INVALID_CODE, oauth_views.UNSUPPORTED_GRANT_TYPE}


def code_tables() -> tuple[set[tuple[int, str, str]], set[tuple[int, str]]]:
    bigin, kenbun = set(), set()
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" in info.name or ".management" in info.name:
                continue
            for value in vars(importlib.import_module(info.name)).values():
                if isinstance(value, ErrorKind):
                    bigin.add((value.status, value.code, value.message))
                elif isinstance(value, KenbunErrorKind):
                    kenbun.add((value.status, normalized(value.message)))
    return bigin, kenbun


def normalized(message: str) -> str:
    """`unknown field: {field}` (code) and `unknown field: <name>` (docs) as one text;
    `<id>, <id>` lists as one placeholder."""
    message = re.sub(r"\{[^}]*\}|<[^>]*>", "<>", message)
    return re.sub(r"<>(?:, <>)+", "<>", message)


def tables(path: Path) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of every Markdown table, cells stripped of spaces and outer backticks."""
    found, block = [], []
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) > 2:
            cells = [split_row(row) for row in block]
            found.append((cells[0], cells[2:]))
        block = []
    return found


def split_row(row: str) -> list[str]:
    # A cell may hold `\|` (an escaped bar inside code).
    cells = re.split(r"(?<!\\)\|", row.strip().strip("|"))
    # A **(ours)** mark says whose choice a row is; it is not part of the value.
    cells = [re.sub(r"\s*\*\*\(ours[^)]*\)\*\*", "", cell) for cell in cells]
    return [cell.strip().replace("\\|", "|").strip("`").strip() for cell in cells]


def documented() -> tuple[set, set, set, list]:
    """What docs/ tables say: Bigin (status, code, message), Kenbun (status, message), token
    endpoint errors, and the rows that could not be read."""
    bigin, kenbun, token, unreadable = set(), set(), set(), []
    for path in sorted(DOCS.glob("*.md")):
        for header, rows in tables(path):
            lower = [cell.lower() for cell in header]
            for row in rows:
                where = (path.name, row[0])
                cell = dict(zip(lower, row, strict=False))
                try:
                    if {"http", "code", "message"} <= set(lower):
                        bigin.add((int(cell["http"]), cell["code"], cell["message"]))
                    elif lower == ["situation", "http", "message"]:
                        kenbun.add((int(cell["http"]), normalized(cell["message"])))
                    elif lower == ["situation", "http", "body"]:
                        body = json.loads(cell["body"])
                        bigin.add((int(cell["http"]), body["code"], body["message"]))
                    elif lower == ["situation", "body"]:
                        token.add(json.loads(cell["body"])["error"])
                except (ValueError, KeyError, TypeError):
                    unreadable.append(where)
    return bigin, kenbun, token, unreadable


@pytest.fixture(scope="module")
def code():
    return code_tables()


@pytest.fixture(scope="module")
def docs():
    return documented()


def test_the_error_tables_in_docs_are_read(docs):
    bigin, kenbun, token, unreadable = docs
    assert unreadable == []
    # Not vacuous: the change-owner, Kenbun and token tables were found.
    assert (403, "NO_PERMISSION", "You do not have permission to perform this operation") in bigin
    assert (404, "lead not found") in kenbun
    assert "invalid_client" in token


def test_every_documented_error_is_one_the_code_answers(code, docs):
    bigin_code, kenbun_code = code
    bigin, kenbun, token, _ = docs
    assert bigin - bigin_code == set()
    assert kenbun - kenbun_code == set()
    assert token - TOKEN_ERRORS == set()


def test_every_error_the_code_answers_is_documented(code, docs):
    bigin_code, kenbun_code = code
    bigin, kenbun, token, _ = docs
    assert bigin_code - bigin == set()
    assert kenbun_code - kenbun == set()
    assert TOKEN_ERRORS - token == set()
