"""Test settings: the real settings with fixed test keys, fast hashing and in-process Celery.

Service-backed tests read DATABASE_URL / REDIS_URL like production does (see tests/conftest.py).
"""

from __future__ import annotations

import os

# Assigned, not defaulted: a developer's shell (scripts/generate_env.py) or CI may hold real keys, and
# the tests must give the same result whatever is in the environment (receipts check fixed signatures).
os.environ.update(
    {
        "DJANGO_SECRET_KEY": "test-secret-key-not-for-production-" + "x" * 20,
        "VAULT_MASTER_KEYS": "test-mk1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        "VAULT_BLIND_INDEX_KEY": "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=",
        # A fixed Ed25519 key (32 bytes of 0x43), so signatures in tests are reproducible.
        "SIGNING_KEYS": "test-sk1:" + "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=",
        "SIGNING_RETIRED_PUBLIC_KEYS": "",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
    }
)

from config.settings import *  # noqa: F403
from config.settings import DATABASES, REDIS_URL

ALLOWED_HOSTS = ["*"]
PUBLIC_BASE_URL = "http://testserver"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "erasure_journal": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": ""}  # in memory
API_INTAKE_RATE = "1000/minute"
# The webhook tests' receiver listens on 127.0.0.1 over plain HTTP.
DOWNSTREAM_WEBHOOK_ALLOW_LOOPBACK_HTTP = True
# One approver for the test galleries' purges; tests/removal/test_permissions.py sets its own line to
# prove the second approver.
PURGE_SECOND_APPROVER_FROM = 10_000
# django-otp makes a TOTP device wait after a wrong code (1 s, doubling): tests type the right code
# at once after a wrong one. The lockout after repeated wrong codes (django-axes) stays on.
OTP_TOTP_THROTTLE_FACTOR = 0
TEST_REDIS_URL = REDIS_URL
# Static files straight from the apps: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
