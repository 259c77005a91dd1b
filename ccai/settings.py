"""ccai settings: one file, every value that differs between machines read from the
environment (or a `.env` file beside manage.py). See README.md for the list."""

import os
import re
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

# Core
INSECURE_SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105 (the refused default)
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=INSECURE_SECRET_KEY)
if not DEBUG and SECRET_KEY in ("", INSECURE_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or is the insecure default while DEBUG is off. "
        "Set SECRET_KEY in the environment (or .env) to a long random value, "
        "or set DEBUG=true for local development."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
ADMIN_URL = env("ADMIN_URL", default="admin/").strip("/") + "/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_countries",
    "axes",
    "pledges",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "pledges.middleware.CachedPolicyCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The language (from the query, cookie and headers only): the refusals below speak it too.
    "pledges.languages.LanguageMiddleware",
    # Before anything that reads the body (the CSRF check reads the whole form).
    "pledges.middleware.RequestBodyLimits",
    # The letter page, the count and the badge skip the rest (see pledges/middleware.py).
    "pledges.middleware.FastPublicReads",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pledges.middleware.AdminFormLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ccai.urls"
WSGI_APPLICATION = "ccai.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL; when it is not set, the embedded server under .pgdata/, but only for local
# development (DEBUG) and the test run: production must not quietly keep its data in a folder.
if "DATABASE_URL" not in os.environ and not env.str("DATABASE_URL", default=""):
    if not DEBUG and "PYTEST_VERSION" not in os.environ:
        raise ImproperlyConfigured(
            "DATABASE_URL is not set while DEBUG is off. Set DATABASE_URL to your PostgreSQL server "
            "(postgres://user:password@host:5432/name), or set DEBUG=true for local development "
            "on the embedded database in .pgdata/."
        )
    from ccai.embedded_postgres import database_url

    os.environ["DATABASE_URL"] = database_url()
DATABASES = {"default": env.db("DATABASE_URL")}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("ccai runs on PostgreSQL only; DATABASE_URL must be postgres://…")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: shared by every worker and machine (rate limits, the cached count).
# The default keeps it in PostgreSQL; production points CACHE_URL at Redis.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://ccai_cache")}
# Namespaces the keys when several deployments share one Redis.
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="")
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Django's database cache increments with a read and a write; rate limits need it atomic.
    CACHES["default"]["BACKEND"] = "pledges.cache.DatabaseCache"
    # Past MAX_ENTRIES (Django's default: 300) it evicts a third of the keys, rate-limit counts
    # included: a flood from many addresses would reset everyone's limits.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)

