"""Settings, every one from the environment (see the README's "Configuration" table).

Safe defaults: DEBUG is off and the HTTPS protections are on unless DJANGO_DEBUG=1, which only
`make run` sets for the local quick start.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp import constants as csp_constants

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the SQLite default, the embedded broker and beat live here
# `make run` writes generated development keys here; production passes real environment variables.
_dotenv = BASE_DIR / ".env"
if _dotenv.exists():
    env.read_env(str(_dotenv), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Absolute links in e-mails (confirmation, status page) are built from this, never from the Host header.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000").rstrip("/")
ADMIN_URL_PATH = env.str("ADMIN_URL_PATH", default="staff-admin/").strip("/") + "/"
# The privacy team's workspace and the sign-in it shares with the admin (docs/staff-roles.md).
STAFF_URL_PATH = env.str("STAFF_URL_PATH", default="staff/").strip("/") + "/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "axes",
    "csp",
    "vault",
    "ledger",
    "notifications",
    "identity",
    "removal",
    "workspace",
]

MIDDLEWARE = [
    "config.health.HealthCheckMiddleware",
    # Turns a statement or lock timeout into 503 "busy, nothing was saved" (after the view rolled back).
    "config.busy.DatabaseBusyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "workspace.sessions.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in attempt into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of one failing with
    # "database is locked" halfway through an audit-chain append.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
else:
    # Nothing waits for ever (docs/operations.md "Timeouts"): a statement that runs past its timeout, or
    # waits for a lock past its own, is cancelled, its transaction rolled back and the request answered
    # 503 (config/busy.py), so one stuck transaction cannot hold every web worker. Below gunicorn's 30 s.
    # 0 switches one off (a long migration run by hand, say).
    DATABASE_TIMEOUTS_MS = {
        "statement_timeout": env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=20_000),
        "lock_timeout": env.int("DATABASE_LOCK_TIMEOUT_MS", default=5_000),
        "idle_in_transaction_session_timeout": env.int(
            "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60_000
        ),
    }
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = " ".join(
        [str(_options.get("options", "")), *(f"-c {name}={ms}" for name, ms in DATABASE_TIMEOUTS_MS.items())]
    ).strip()
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# One date format per language on every page (config/formats/en: day month year, as fr and de).
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Files this service stores (sealed headshots only) never go under STATIC or a public URL.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGE_S3_BUCKET = env.str("STORAGE_S3_BUCKET", default="")
_default_storage: dict[str, object] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# The erasure journal (removal.erasure_journal): what approved purges delete, kept apart from the
# database so that a restore cannot take it back. Its own directory, or a prefix beside the files.
ERASURE_JOURNAL_DIR = Path(env.str("ERASURE_JOURNAL_DIR", default=str(VAR_DIR / "erasure-journal")))
_journal_storage: dict[str, object] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(ERASURE_JOURNAL_DIR)},
}
if STORAGE_S3_BUCKET:
    # Credentials come from the usual AWS variables or the instance role (boto3's own lookup).
    _s3_options = {
        "bucket_name": STORAGE_S3_BUCKET,
        "region_name": env.str("STORAGE_S3_REGION", default="") or None,
        "endpoint_url": env.str("STORAGE_S3_ENDPOINT_URL", default="") or None,
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
        "object_parameters": {"ServerSideEncryption": "AES256"},
    }
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3_options, "location": env.str("STORAGE_S3_PREFIX", default="removal-service")},
    }
    _journal_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **_s3_options,
            "location": env.str("ERASURE_JOURNAL_S3_PREFIX", default="removal-erasure-journal"),
        },
    }
# Keep it longer than the oldest backup you might restore.
ERASURE_JOURNAL_RETENTION_DAYS = env.int("ERASURE_JOURNAL_RETENTION_DAYS", default=400)
STORAGES = {
    "default": _default_storage,
    "erasure_journal": _journal_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (on unless DEBUG) -------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=not DEBUG)
# Status links carry a secret in the query string: a Referer may name our origin, never a path or query.
# ("no-referrer" would make browsers send "Origin: null" on form posts, which CSRF checks refuse.)
SECURE_REFERRER_POLICY = "strict-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Scripts and everything else from this site only; inline styles allowed (the admin's templates and the
# server-drawn charts use style attributes), inline scripts not. Pages may not be framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "object-src": [csp_constants.NONE],
    }
}
# No page needs the camera, microphone, location or payment; passkeys only on this site.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "camera": [],
    "microphone": [],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
}
# How many reverse proxies of ours stand in front of the web server; every rate limit and lockout
# takes the client's address from X-Forwarded-For at this depth, or from the socket peer with 0
# (config/client_ip.py). Never more than there are: the client writes the entries beyond them.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
RATELIMIT_IP_META_KEY = "config.client_ip.client_ip"

# --- E-mail ---------------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# A provider's HTTP API instead of SMTP, through django-anymail: e.g.
# EMAIL_BACKEND=anymail.backends.postmark.EmailBackend ANYMAIL='{"POSTMARK_SERVER_TOKEN": "…"}'
if env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env.str("EMAIL_BACKEND")
ANYMAIL = env.json("ANYMAIL", default={})
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@localhost")
PRIVACY_TEAM_EMAIL = env.str("PRIVACY_TEAM_EMAIL", default="privacy-team@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# --- Celery ---------------------------------------------------------------------------------------
# Postgres holds every job; the broker only wakes workers up (see docs/operations.md).
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "global_keyprefix": env.str("CELERY_KEY_PREFIX", default=""),
    }
else:
    # Zero-setup default: an embedded broker on the file system, consumed by a real worker process.
    CELERY_BROKER_URL = "filesystem://localhost/"
    for _folder in ("queue", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What tasks print (the quick start's console e-mails) goes to the worker's output as it is, not as
# "WARNING celery.redirected" log lines.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Mail has a queue and workers of its own (Procfile.dev, compose.yaml: `mailer`): an SMTP server that
# accepts and never answers holds a mail worker for EMAIL_TIMEOUT per message, and must not hold up
# purges, discovery or reminders, which stay on the default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
MAIL_QUEUE = "mail"
CELERY_TASK_ROUTES = {"notifications.tasks.*": {"queue": MAIL_QUEUE}}

# --- Personal data at rest ------------------------------------------------------------------------
# "kid:base64key,kid:base64key": the first wraps new data keys, the others still unwrap older ones.
VAULT_MASTER_KEYS = env.str("VAULT_MASTER_KEYS")
VAULT_BLIND_INDEX_KEY = env.str("VAULT_BLIND_INDEX_KEY")
# "kid:base64(raw Ed25519 private key),...": the first signs (deletion receipts), all verify (rotation).
# Empty only in development: check vault.E003 refuses to start without it otherwise.
SIGNING_KEYS = env.str("SIGNING_KEYS", default="")
# Public halves of destroyed signing keys: what they signed still verifies (docs/receipts.md).
SIGNING_RETIRED_PUBLIC_KEYS = env.str("SIGNING_RETIRED_PUBLIC_KEYS", default="")

# --- Removal requests -----------------------------------------------------------------------------
# The deadline spec's *policy* choices (docs/spec/deadlines.md); defaults are the spec's table.
DEADLINE_POLICY = {
    "roll_weekends": env.bool("DEADLINE_ROLL_WEEKENDS", default=True),
    "holidays": env.list("DEADLINE_HOLIDAYS", default=[]),
    "eu_soft_pause": env.bool("DEADLINE_EU_SOFT_PAUSE", default=True),
    "eu_soft_pause_working_days": env.int("DEADLINE_EU_SOFT_PAUSE_WORKING_DAYS", default=3),
}
EMAIL_CONFIRMATION_MAX_AGE = env.int("EMAIL_CONFIRMATION_MAX_AGE", default=7 * 24 * 3600)
# Who a deletion receipt says signed it; empty: PUBLIC_BASE_URL's host name (docs/receipts.md).
RECEIPT_ISSUER = env.str("RECEIPT_ISSUER", default="")
RECEIPT_VERIFY_RATE_PER_IP = env.str("RECEIPT_VERIFY_RATE_PER_IP", default="30/h")
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_RETRY_BASE_SECONDS = env.int("OUTBOX_RETRY_BASE_SECONDS", default=30)
# A message claimed by a worker that then died is sent again after this long (longer than EMAIL_TIMEOUT).
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=300)

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["removal.api_permissions.StaffMayView"],
    # The API speaks JSON (the identity upload view takes multipart itself); anything else is 415.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Every error as RFC 9457 problem details (config/problems.py, docs/api.md "Errors").
    "EXCEPTION_HANDLER": "config.problems.exception_handler",
}
# Per client (config.client_ip), like every other limit: removal.throttles.IntakeRateThrottle.
API_INTAKE_RATE = env.str("API_INTAKE_RATE", default="30/minute")

SPECTACULAR_SETTINGS = {
    "TITLE": "Removal-request service API",
    "DESCRIPTION": "Submit and follow requests to be removed from the face-image database.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema lists what the asker may call: the public sees the subject's endpoints, a signed-in
    # staff member also the staff API (it is not a map of the staff side for everyone).
    "SERVE_PUBLIC": False,
    # Served from our own static files: a privacy service loads no script from a third-party CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation's other answers (403, 404, 429, 503...) written in: removal/api_schema.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "removal.api_schema.document_common_answers",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DenialBasisEnum": "removal.models.DenialBasis",
        "RequestStatusEnum": "removal.models.Status",
        "RightEnum": "removal.models.Right",
        "ChannelEnum": "removal.models.Channel",
        "SubjectAskEnum": "removal.models.SubjectAsk",
        "ExtensionReasonEnum": "removal.models.ExtensionReason",
        "IdentityDoubtEnum": "removal.models.IdentityDoubt",
    },
}

CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://")
    if not REDIS_URL
    else {
        # Redis, but a read finds nothing and a write is dropped while Redis is down (config/cache.py).
        "BACKEND": "config.cache.FailOpenRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "removal",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
# A limit that cannot be counted (the cache is down) lets the request through: filing a request must
# keep working while Redis is away. /healthz/ready says so meanwhile.
RATELIMIT_FAIL_OPEN = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django logs request bodies nowhere, but 4xx warnings name the path, which holds status tokens.
    # At DEBUG urllib3 logs each connection's host and request line: a webhook URL may hold a token.
    "loggers": {"django.request": {"level": "ERROR"}, "urllib3": {"level": "WARNING"}},
}

CELERY_BEAT_SCHEDULE = {
    # The outbox's safety net: re-enqueues messages whose broker message was lost or whose worker died.
    "sweep-outbox": {
        "task": "notifications.tasks.sweep_outbox",
        "schedule": env.int("OUTBOX_SWEEP_SECONDS", default=60),
    },
}

# --- Deadline reminders (docs/spec/deadlines.md, "Reminders") ------------------------------------------
REMINDER_DAYS_BEFORE = [int(d) for d in env.list("REMINDER_DAYS_BEFORE", default=["14", "7", "3", "1"])]
EXTENSION_DECISION_ALARM_DAYS = env.int("EXTENSION_DECISION_ALARM_DAYS", default=7)
REMINDER_DIGEST_DAYS = env.int("REMINDER_DIGEST_DAYS", default=7)
CELERY_BEAT_SCHEDULE["sweep-reminders"] = {
    "task": "removal.tasks.sweep_reminders",
    "schedule": env.int("REMINDER_SWEEP_SECONDS", default=300),
}
# Public submissions are turned into requests right after their answer is sent; the sweeper takes those
# a crash left behind, once they are this old (removal.services.submissions).
INTAKE_SWEEP_AFTER_SECONDS = env.int("INTAKE_SWEEP_AFTER_SECONDS", default=30)
# After this many failed tries of one submission, staff are e-mailed and the sweep task fails (it is kept).
INTAKE_MAX_ATTEMPTS = env.int("INTAKE_MAX_ATTEMPTS", default=5)
CELERY_BEAT_SCHEDULE["sweep-intake"] = {
    "task": "removal.tasks.sweep_intake",
    "schedule": env.int("INTAKE_SWEEP_SECONDS", default=60),
}
CELERY_BEAT_SCHEDULE["daily-digest"] = {
    "task": "removal.tasks.send_digest",
    "schedule": crontab(hour=env.int("REMINDER_DIGEST_HOUR_UTC", default=6), minute=0),
}

# --- Identity verification (docs/operations.md, "Identity verification") --------------------------
# Where an erasure also needs an identity document: jurisdiction codes, or "*" for all. Default none:
# the headshot (needed to find the photos) and a confirmed e-mail address are proportionate.
IDENTITY_DOCUMENT_REQUIRED_IN = env.list("IDENTITY_DOCUMENT_REQUIRED_IN", default=[])
IDENTITY_MAX_ATTEMPTS = env.int("IDENTITY_MAX_ATTEMPTS", default=3)
IDENTITY_FACE_THRESHOLD = env.float("IDENTITY_FACE_THRESHOLD", default=0.50)
IDENTITY_FACE_INCONCLUSIVE_UPPER = env.float("IDENTITY_FACE_INCONCLUSIVE_UPPER", default=0.60)
IDENTITY_UPLOAD_MAX_BYTES = env.int("IDENTITY_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
INTAKE_FORM_RATE_PER_IP = env.str("INTAKE_FORM_RATE_PER_IP", default="20/h")
IDENTITY_UPLOAD_RATE_PER_IP = env.str("IDENTITY_UPLOAD_RATE_PER_IP", default="20/h")
IDENTITY_UPLOAD_RATE_PER_REQUEST = env.str("IDENTITY_UPLOAD_RATE_PER_REQUEST", default="6/h")

# --- Face index (docs/face-index.md) ---------------------------------------------------------------
# A dotted path to a removal.search.FaceSearchBackend: exact numpy search by default; faiss or an
# external vector store once the index outgrows one machine.
FACE_SEARCH_BACKEND = env.str("FACE_SEARCH_BACKEND", default="removal.search.NumpyExactBackend")

# --- Discovery and purge (docs/purge.md) -----------------------------------------------------------
# A face within this L2 distance of the subject's headshot is a candidate for staff review (the
# verification model's metric: 0.6 is its usual "same person" line; lower finds fewer look-alikes).
DISCOVERY_MAX_DISTANCE = env.float("DISCOVERY_MAX_DISTANCE", default=0.55)
# Look-alike guard: flag a candidate whose nearest LOOKALIKE_MIN_FACES non-matching faces are, on
# average, closer to it than RATIO times its distance to the headshot.
DISCOVERY_LOOKALIKE_RATIO = env.float("DISCOVERY_LOOKALIKE_RATIO", default=0.5)
DISCOVERY_LOOKALIKE_MIN_FACES = env.int("DISCOVERY_LOOKALIKE_MIN_FACES", default=2)
DISCOVERY_MAX_CANDIDATES = env.int("DISCOVERY_MAX_CANDIDATES", default=20_000)
DISCOVERY_LEASE_SECONDS = env.int("DISCOVERY_LEASE_SECONDS", default=900)
# Built-in purge targets (removal.targets); PURGE_EXTRA_TARGETS adds an operator's own dotted paths.
PURGE_TARGETS = [
    "removal.targets.face_index.PhotoFiles",
    "removal.targets.face_index.ThumbnailFiles",
    "removal.targets.face_index.FaceRecords",
    "removal.targets.downstream.DownstreamRecipients",
    "removal.targets.subject.Headshot",
    "removal.targets.subject.PersonalData",
]
PURGE_EXTRA_TARGETS = env.list("PURGE_EXTRA_TARGETS", default=[])
# Per webhook POST to a downstream recipient (connect, and each read); no answer in time is a failed
# attempt, retried with the job's backoff.
DOWNSTREAM_WEBHOOK_TIMEOUT_SECONDS = env.float("DOWNSTREAM_WEBHOOK_TIMEOUT_SECONDS", default=10)
# Webhook endpoints must be https://; this lets staff save http:// to 127.0.0.1, ::1 or localhost only
# (a receiver on this machine that terminates TLS itself, or a local test). Never any other host.
DOWNSTREAM_WEBHOOK_ALLOW_LOOPBACK_HTTP = env.bool("DOWNSTREAM_WEBHOOK_ALLOW_LOOPBACK_HTTP", default=False)
PURGE_MAX_ATTEMPTS = env.int("PURGE_MAX_ATTEMPTS", default=8)
PURGE_RETRY_BASE_SECONDS = env.int("PURGE_RETRY_BASE_SECONDS", default=30)
# A running job's lease; renewed after every batch. A worker that dies holds its job this long.
PURGE_LEASE_SECONDS = env.int("PURGE_LEASE_SECONDS", default=600)
# A task hands the rest of its job to a fresh task after this long: well under CELERY_TASK_TIME_LIMIT.
PURGE_TASK_BUDGET_SECONDS = env.int("PURGE_TASK_BUDGET_SECONDS", default=120)
PURGE_SWEEP_SECONDS = env.int("PURGE_SWEEP_SECONDS", default=60)
# How long after completion the request's name, address and messages are kept (complaints, proof
# of what was sent), before its data key is destroyed. The request record and audit trail remain.
REQUEST_PERSONAL_DATA_RETENTION_DAYS = env.int("REQUEST_PERSONAL_DATA_RETENTION_DAYS", default=30)
# Records of closed requests are kept this long (CCPA regulations §7101(a): 24 months), then minimised:
# the data key destroyed, the e-mail blind index, status link, notes and assignments removed.
REQUEST_RECORD_RETENTION_MONTHS = env.int("REQUEST_RECORD_RETENTION_MONTHS", default=24)
# Headshots and candidate scores of a closed request go with the purge or the closing move; the nightly
# sweep removes any still there this long after closing.
VERIFICATION_ARTEFACT_HOURS = env.int("VERIFICATION_ARTEFACT_HOURS", default=24)
# Every retention rule in one nightly task (removal.services.retention): it mails PRIVACY_TEAM_EMAIL and
# fails when a part cannot remove what it should.
CELERY_BEAT_SCHEDULE["retention-sweep"] = {
    "task": "removal.tasks.retention_sweep",
    "schedule": crontab(hour=4, minute=15),
}
CELERY_BEAT_SCHEDULE["sweep-purge"] = {
    "task": "removal.tasks.sweep_purge",
    "schedule": PURGE_SWEEP_SECONDS,
}
# Suppression (opt-in, docs/purge.md "Suppression"): a consenting subject's minimised template is
# kept this long, and the ingest command refuses a face within SUPPRESSION_MAX_DISTANCE of one.
# Stricter than discovery's line: a refusal is never reviewed by anyone, so it must be the person.
SUPPRESSION_RETENTION_DAYS = env.int("SUPPRESSION_RETENTION_DAYS", default=3 * 365)
SUPPRESSION_MAX_DISTANCE = env.float("SUPPRESSION_MAX_DISTANCE", default=0.5)

# --- Staff sign-in: password, second factor, lockout, session limits (docs/staff-roles.md) ---------
AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: refuses a locked-out account before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "workspace:login"
LOGIN_REDIRECT_URL = "workspace:home"
# A session ends STAFF_IDLE_MINUTES after its last request and STAFF_SESSION_HOURS after sign-in.
STAFF_IDLE_MINUTES = env.int("STAFF_IDLE_MINUTES", default=15)
STAFF_SESSION_HOURS = env.int("STAFF_SESSION_HOURS", default=8)
SESSION_COOKIE_AGE = STAFF_SESSION_HOURS * 3600
# Wrong passwords and wrong second-factor codes count together: this many lock the account (and,
# separately, the client address) for STAFF_LOCKOUT_MINUTES. Addresses as config.client_ip reads them.
AXES_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "workspace/locked_out.html"
AXES_VERBOSE = False  # its log lines name the username and address: no personal data in logs
OTP_TOTP_ISSUER = env.str("STAFF_OTP_ISSUER", default="Removal requests")
# Passkeys (django-otp-webauthn) as the second factor, beside authenticator apps: bound to this
# site's domain (the relying party) and accepted only from these origins. Never for a password-less
# sign-in: the password comes first.
OTP_WEBAUTHN_RP_ID = env.str(
    "STAFF_WEBAUTHN_RP_ID", default=urlsplit(PUBLIC_BASE_URL).hostname or "localhost"
)
OTP_WEBAUTHN_RP_NAME = OTP_TOTP_ISSUER
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list("STAFF_WEBAUTHN_ORIGINS", default=[PUBLIC_BASE_URL])
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# --- Staff: roles and their limits (docs/staff-roles.md) -------------------------------------------
# A viewing window on one request's personal data (opened with a reason, one audit event) lasts this
# long, and never beyond the session.
PERSONAL_DATA_VIEW_MINUTES = env.int("PERSONAL_DATA_VIEW_MINUTES", default=30)
# A purge that deletes this many confirmed photos or more needs a second privacy lead's approval
# (the first approver cannot be the second). 0 asks for a second approver on every purge.
PURGE_SECOND_APPROVER_FROM = env.int("PURGE_SECOND_APPROVER_FROM", default=25)

# --- The verifiable request log (docs/ledger.md) ---------------------------------------------------
# The log's name in its checkpoints; empty: "<host of PUBLIC_BASE_URL>/ledger". Never change it once
# checkpoints are published: readers check it.
LEDGER_ORIGIN = env.str("LEDGER_ORIGIN", default="")
# The sequencer signs a checkpoint this often when events wait: the delay before an event is provable.
LEDGER_SEQUENCE_INTERVAL_SECONDS = env.float("LEDGER_SEQUENCE_INTERVAL_SECONDS", default=1.0)
LEDGER_SEQUENCE_BATCH = env.int("LEDGER_SEQUENCE_BATCH", default=10000)
# Witnesses that receive every new checkpoint: JSON [{"name": …, "url": "https://…", "secret": …}].
LEDGER_WITNESSES = env.json("LEDGER_WITNESSES", default=[])
LEDGER_WITNESS_PUSH_SECONDS = env.int("LEDGER_WITNESS_PUSH_SECONDS", default=60)
LEDGER_WITNESS_TIMEOUT_SECONDS = env.float("LEDGER_WITNESS_TIMEOUT_SECONDS", default=10)
LEDGER_API_RATE = env.str("LEDGER_API_RATE", default="600/m")
LEDGER_MAX_ENTRIES_PER_CALL = env.int("LEDGER_MAX_ENTRIES_PER_CALL", default=256)
LEDGER_STH_MAX_AGE_SECONDS = env.int("LEDGER_STH_MAX_AGE_SECONDS", default=5)
# How long the public transparency report's figures are cached (they are counted from the whole year).
TRANSPARENCY_CACHE_SECONDS = env.int("TRANSPARENCY_CACHE_SECONDS", default=3600)
# How many transparency PDFs one client address may have drawn (a cached one is not counted).
TRANSPARENCY_PDF_RATE = env.str("TRANSPARENCY_PDF_RATE", default="10/m")
CELERY_BEAT_SCHEDULE["ledger-witnesses"] = {
    "task": "ledger.tasks.push_to_witnesses",
    "schedule": LEDGER_WITNESS_PUSH_SECONDS,
}
