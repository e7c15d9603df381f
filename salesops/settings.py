"""Settings for every environment, read from environment variables (see ``.env.example``).

With no ``DATABASE_URL`` / ``REDIS_URL``, the embedded PostgreSQL and Redis under
``$SALESOPS_VAR_DIR`` (default ``var/``) are started and used (see ``salesops.embedded``).
"""

import importlib.util
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from salesops import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = embedded.default_var_dir()
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# --- Backing services -----------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
USES_EMBEDDED_SERVICES = not DATABASE_URL or not REDIS_URL
if USES_EMBEDDED_SERVICES:
    _services = embedded.ensure_started(
        VAR_DIR,
        postgres=not DATABASE_URL,
        redis=not REDIS_URL,
        database=env.str("SALESOPS_DB_NAME", default=embedded.DATABASE_NAME),
    )
    if not DATABASE_URL:
        DATABASE_URL = _services.postgres.uri(
            env.str("SALESOPS_DB_NAME", default=embedded.DATABASE_NAME)
        )
    if not REDIS_URL:
        REDIS_URL = embedded.redis_url(_services.redis_socket)

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A read replica for dashboards can be added as DATABASE_REPLICA_URL once reporting needs it.

# --- Secrets ----------------------------------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if env.str("DATABASE_URL", default=""):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when running against an external database."
        )
    # Local machine on embedded services: a random key kept under var/ so sessions survive restarts.
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        from django.core.management.utils import get_random_secret_key

        _key_file.write_text(get_random_secret_key())
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- Applications -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "salesops.org",
    "salesops.imports",
    "crm",
    "territories",
    "compensation",
    "forecasting",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "salesops.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "salesops.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "salesops.urls"
WSGI_APPLICATION = "salesops.wsgi.application"
AUTH_USER_MODEL = "org.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "salesops.context_processors.navigation",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# plotly.js is served from the installed plotly package (no CDN, nothing copied in the repo).
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("plotly", Path(importlib.util.find_spec("plotly").origin).parent / "package_data"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "salesops",
    }
}

# --- Audit (django-pghistory: Postgres triggers, so bulk updates are recorded too) ------------
PGHISTORY_DEFAULT_TRACKERS = None  # every tracked model names its trackers explicitly
PGHISTORY_MIDDLEWARE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Sections each app adds to the home page (callables taking the request; None to skip).
SALESOPS_HOME_SECTIONS = ["crm.home.pipeline_section"]

# Steps `generate_org` runs after building the org, in order (each app adds its own).
SALESOPS_GENERATOR_STEPS = [
    "crm.generate.generate_crm",
    "territories.generate.generate_territories",
    "territories.generate.generate_quotas",
    "compensation.generate.generate_comp",
    "reporting.generate.generate_kpis",
]

# What spreadsheets can be imported as (each app adds its targets), and the largest file taken.
SALESOPS_IMPORT_TARGETS = [
    "salesops.org.importers.UserImport",
    "crm.importers.AccountImport",
    "crm.importers.ContactImport",
    "crm.importers.LeadImport",
    "crm.importers.DealImport",
    "crm.importers.DealHistoryImport",
    "crm.importers.ActivityImport",
    "territories.importers.AssignmentRuleImport",
]
SALESOPS_IMPORT_MAX_BYTES = env.int("SALESOPS_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
# Files up to this many rows are checked and imported while the page waits; bigger ones by the
# Celery worker, with the page following its progress.
SALESOPS_IMPORT_INLINE_ROWS = env.int("SALESOPS_IMPORT_INLINE_ROWS", default=5000)

# --- KPIs ------------------------------------------------------------------------------------
# The nightly full recompute (hour and minute, org time zone) and the recompute of what changed
# (every this many seconds), both on the ``kpi`` queue.
SALESOPS_KPI_FULL_AT = env.str("SALESOPS_KPI_FULL_AT", default="02:30")
SALESOPS_KPI_CHANGED_SECONDS = env.int("SALESOPS_KPI_CHANGED_SECONDS", default=180)
# Memory per sort or hash of a recompute (PostgreSQL work_mem, for that transaction only).
SALESOPS_KPI_WORK_MEM = env.str("SALESOPS_KPI_WORK_MEM", default="128MB")

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous call then gets 401 with "WWW-Authenticate: Token", not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "EXCEPTION_HANDLER": "salesops.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SalesOps API",
    "DESCRIPTION": "Pipeline, territories, compensation, forecasting and KPIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Same-named choice fields on different models get distinct, readable enum names.
    "ENUM_NAME_OVERRIDES": {
        "ActivityKindEnum": "crm.models.ActivityKind",
        "DealTypeEnum": "crm.models.DealType",
        "LeadStatusEnum": "crm.models.LeadStatus",
        "PlanStatusEnum": "compensation.models.PlanStatus",
        "RunStatusEnum": "compensation.models.RunStatus",
        "DisputeStatusEnum": "compensation.models.DisputeStatus",
    },
}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = embedded.celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = embedded.celery_url(REDIS_URL)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered, so tasks must be idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task left unacknowledged by a worker that died goes back on its queue after this many
# seconds: longer than the hard time limit, so a task still running is never handed out twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("SALESOPS_REDELIVER_AFTER_SECONDS", default=900)
}
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # Sending reports is light: the default queue; recomputing KPIs is heavy: its own queue.
    "reporting.tasks.report_deliveries_send": {"queue": "default"},
    "reporting.tasks.*": {"queue": "kpi"},
    # Commission runs: their own queue, so a long KPI recompute never delays payroll.
    "compensation.tasks.*": {"queue": "comp"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE
HEARTBEAT_INTERVAL_SECONDS = env.int("SALESOPS_HEARTBEAT_SECONDS", default=30)

# --- Email -----------------------------------------------------------------------------------
# Scheduled reports are emailed. EMAIL_URL sets everything at once (django-environ:
# smtp+tls://USER:PASSWORD@smtp.example.com:587, consolemail://); the single variables below
# override it one by one. The default prints mails to the console (development).
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_CONFIG["EMAIL_BACKEND"])
EMAIL_HOST = env.str("EMAIL_HOST", default=EMAIL_CONFIG.get("EMAIL_HOST") or "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=EMAIL_CONFIG.get("EMAIL_PORT") or 25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default=EMAIL_CONFIG.get("EMAIL_HOST_USER") or "")
EMAIL_HOST_PASSWORD = env.str(
    "EMAIL_HOST_PASSWORD", default=EMAIL_CONFIG.get("EMAIL_HOST_PASSWORD") or ""
)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=EMAIL_CONFIG.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=EMAIL_CONFIG.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)  # seconds; a stuck server fails the send
# The file backend (django.core.mail.backends.filebased.EmailBackend) writes mails here.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="salesops@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Where people open the app: links in emails (https://sales.example.com).
SALESOPS_SITE_URL = env.str("SALESOPS_SITE_URL", default="http://localhost:8000")

# --- Logging ---------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}
