"""Token shapes and hashing. Tokens look like Zoho's: `1000.` + 32 hex + `.` + 32 hex."""

from __future__ import annotations

import hashlib
import secrets


def token_hash(raw: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: no salt or stretching needed.
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> str:
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def new_client_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "1000." + "".join(secrets.choice(alphabet) for _ in range(30))


def new_client_secret() -> str:
    return secrets.token_hex(21)


def scope_satisfies(granted: str, accepted: str) -> bool:
    """`ZohoBigin.x.ALL` satisfies `ZohoBigin.x.READ`; otherwise scopes must be equal."""
    if granted == accepted:
        return True
    resource, _, operation = granted.rpartition(".")
    return operation == "ALL" and accepted.rpartition(".")[0] == resource
