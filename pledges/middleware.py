"""Middleware for the requests a launch spike brings: the letter page and the count are what
everyone loads, so they should cost about what a bare Django request costs."""

from collections.abc import Callable

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import resolve, reverse
from django.views.decorators.csrf import csrf_protect

HEADER_SETTINGS = {False: "CONTENT_SECURITY_POLICY", True: "CONTENT_SECURITY_POLICY_REPORT_ONLY"}
_site_policies: dict[bool, str] = {}


def site_policy(report_only: bool) -> str:
    """The CSP header the settings describe, built once (until a test changes the settings)."""
    if report_only not in _site_policies:
        _site_policies[report_only] = build_policy(report_only=report_only)
    return _site_policies[report_only]


@receiver(setting_changed)
def _forget_site_policies(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _site_policies.clear()


class CachedPolicyCSPMiddleware(CSPMiddleware):
    """django-csp builds the header from the settings for every response, a third of what a
    cheap request costs. A response with no policy of its own (no @csp_update and the like) and
    no nonce gets the site's policy built once; others go through django-csp as before."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        own_policy = any(
            getattr(response, f"_csp_{part}{suffix}", None) is not None
            for part in ("config", "update", "replace")
            for suffix in ("", "_ro")
        )
        if own_policy or getattr(request, "_csp_nonce", None) is not None:
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (500, 404):
            return response  # Django's debug pages, as django-csp leaves them
        for header, report_only, exempt in (
            (HEADER, False, "_csp_exempt"),
            (HEADER_REPORT_ONLY, True, "_csp_exempt_ro"),
        ):
            policy = site_policy(report_only)
            config = getattr(settings, HEADER_SETTINGS[report_only], None) or {}
            excluded = request.path_info.startswith(tuple(config.get("EXCLUDE_URL_PREFIXES") or ()))
            if policy and header not in response and not getattr(response, exempt, False) and not excluded:
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


# The pages served by FastPublicReads, by URL name. Each view is called exactly as the URL
# resolver would call it, with its own decorators (allowed methods, CSRF).
FAST_URL_NAMES = [
    "pledges:letter",
    "pledges:api-count",
    "pledges:api-history",
    "pledges:badge",
    "pledges:healthz",
]


class FastPublicReads:
    """GET and HEAD requests for the pages in FAST_URL_NAMES skip the rest of the middleware
    (sessions, authentication, messages: none of these pages reads them, so no anonymous visitor
    costs a session or user lookup) and the URL resolver, which together cost several times a bare
    request. It sits below SecurityMiddleware and the CSP middleware, whose headers these pages
    keep, and does here what the skipped middleware would do for them: check the Host header
    (CommonMiddleware), set Content-Length (CommonMiddleware) and X-Frame-Options
    (XFrameOptionsMiddleware). The letter page runs CSRF's middleware as a decorator, for the
    form's token and cookie. Middleware that must run for these pages too (e.g. one choosing the
    language) goes above this one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self._views: dict[str, Callable] | None = None

    def views(self) -> dict[str, Callable]:
        if self._views is None:
            views = {}
            for name in FAST_URL_NAMES:
                path = reverse(name)
                view = resolve(path).func
                views[path] = csrf_protect(view) if name == "pledges:letter" else view
            self._views = views
        return self._views

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views().get(request.path_info) if request.method in ("GET", "HEAD") else None
        if view is None:
            return self.get_response(request)
        request.get_host()  # raises DisallowedHost (a 400) for a Host not in ALLOWED_HOSTS
        response = view(request)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        if response.get("X-Frame-Options") is None and not getattr(response, "xframe_options_exempt", False):
            response.headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS.upper()
        return response
