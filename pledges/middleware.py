"""What a request may carry, decided before anything reads its body; and the requests a launch
spike brings (the letter page and the count are what everyone loads), which should cost about
what a bare Django request costs: CachedPolicyCSPMiddleware and FastPublicReads.

RequestBodyLimits: request bodies are refused before anything reads them when no page could want
them. AdminFormLimitMiddleware: a higher form-field limit for signed-in staff in the admin, and only there.

DATA_UPLOAD_MAX_NUMBER_FIELDS stays small for the public forms (a signature has a dozen
fields), but the admin changelist posts one field per ticked row: a full page of 100 rows is
over 100 fields and Django answered 400 (TooManyFieldsSent). Django reads that limit from the
settings when it parses request.POST, with no per-view override, so for staff posting a form to
the admin this parses the body itself, the same way, with ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS.
The body-size limit (DATA_UPLOAD_MAX_MEMORY_SIZE) is unchanged and still applies."""

from collections.abc import Callable
from urllib.parse import parse_qsl

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import resolve, reverse
from django.utils.datastructures import MultiValueDict
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django_ratelimit.exceptions import Ratelimited

# Every page that takes a POST takes a web form; multipart too, since that is what RFC 8058's
# one-click unsubscribe may send (its files are dropped: FILE_UPLOAD_HANDLERS is empty).
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _refuse(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "request_refused.html", {"title": title, "message": message}, status=status)


class RequestBodyLimits:
    """Refuses a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (413), one of a type no page takes
    (415), and a body of unknown length (411), from the headers alone. Django enforces its own
    size limit only while reading, and the CSRF check reads the whole form, file parts included,
    before any view runs; this middleware sits before it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only a POST body is ever read (other methods are refused by the views unread).
        if request.method != "POST":
            return self.get_response(request)
        declared = request.META.get("CONTENT_LENGTH") or ""
        if not declared:
            if request.META.get("HTTP_TRANSFER_ENCODING"):
                # Django would not read such a body at all; say so instead of acting on an empty form.
                return _refuse(
                    request,
                    411,
                    _("Please send the form again"),
                    _(
                        "Your browser did not say the size of what it sent, and this site only takes "
                        "forms whose size it knows in advance. Go back and send the form again."
                    ),
                )
            return self.get_response(request)
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            return render(request, "400.html", status=400)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            limit_kb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
            return _refuse(
                request,
                413,
                _("That was too large to send"),
                _(
                    "What your browser sent is too large: forms on this site are at most %(limit_kb)s KB, "
                    "and they take no files. Go back, check what you typed, and send it again."
                )
                % {"limit_kb": limit_kb},
            )
        content_type = request.content_type or ""
        if length and content_type not in FORM_TYPES:
            return _refuse(
                request,
                415,
                _("This address takes a form"),
                _(
                    "This address takes a form sent from a page on this site, not a file or other data. "
                    "Go back to the page and send the form there."
                ),
            )
        return self.get_response(request)


class AdminFormLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = f"/{settings.ADMIN_URL}"

    def __call__(self, request: HttpRequest):
        if (
            request.method == "POST"
            and request.path.startswith(self.admin_prefix)
            and request.content_type == "application/x-www-form-urlencoded"
            and request.user.is_active
            and request.user.is_staff
        ):
            request._post = self._parse(request)
            request._files = MultiValueDict()
        return self.get_response(request)

    @staticmethod
    def _parse(request: HttpRequest) -> QueryDict:
        encoding = request.encoding or settings.DEFAULT_CHARSET
        post = QueryDict(mutable=True, encoding=encoding)
        try:
            pairs = parse_qsl(
                request.body.decode("iso-8859-1"),
                keep_blank_values=True,
                encoding=encoding,
                max_num_fields=settings.ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS,
            )
        except ValueError:
            raise TooManyFieldsSent(
                "The number of GET/POST parameters exceeded settings.ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS."
            ) from None
        for key, value in pairs:
            post.appendlist(key, value)
        post._mutable = False
        return post


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
# And the one public form a launch spike posts: signing (its view takes only POST).
FAST_POST_URL_NAMES = ["pledges:sign"]


class FastPublicReads:
    """GET and HEAD requests for the pages in FAST_URL_NAMES, and POSTs of the sign form
    (FAST_POST_URL_NAMES, under CSRF protection and with the rate limit's own refusal page), skip
    the rest of the middleware
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
        self._views: dict[str, dict[str, Callable]] | None = None

    def views(self) -> dict[str, dict[str, Callable]]:
        if self._views is None:
            reads, posts = {}, {}
            for name in FAST_URL_NAMES:
                path = reverse(name)
                view = resolve(path).func
                reads[path] = csrf_protect(view) if name == "pledges:letter" else view
            for name in FAST_POST_URL_NAMES:
                path = reverse(name)
                posts[path] = csrf_protect(resolve(path).func)
            self._views = {"GET": reads, "HEAD": reads, "POST": posts}
        return self._views

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views().get(request.method, {}).get(request.path_info)
        if view is None:
            return self.get_response(request)
        request.get_host()  # raises DisallowedHost (a 400) for a Host not in ALLOWED_HOSTS
        try:
            response = view(request)
        except Ratelimited as refusal:  # what django-ratelimit's middleware does
            response = import_string(settings.RATELIMIT_VIEW)(request, refusal)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        if response.get("X-Frame-Options") is None and not getattr(response, "xframe_options_exempt", False):
            response.headers["X-Frame-Options"] = settings.X_FRAME_OPTIONS.upper()
        return response
