"""Settings, every one from the environment (see the table in docs/configuration.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from .agreement import disagreements

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# An optional .env file; variables already in the environment win over it.
environ.Env.read_env(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # One line a newcomer can act on; manage.py prints it without a traceback.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: for development run `make run` once (it writes a .env "
            "with one), in production set DJANGO_SECRET_KEY in the environment."
        )
    SECRET_KEY = "insecure-development-only-key"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Trust X-Forwarded-Proto only behind a TLS-ending proxy that sets it: a client talking to Django
# directly could otherwise claim HTTPS over plain HTTP.
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Session and CSRF cookies travel over HTTPS only, unless debugging on plain HTTP.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "crm",
    "audit",
    "owners",
]

MIDDLEWARE = [
    # First: the sandbox's faults and request journal, off unless SANDBOX_API (crm/sandbox).
    "crm.sandbox.traffic.SandboxMiddleware",
    # Refuses an oversized or malformed request in its API's envelope (crm/http/boundary).
    "crm.http.boundary.BoundaryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: locks the admin login after repeated failures.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# What sits between the service and PostgreSQL (docs/deployment.md): "" (nothing, or a pooler
# that keeps a client's session: pgbouncer in session mode) or "transaction" (pgbouncer in
# transaction mode), where each transaction may run on another server session, so nothing may
# outlive a transaction: no prepared statements (psycopg's automatic ones are off; the token
# lookup is sent whole, crm/oauth/authentication.py), no server-side cursors, no session SET.
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "transaction"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER is {DATABASE_POOLER!r}: leave it empty (a direct connection or a "
        "session pooler) or set it to 'transaction' (pgbouncer in transaction mode)."
    )
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    options = DATABASES["default"].setdefault("OPTIONS", {})
    # A database host that does not answer (rather than one that refuses) fails the request in
    # seconds, as a 503 (crm/http/boundary.py), instead of holding its worker until gunicorn
    # kills it. `?connect_timeout=` in DATABASE_URL overrides it.
    options.setdefault("connect_timeout", 5)
    if DATABASE_POOLER == "transaction":
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        # Django's default, said here so that nothing turns it on behind this pooler.
        options["prepare_threshold"] = None
    else:
        # A connection keeps its server session: psycopg prepares a statement once it ran a few
        # times on it. Only cursors that bind parameters on the server prepare, that is the
        # statements of every change of owner (owners/statements.py); the ORM's never do.
        options.setdefault("prepare_threshold", 5)
# A streaming replica of the primary for the read endpoints (crm/replica.py, docs/deployment.md
# "A read replica"): same options as the primary. A read goes to the primary instead when the
# organization wrote in the last READ_YOUR_WRITES_SECONDS, or when the replica is behind by more
# than DATABASE_REPLICA_MAX_LAG_SECONDS (measured at most every DATABASE_REPLICA_LAG_CHECK_SECONDS
# per process) or does not answer.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
DATABASE_REPLICA_MAX_LAG_SECONDS = env.float("DATABASE_REPLICA_MAX_LAG_SECONDS", default=5.0)
DATABASE_REPLICA_LAG_CHECK_SECONDS = env.float("DATABASE_REPLICA_LAG_CHECK_SECONDS", default=1.0)
READ_YOUR_WRITES_SECONDS = env.int("READ_YOUR_WRITES_SECONDS", default=10)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **DATABASES["default"],
        **env.db_url_config(DATABASE_REPLICA_URL),
        "OPTIONS": {
            **DATABASES["default"].get("OPTIONS", {}),
            **env.db_url_config(DATABASE_REPLICA_URL).get("OPTIONS", {}),
        },
    }
    DATABASE_ROUTERS = ["crm.replica.ReplicaRouter"]
    # Outermost after the sandbox's: marks an organization that wrote, for read-your-writes.
    MIDDLEWARE.insert(1, "crm.replica.WritesMarkMiddleware")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "crm.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Bigin sandbox <no-reply@bigin.test>")

API_DOMAIN = env.str("API_DOMAIN", default="http://127.0.0.1:8000")
RELATED_OWNER_DELAY_SECONDS = env.int("RELATED_OWNER_DELAY_SECONDS", default=5)

# Celery. Without a broker, jobs run in-process right after commit (the `make run` default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Lets a deployment (or a test run) that shares a Redis keep its messages apart.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")

# Workers: one message at a time per process, so a long job never holds others hostage, and a
# hard limit that kills a stuck job. The owner-job lease (below) is longer than the hard limit
# (checked at the end of this file): when a lease has expired, the worker that held it is dead
# or was killed.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=50)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60)
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
# The request never waits on the broker: a thread of the process publishes after commit
# (owners/publisher.py), and one batch waits on a dead Redis at most these timeouts and a short
# retry policy allow: 2 attempts x 3 s + 0.2 s = 6.2 s, which tests/integration/
# test_outbox_delivery.py asserts (Redis stopped, and a server that accepts and never answers).
# The job then stays pending for the sweep.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
    "retry_on_timeout": False,
    "max_retries": 1,
    # An ETA message (the related-transfer countdown) is redelivered after this, if unacked.
    "visibility_timeout": 3600,
}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# A worker keeps trying to reach the broker when it goes away (bounded, then it exits and its
# supervisor restarts it); this never affects a web request.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = 10
CELERY_BEAT_SCHEDULE = {
    # Expires: sweeps queued while no worker runs are dropped, not replayed in a burst.
    "sweep-outbox": {
        "task": "owners.tasks.sweep_outbox_task",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # The audit table's partitions for this month and the next three (audit/partitions.py),
    # well before they are needed; a missed run changes nothing (rows go to the default one).
    "create-audit-partitions": {
        "task": "audit.tasks.create_audit_partitions_task",
        "schedule": 6 * 3600.0,
        "options": {"expires": 3600},
    },
    # Idempotency keys past their 24 hours (owners/idempotency.py).
    "delete-expired-idempotency-keys": {
        "task": "owners.tasks.delete_expired_idempotency_keys_task",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# The outbox (owners/outbox.py): a claim is held this long before another worker may take an
# entry over; the sweep re-dispatches a pending entry this long after it was due; an entry is
# abandoned (status failed) after this many claims.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=120)
OUTBOX_SWEEP_GRACE_SECONDS = env.int("OUTBOX_SWEEP_GRACE_SECONDS", default=60)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
# Transfer jobs (owners/transfers/): at most this many records per chunk (one transaction).
TRANSFER_JOB_CHUNK = env.int("TRANSFER_JOB_CHUNK", default=5000)

# The HTTP boundary (crm/http/boundary.py, docs/errors.md): what a request may be before any
# view reads it. Bodies over the limit answer 413; Django's own read limit agrees with it.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
API_MAX_URL_BYTES = env.int("API_MAX_URL_BYTES", default=8000)
API_MAX_HEADER_FIELDS = env.int("API_MAX_HEADER_FIELDS", default=100)
API_MAX_HEADER_BYTES = env.int("API_MAX_HEADER_BYTES", default=8190)

# API limits (crm/http/metering.py, docs/limits.md): credits per organization in a rolling
# 24-hour window and requests in flight, counted in Redis when there is one.
API_LIMITS_ENABLED = env.bool("API_LIMITS_ENABLED", default=True)
API_LIMITS_REDIS_URL = env.str("API_LIMITS_REDIS_URL", default=REDIS_URL)
API_LIMITS_KEY_PREFIX = env.str("API_LIMITS_KEY_PREFIX", default="bigin:limits:")
API_CONCURRENCY_LIMITS = env.dict(
    "API_CONCURRENCY_LIMITS", cast={"value": int}, default={"free": 5, "express": 10, "premier": 15}
)
API_REQUEST_STALE_SECONDS = env.int("API_REQUEST_STALE_SECONDS", default=120)
# Guessing on the token endpoint: failures allowed per source address in 10 minutes (per address
# only: a client id is public, crm/oauth/guessing.py).
OAUTH_FAILURES_PER_ADDRESS = env.int("OAUTH_FAILURES_PER_ADDRESS", default=20)
# Proxies in front that append the client's address to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# The sandbox controls (crm/sandbox, docs/sandbox.md): /sandbox/v1 answers 404 unless SANDBOX_API
# is on, and then only to requests whose X-Sandbox-Key is SANDBOX_API_KEY; with it on, API calls
# are journaled and faults can be injected. `make run` and `make sandbox` turn it on with a
# generated key. Never on in production.
SANDBOX_API = env.bool("SANDBOX_API", default=False)
SANDBOX_API_KEY = env.str("SANDBOX_API_KEY", default="")

# The admin login locks a source address out after repeated failures (django-axes).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "crm.http.boundary.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["crm.oauth.authentication.ZohoOAuthTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["crm.oauth.permissions.HasRequiredScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON whatever the Content-Type says, as Zoho reads it (crm/http/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["crm.http.parsers.AnyContentTypeJSONParser"],
    "EXCEPTION_HANDLER": "crm.http.errors.bigin_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "crm.http.openapi.JSONBodyAutoSchema",
    # No OPTIONS metadata: OPTIONS answers 405 in the envelope like any other unlisted method.
    "DEFAULT_METADATA_CLASS": None,
    # An Accept the API cannot honour is ignored: the answer is JSON.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "crm.http.boundary.IgnoreAcceptNegotiation",
    # Credits and requests in flight per organization, after authentication and scope.
    "DEFAULT_THROTTLE_CLASSES": ["crm.http.metering.OrganizationLimits"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Bigin-compatible record ownership API",
    "DESCRIPTION": (
        "A clone of the Zoho Bigin v2 change owner API, with its token server and read APIs."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl None: Swagger UI would otherwise send the schema to an outside validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {"ZohoJobStatusEnum": "owners.api.transfers.docs.ZOHO_JOB_STATUSES"},
    # Every operation also documents the boundary's and the limits' answers (413, 429, ...).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.http.boundary_docs.add_boundary_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Timeouts and limits that defeat each other when they disagree (config/agreement.py): refuse to
# start, in every process, naming the rule.
if _broken := disagreements(globals()):
    raise ImproperlyConfigured(
        "Settings that must agree do not:\n" + "\n".join(f"- {rule}" for rule in _broken)
    )
