"""ICHweb settings: one file, every deployment knob an environment variable with a safe default.

Defaults run embedded on a fresh machine (SQLite and a filesystem Celery broker under var/); DATABASE_URL and
CELERY_BROKER_URL switch to PostgreSQL and Redis/RabbitMQ. DEBUG is off unless asked for, and secure cookie,
HSTS and redirect settings follow from it. See README.md for the list.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from ichweb.config import (
    broker_config,
    database_config,
    env_bool,
    env_int,
    env_list,
    env_rate,
    env_str,
    persistent_secret,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ICHWEB_VAR_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key(os.environ, VAR_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
#: Demo users with printed passwords are created only when this is on (and DEBUG is on).
DEMO_MODE = env_bool("ICHWEB_DEMO", DEBUG)

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
    "django_celery_results",
    "axes",
    "csp",
    "ichweb.accounts",
    "ichweb.imaging",
    "ichweb.labeling",
    "ichweb.modeling",
    "ichweb.readerstudy",
    "ichweb.analytics",
    "ichweb.interop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ichweb.lib.headers.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Role and size of an upload are checked (process_view) before anything reads its body, the CSRF
    # check of a form included (ichweb/lib/uploads.py).
    "ichweb.lib.uploads.UploadGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # /dicomweb/ only: CORS, bearer tokens (the user the upload guard's process_view checks), roles, audit.
    "ichweb.interop.middleware.DicomwebMiddleware",
    "ichweb.accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login attempt into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ichweb.urls"
WSGI_APPLICATION = "ichweb.wsgi.application"
ASGI_APPLICATION = "ichweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "ichweb" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ichweb.accounts.context_processors.roles",
            ],
            "builtins": ["ichweb.lib.vite"],
        },
    },
]

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"), VAR_DIR / "ichweb.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): after ICHWEB_LOGIN_FAILURE_LIMIT failed log-ins of one user name from one
# address, that combination is refused (even with the right password) for ICHWEB_LOGIN_COOLOFF_MINUTES
# (0: until an administrator resets it in the admin site or with `manage.py axes_reset_username NAME`).
AUTHENTICATION_BACKENDS = [
    "ichweb.accounts.backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ICHWEB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
_LOGIN_COOLOFF_MINUTES = env_int("ICHWEB_LOGIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_LOGIN_COOLOFF_MINUTES) if _LOGIN_COOLOFF_MINUTES else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "ichweb.accounts.views.locked_out"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
# Built by `make frontend`; absent before the first build (then pages render without scripts).
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Vite already fingerprints its files; whitenoise must not add a second hash to them.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^.+[.-][0-9a-zA-Z_-]{8,12}\..+$"
MEDIA_URL = "/media/"

# Upload limits (bytes). Imaging checks its own per-study limits; these bound what Django buffers in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 20_000)
# The browser sends one relative path per file beside the files themselves.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 20_500)

# Imaging: de-identification and upload limits.
#: Seeds the pseudonymiser: the same patient/study always maps to the same pseudonym and UIDs on this site.
#: Keep it secret and stable (losing it breaks idempotent re-import and patient-level grouping).
DEID_SECRET = persistent_secret("DEID_SECRET", os.environ, VAR_DIR)
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1)
IMPORT_MAX_UNZIPPED_BYTES = env_int("IMPORT_MAX_UNZIPPED_BYTES", 8 * 1024**3, minimum=1)
IMPORT_MAX_ZIP_RATIO = env_int("IMPORT_MAX_ZIP_RATIO", 100, minimum=1)
IMPORT_MAX_FILES = env_int("IMPORT_MAX_FILES", 20_000, minimum=1)
#: Processes that read and de-identify files in parallel during an import (1 = in-process).
IMPORT_READ_PROCESSES = env_int("IMPORT_READ_PROCESSES", min(4, os.cpu_count() or 1), minimum=1)
#: Uploads up to this size are imported within the request; larger ones by a worker with progress.
IMPORT_INLINE_MAX_BYTES = env_int("IMPORT_INLINE_MAX_BYTES", 16 * 1024**2)

# Security: secure by default whenever DEBUG is off; each can still be set explicitly.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles and connections from this site only, no inline
# script or style; pages pass data in data- attributes or <script type="application/json">.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
    }
}
#: Browser features no page needs (Permissions-Policy header, ichweb/lib/headers.py).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "serial",
        "bluetooth",
        "hid",
        "browsing-topics",
    )
}
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is probed over plain HTTP by load balancers and docker.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ichweb.errors.api_exception_handler",
    "DEFAULT_METADATA_CLASS": "ichweb.errors.Metadata",
    # Counted in the default cache (per process: see CACHES); generous for users, so the viewer's bursts
    # of slice requests pass.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("ICHWEB_API_ANON_RATE", "60/minute"),
        "user": env_rate("ICHWEB_API_USER_RATE", "2000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ICHweb API",
    "DESCRIPTION": "Head-CT haemorrhage labeling, models, reader studies and analytics.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from our own static files (drf-spectacular-sidecar), not a CDN, as the CSP requires.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SeriesKindEnum": "ichweb.imaging.models.Series.Kind",
        "ReadKindEnum": "ichweb.labeling.models.Read.Kind",
        "StageEnum": "ichweb.modeling.models.Stage",
        "ExclusionReasonEnum": "ichweb.labeling.models.ExclusionReason",
    },
}

# Celery: the embedded broker needs no server; results live in the database (django-celery-results).
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker_config(
    os.environ.get("CELERY_BROKER_URL"), VAR_DIR
)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Modeling: where training and inference run ("" = CUDA when there is one, else CPU), how much work the
# atlas and the maps may take, and after how long without a heartbeat a run or job counts as lost.
ICHWEB_TRAIN_DEVICE = env_str("ICHWEB_TRAIN_DEVICE", "")
ICHWEB_ATLAS_MAX_SLICES = env_int("ICHWEB_ATLAS_MAX_SLICES", 4000, minimum=1)
ICHWEB_MAX_MAPS_PER_JOB = env_int("ICHWEB_MAX_MAPS_PER_JOB", 48)
ICHWEB_BASIS_TOP_K = env_int("ICHWEB_BASIS_TOP_K", 5, minimum=1)
ICHWEB_STALE_AFTER_S = env_int("ICHWEB_STALE_AFTER_S", 600, minimum=1)
# Every worker records that it is alive this often; one silent for 3 intervals counts as dead and the
# running work it owned is sent again.
ICHWEB_LIVENESS_INTERVAL_S = env_int("ICHWEB_LIVENESS_INTERVAL_S", 10, minimum=1)
# Queue names work is sent to (GPU hosts consume ICHWEB_GPU_QUEUE with --concurrency 1).
ICHWEB_GPU_QUEUE = env_str("ICHWEB_GPU_QUEUE", "gpu")
ICHWEB_DEFAULT_QUEUE = env_str("ICHWEB_DEFAULT_QUEUE", "default")

#: Tests and single-process tools may run tasks in-process; never in a deployment.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Interoperability (ichweb/interop, docs/interop.md): DICOMweb at /dicomweb/ and a DICOM C-STORE listener.
#: Browser origins (e.g. an OHIF viewer elsewhere) that may call /dicomweb/ with a bearer token.
ICHWEB_DICOMWEB_CORS_ORIGINS = env_list("ICHWEB_DICOMWEB_CORS_ORIGINS", [])
#: Largest STOW-RS body; a larger declared Content-Length is refused (413) before the body is read.
ICHWEB_STOW_MAX_BYTES = env_int("ICHWEB_STOW_MAX_BYTES", 1024**3, minimum=1)
#: DICOMweb requests per user (a viewer fetches every frame of a study) before 429.
ICHWEB_DICOMWEB_RATE = env_rate("ICHWEB_DICOMWEB_RATE", "20000/minute")
#: `manage.py runapp` starts the C-STORE listener too (`manage.py dicom_listener` runs it alone).
ICHWEB_DICOM_LISTENER = env_bool("ICHWEB_DICOM_LISTENER", False)
#: The listener's own AE title (1-16 ASCII characters; checked when the listener starts).
ICHWEB_DICOM_AE_TITLE = env_str("ICHWEB_DICOM_AE_TITLE", "ICHWEB")
ICHWEB_DICOM_HOST = env_str("ICHWEB_DICOM_HOST", "127.0.0.1")
ICHWEB_DICOM_PORT = env_int("ICHWEB_DICOM_PORT", 11112, minimum=1)
#: Calling AE titles allowed to send (comma list; `*` for any). Empty: the listener refuses to start.
ICHWEB_DICOM_ALLOWED_AES = env_list("ICHWEB_DICOM_ALLOWED_AES", [])
#: A received study with no new instance for this long is handed to a worker for import.
ICHWEB_DICOM_IDLE_S = env_int("ICHWEB_DICOM_IDLE_S", 30, minimum=1)
#: Received instances wait here (identifying data: they are not de-identified yet) until the import job.
ICHWEB_DICOM_SPOOL_DIR = Path(env_str("ICHWEB_DICOM_SPOOL_DIR", str(VAR_DIR / "dicom-spool"))).resolve()
#: DICOM exports (SR, SEG) sent to a destination: tries per send job, the wait after the first failed try
#: (doubled after each further one) and the network timeout of one try, in seconds.
ICHWEB_EXPORT_SEND_ATTEMPTS = env_int("ICHWEB_EXPORT_SEND_ATTEMPTS", 3, minimum=1)
ICHWEB_EXPORT_BACKOFF_S = env_int("ICHWEB_EXPORT_BACKOFF_S", 5, minimum=0)
ICHWEB_EXPORT_TIMEOUT_S = env_int("ICHWEB_EXPORT_TIMEOUT_S", 30, minimum=1)
