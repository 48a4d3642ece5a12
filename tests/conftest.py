"""Shared fixtures, and the rule for tests that need real services.

A test marked `postgres`, `redis`, `replica` (a streaming replica) or `browser` (Debian's
Chromium) needs that service. Where it is
missing, the test fails when CI=true (CI must never silently skip them) and is skipped with the
reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from crm.oauth.grants import issue_access_token
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() == "true"
# Debian's chromium package; `.ci/run` installs it. Never a downloaded browser.
CHROMIUM = "/usr/bin/chromium"


def _redis_reachable() -> bool:
    import redis

    url = settings.CELERY_BROKER_URL or os.environ.get("REDIS_URL", "")
    if not url.startswith("redis"):
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and settings.DATABASES["default"]["ENGINE"] != (
        "django.db.backends.postgresql"
    ):
        return "needs PostgreSQL: set DATABASE_URL to a PostgreSQL database"
    if item.get_closest_marker("redis") and not _redis_reachable():
        return "needs Redis: set REDIS_URL to a reachable Redis"
    if item.get_closest_marker("replica") and "replica" not in settings.DATABASES:
        return "needs a streaming replica: DATABASE_REPLICA_URL (.ci/replica.sh starts one)"
    if item.get_closest_marker("browser") and not os.access(CHROMIUM, os.X_OK):
        return f"needs Chromium at {CHROMIUM}: apt-get install chromium"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness buys nothing in tests and costs seconds per admin login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_api_limits(settings):
    """Each test counts API credits and token-endpoint failures afresh (docs/limits.md): a key
    prefix of its own, so no test inherits another's spent credits or failed guesses."""
    from crm.http import limits

    settings.API_LIMITS_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    limits._store_for.cache_clear()
    yield
    limits._store_for.cache_clear()


@pytest.fixture(autouse=True)
def _admin_lockout_off(settings):
    # django-axes needs the request to count a login; the test client's login() has none. The
    # lockout itself is tested with it on (tests/crm/test_admin_lockout.py).
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True, scope="session")
def session_task_queue():
    """With a broker, this run's task messages go to a queue of its own, deleted at the end:
    messages no test consumes don't pile up in a shared Redis or reach another run's worker."""
    from config.celery import app

    if app.conf.task_always_eager or not app.conf.broker_url.startswith("redis"):
        yield None
        return
    queue = f"test-{uuid.uuid4().hex[:12]}"
    app.conf.task_default_queue = queue
    yield queue
    import redis

    from owners import publisher

    publisher.flush()  # what this process still publishes goes to the queue before it is deleted

    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(app.conf.broker_url, socket_connect_timeout=2).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Zylker")


@pytest.fixture
def other_organization(db):
    return OrganizationFactory(name="Nimbus")


@pytest.fixture
def admin_user(organization):
    return UserFactory(organization=organization, full_name="Ann Lee", email="ann@zylker.test")


@pytest.fixture
def make_user(organization):
    def make(**fields):
        fields.setdefault("organization", organization)
        return UserFactory(**fields)

    return make


@pytest.fixture
def make_record(organization, admin_user):
    def make(**fields):
        fields.setdefault("organization", organization)
        fields.setdefault("owner", admin_user)
        return RecordFactory(**fields)

    return make


ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_site_client(admin_user, client):
    """Django's test client logged in to /admin/ as `admin_user`, made a staff superuser."""
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.set_password(ADMIN_PASSWORD)
    admin_user.save()
    assert client.login(email=admin_user.email, password=ADMIN_PASSWORD)
    return client


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def token_for():
    """`token_for(user, "ZohoBigin.a.READ", ...)` returns a raw access token with those scopes."""

    def issue(user, *scopes: str) -> str:
        return issue_access_token(user=user, scopes=list(scopes))

    return issue


@pytest.fixture
def auth_client(api_client, token_for):
    """`auth_client(user, *scopes)`: an APIClient sending `Zoho-oauthtoken` for that user."""

    def build(user, *scopes: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token_for(user, *scopes)}")
        return client

    return build
