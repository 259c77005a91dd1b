"""Which language a page speaks, and the links between a page's languages.

Django's LocaleMiddleware picks the language from the language cookie (set by the switch on every
page, Django's `set_language`) and then from Accept-Language. The paths stay as SPEC fixes them,
so one URL serves every language; `?lang=es` names one language of a page, which search engines
need for the `hreflang` alternates (each language of a page must have an address of its own)."""

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers

QUERY_PARAMETER = "lang"

# The answers that read the same in every language (their views are `language_independent`):
# no language is negotiated for them, a fifth of what /api/count/ otherwise costs.
LANGUAGE_FREE_URL_NAMES = [
    "pledges:api-count",
    "pledges:api-history",
    "pledges:healthz",
    "pledges:signatories-csv",
]


def supported_language(code: str | None) -> str | None:
    """The site's language for a code such as "es" or "es-MX", or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def language_independent(view):
    """For responses that read the same in every language (JSON, CSV): no `Vary: Accept-Language`,
    which would split a shared cache's copy of the hottest endpoints by every browser's header."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.language_independent = True
        return response

    wrapped.language_independent = True
    return wrapped


class LanguageMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware, and `?lang=` before it. A page opened with `?lang=` keeps that
    language as the visitor clicks on (the links and the sign form do not carry the parameter):
    the choice goes into the cookie that `set_language` sets."""

    _language_free_paths: frozenset[str] | None = None

    @classmethod
    def language_free_paths(cls) -> frozenset[str]:
        if cls._language_free_paths is None:
            cls._language_free_paths = frozenset(reverse(name) for name in LANGUAGE_FREE_URL_NAMES)
        return cls._language_free_paths

    def process_request(self, request):
        if request.path_info in self.language_free_paths():
            # Even an error page here speaks the site's own language, never the last request's.
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE, request.language_from_query = settings.LANGUAGE_CODE, None
            return
        super().process_request(request)
        request.language_from_query = supported_language(request.GET.get(QUERY_PARAMETER))
        if request.language_from_query:
            translation.activate(request.language_from_query)
            request.LANGUAGE_CODE = request.language_from_query

    def process_response(self, request, response):
        if getattr(response, "language_independent", False):
            return response
        chosen = getattr(request, "language_from_query", None)
        if chosen:
            # The address names the language: a cache may keep one copy for everyone.
            response.headers.setdefault("Content-Language", chosen)
        else:
            response = super().process_response(request, response)
            # The language cookie chooses too, so a shared cache must tell its readers apart.
            patch_vary_headers(response, ("Cookie",))
        # Pages only: an embedded badge must not pick the language of our site for its viewer.
        if (
            chosen
            and response.get("Content-Type", "").startswith("text/html")
            and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != chosen
        ):
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                chosen,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response


def url_in_language(request, code: str | None) -> str:
    """This page's absolute address (from SITE_URL, not the client's Host header) in one language,
    or without `?lang=` (the address whose language is negotiated) when code is None."""
    query = [
        (key, value) for key, values in request.GET.lists() if key != QUERY_PARAMETER for value in values
    ]
    if code:
        query.append((QUERY_PARAMETER, code))
    return settings.SITE_URL + request.path + (f"?{urlencode(query)}" if query else "")
