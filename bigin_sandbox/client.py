"""A client of the sandbox controls (/sandbox/v1), for a test suite: the standard library only, so
installing it brings no dependency into the suite (docs/sandbox.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any


class SandboxError(Exception):
    """A control answered an error: its HTTP status and the Bigin envelope it sent."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class Sandbox:
    """The controls of one running sandbox (`make sandbox` prints its URL and key)."""

    def __init__(self, url: str, key: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """One control: its JSON answer, None for 204; SandboxError for an error."""
        url = f"{self.url}/sandbox/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        request = urllib.request.Request(
            url,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Sandbox-Key": self.key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                content = answer.read()
        except urllib.error.HTTPError as error:
            content = error.read()
            try:
                detail = json.loads(content)
            except ValueError:
                detail = content.decode(errors="replace")
            raise SandboxError(error.code, detail) from None
        return json.loads(content) if content else None

    def create_organization(self, **body: Any) -> Organization:
        """A new organization: `users` (required), `records`, `name`, `edition`, `scopes`, in
        the sandbox file's shape."""
        return Organization(self, self.call("POST", "organizations", body))


@dataclass
class User:
    id: str
    email: str
    access_token: str | None
    refresh_token: str | None


@dataclass
class Organization:
    """One organization of the sandbox, what a test holds: its users with their tokens, its self
    client, and its controls."""

    sandbox: Sandbox
    created: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return self.created["organization"]["id"]

    @property
    def name(self) -> str:
        return self.created["organization"]["name"]

    @property
    def users(self) -> list[User]:
        return [User(**user) for user in self.created["users"]]

    def user(self, email: str) -> User:
        return next(user for user in self.users if user.email == email.lower())

    @property
    def client_id(self) -> str:
        return self.created["client"]["client_id"]

    @property
    def client_secret(self) -> str:
        return self.created["client"]["client_secret"]

    @property
    def records(self) -> list[dict[str, str]]:
        return self.created["records"]

    @property
    def api_domain(self) -> str:
        """Where the organization's API answers: the sandbox's address."""
        return self.sandbox.url

    def _control(self, method: str, path: str = "", body=None, query=None) -> Any:
        return self.sandbox.call(method, f"organizations/{self.id}{path}", body, query)

    def token(
        self, user_id: str, *, scopes: list[str] | None = None, expires_in: int | None = None
    ) -> str:
        """A new access token (`expires_in` seconds: 1 lets a client test its refresh path)."""
        body: dict[str, Any] = {"user_id": user_id}
        if scopes is not None:
            body["scopes"] = scopes
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self._control("POST", "/tokens", body)["access_token"]

    def fault(
        self,
        *,
        status: int | None = None,
        delay_ms: int | None = None,
        drop: bool = False,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
        probability: float | None = None,
        **answer: Any,
    ) -> str:
        """A fault rule: an error `status` (with `code`, `message`, `details`, `retry_after`),
        a `delay_ms`, or `drop`; for the calls matching `method` and `path` (a trailing `*` is a
        prefix), `times` times or until deleted, with `probability`. Returns its id."""
        if status is not None:
            response: dict[str, Any] = {"status": status, **answer}
        elif delay_ms is not None:
            response = {"delay_ms": delay_ms}
        else:
            response = {"drop": drop}
        body: dict[str, Any] = {"response": response}
        match = {key: value for key, value in (("method", method), ("path", path)) if value}
        if match:
            body["match"] = match
        if times is not None:
            body["times"] = times
        if probability is not None:
            body["probability"] = probability
        return self._control("POST", "/faults", body)["id"]

    def faults(self) -> list[dict[str, Any]]:
        return self._control("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        self._control("DELETE", "/faults")

    def requests(
        self, *, method: str | None = None, path: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The journal: the organization's latest calls, newest first, secrets masked."""
        return self._control(
            "GET", "/requests", query={"method": method, "path": path, "limit": limit}
        )["requests"]

    def clear_requests(self) -> None:
        self._control("DELETE", "/requests")

    def run_jobs(self) -> dict[str, Any]:
        """Run every pending job of the organization now (related transfers, emails, chunks)."""
        return self._control("POST", "/actions/run_jobs")

    def set_related_owner_delay(self, seconds: int | None) -> None:
        """The organization's own scheduler delay (None: the server's setting)."""
        self._control("PUT", "/settings", {"related_owner_delay_seconds": seconds})

    def snapshot(self, name: str) -> dict[str, Any]:
        return self._control("POST", "/snapshots", {"name": name})["snapshot"]

    def snapshots(self) -> list[dict[str, Any]]:
        return self._control("GET", "/snapshots")["snapshots"]

    def reset(self, snapshot: str | None = None) -> dict[str, Any]:
        """Back to a snapshot, or to the state at creation."""
        return self._control("POST", "/actions/reset", {"snapshot": snapshot} if snapshot else {})[
            "reset"
        ]

    def delete(self) -> None:
        self._control("DELETE")
