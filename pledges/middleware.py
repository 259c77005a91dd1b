"""Request bodies are refused before anything reads them when no page could want them."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
                    "Please send the form again",
                    "Your browser did not say the size of what it sent, and this site only takes "
                    "forms whose size it knows in advance. Go back and send the form again.",
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
                "That was too large to send",
                f"What your browser sent is too large: forms on this site are at most {limit_kb} KB, "
                "and they take no files. Go back, check what you typed, and send it again.",
            )
        content_type = request.content_type or ""
        if length and content_type not in FORM_TYPES:
            return _refuse(
                request,
                415,
                "This address takes a form",
                "This address takes a form sent from a page on this site, not a file or other data. "
                "Go back to the page and send the form there.",
            )
        return self.get_response(request)
