"""What a request may carry, decided before anything reads its body.

RequestBodyLimits: request bodies are refused before anything reads them when no page could want
them. AdminFormLimitMiddleware: a higher form-field limit for signed-in staff in the admin, and only there.

DATA_UPLOAD_MAX_NUMBER_FIELDS stays small for the public forms (a signature has a dozen
fields), but the admin changelist posts one field per ticked row: a full page of 100 rows is
over 100 fields and Django answered 400 (TooManyFieldsSent). Django reads that limit from the
settings when it parses request.POST, with no per-view override, so for staff posting a form to
the admin this parses the body itself, the same way, with ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS.
The body-size limit (DATA_UPLOAD_MAX_MEMORY_SIZE) is unchanged and still applies."""

from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

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