# Email: the worker (manage.py worker) sends through EMAIL_URL.
vars().update(env.email_url("EMAIL_URL", default="smtp://127.0.0.1:1025"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Creators Coalition on AI <letter@localhost>")
EMAIL_RETRY_BASE_SECONDS = env.int("EMAIL_RETRY_BASE_SECONDS", default=30)
EMAIL_GIVE_UP_AFTER_HOURS = env.int("EMAIL_GIVE_UP_AFTER_HOURS", default=72)
# How long a worker keeps the messages it took to send (10 at a time): a killed worker's unsent
# ones go out after this. Longer than sending 10 can take (EMAIL_TIMEOUT each, at worst).
EMAIL_CLAIM_SECONDS = env.int("EMAIL_CLAIM_SECONDS", default=300)

# Signing
VERIFY_LINK_MAX_AGE_DAYS = env.int("VERIFY_LINK_MAX_AGE_DAYS", default=7)
WITHDRAW_LINK_MAX_AGE_DAYS = env.int("WITHDRAW_LINK_MAX_AGE_DAYS", default=365)
# An unsubscribe link must keep working as long as anyone might open an old update.
UNSUBSCRIBE_LINK_MAX_AGE_DAYS = env.int("UNSUBSCRIBE_LINK_MAX_AGE_DAYS", default=730)
# Updates to signers: a mailbox that unsubscribes whoever writes to it (List-Unsubscribe: <mailto:…>);
# empty for none (the https link and one-click POST are always there).
UNSUBSCRIBE_MAILTO = env("UNSUBSCRIBE_MAILTO", default="")
# How long a worker holds the batch of update emails it is sending before another may take it over.
UPDATE_CLAIM_SECONDS = env.int("UPDATE_CLAIM_SECONDS", default=120)
UNCONFIRMED_EXPIRY_DAYS = env.int("UNCONFIRMED_EXPIRY_DAYS", default=14)
# Sent emails (they hold a name and an address) are deleted after this by purge_unconfirmed.
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=7)
COUNT_MAX_AGE_SECONDS = env.int("COUNT_MAX_AGE_SECONDS", default=60)
# How long each process keeps the letter page's markup, the pause switch, the current letter
# version and the form's choices before reading them again (pledges/pages.py): a change made in
# the admin shows everywhere within this many seconds.
PUBLIC_CACHE_SECONDS = env.float("PUBLIC_CACHE_SECONDS", default=5)
# Client IPs are stored only as an HMAC keyed with this secret.
IP_HASH_KEY = env("IP_HASH_KEY", default=SECRET_KEY)
# How many reverse proxies in front of the app append to X-Forwarded-For.
# 0 means X-Forwarded-For is ignored and REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Abuse limits (README explains each number). Rates are django-ratelimit's "count/period",
# e.g. "10/h" or "10/15m"; all held in the shared cache, so they hold across processes.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_VIEW = "pledges.views.too_many_requests"
RATELIMIT_SIGN_IP_SOFT = env("RATELIMIT_SIGN_IP_SOFT", default="10/h")
RATELIMIT_SIGN_IP_HARD = env("RATELIMIT_SIGN_IP_HARD", default="200/h")
RATELIMIT_VERIFY_IP = env("RATELIMIT_VERIFY_IP", default="100/h")
RATELIMIT_WITHDRAW_IP = env("RATELIMIT_WITHDRAW_IP", default="100/h")
RATELIMIT_ADMIN_LOGIN_IP = env("RATELIMIT_ADMIN_LOGIN_IP", default="10/15m")
_RATES = ("SIGN_IP_SOFT", "SIGN_IP_HARD", "VERIFY_IP", "WITHDRAW_IP", "ADMIN_LOGIN_IP")
for _rate in _RATES:
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", vars()[f"RATELIMIT_{_rate}"]):
        raise ImproperlyConfigured(f'RATELIMIT_{_rate} must be a rate like "10/h" or "10/15m"')
EMAILS_PER_ADDRESS_PER_DAY = env.int("EMAILS_PER_ADDRESS_PER_DAY", default=3)

# Staff sign-in (django-axes): failed passwords are counted per username and client address
# together, in the database (so across processes), so that a guesser is stopped while strangers
# elsewhere cannot lock the owner out. A success starts the count again.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("ADMIN_LOGIN_LOCKOUT_HOURS", default=1.0)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "pledges.clients.client_ip"
AXES_LOCKOUT_CALLABLE = "pledges.views.admin_login_locked_out"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"

# Review flags: from this many signatures in an hour, further ones from the same IP hash or
# email domain are held for review. Big webmail domains are exempt from the domain burst.
BURST_IP_PER_HOUR = env.int("BURST_IP_PER_HOUR", default=20)
BURST_DOMAIN_PER_HOUR = env.int("BURST_DOMAIN_PER_HOUR", default=20)
BURST_EXEMPT_DOMAINS = env.list(
    "BURST_EXEMPT_DOMAINS",
    default=[
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "naver.com",
        "comcast.net",
        "hey.com",
        "fastmail.com",
        "yahoo.co.uk",
        "hotmail.co.uk",
        "btinternet.com",
        "orange.fr",
    ],
)

# Email checks on the sign form: the domain must be able to receive mail (MX, else A/AAAA).
# When DNS cannot be reached at all the check lets the address through. On unless DEBUG:
# a development machine may have no working DNS.
EMAIL_DOMAIN_CHECK = env.bool("EMAIL_DOMAIN_CHECK", default=not DEBUG)
EMAIL_DOMAIN_CHECK_TIMEOUT = env.float("EMAIL_DOMAIN_CHECK_TIMEOUT", default=2.0)

# Request limits: a signature is a few hundred bytes; refuse anything far larger.
# pledges.middleware.RequestBodyLimits refuses a larger declared body before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
# No page takes a file: file parts of a multipart form are read (within the limit) and dropped,
# never written to disk.
FILE_UPLOAD_HANDLERS = []

# Signed-in staff posting to the admin may send more fields: a changelist page of 100 rows
# posts one field per ticked row (see pledges/middleware.py).
ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS", default=1000)

# Bulk moderation: a selection up to BULK_IN_REQUEST_MAX signatures changes in the request;
# a larger one becomes a background job that the worker runs BULK_BATCH_SIZE rows at a time.
BULK_IN_REQUEST_MAX = env.int("BULK_IN_REQUEST_MAX", default=500)
BULK_BATCH_SIZE = env.int("BULK_BATCH_SIZE", default=1000)

# Security
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and SITE_URL.startswith("https"))
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers check health over plain http
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SITE_URL.startswith("https")
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SITE_URL.startswith("https") else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = True  # no page reads the token from JavaScript
# No inline script or style anywhere (the admin's included), so none is allowed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

TIME_ZONE = "UTC"
USE_TZ = True

# Languages: each page speaks the visitor's language, chosen by `?lang=`, then the language switch
# (Django's set_language, which sets the cookie), then Accept-Language; English is the original.
# The .po files in locale/ are compiled into .mo files by `make install` (see README).
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["ccai.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = SITE_URL.startswith("https")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Email addresses are personal data: the filter redacts them from every line logged.
    "filters": {"redact_emails": {"()": "pledges.logfilters.RedactEmails"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_emails"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "pgserver": {"level": "WARNING"}},
}
