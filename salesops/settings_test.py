"""Test settings: the same real PostgreSQL and Redis, in their own embedded folder (var/test)."""

import os
from pathlib import Path

os.environ.setdefault(
    "SALESOPS_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from salesops.settings import *  # noqa: E402,F403  (settings modules extend the base by design)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
# locmem keeps mails in the test process (mail.outbox); a test running a real Celery worker sets
# SALESOPS_TEST_EMAIL_BACKEND to the file backend (and EMAIL_FILE_PATH) to read what it sent.
EMAIL_BACKEND = os.environ.get(
    "SALESOPS_TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
