"""A higher form-field limit for signed-in staff in the admin, and only there.

DATA_UPLOAD_MAX_NUMBER_FIELDS stays small for the public forms (a signature has a dozen
fields), but the admin changelist posts one field per ticked row: a full page of 100 rows is
over 100 fields and Django answered 400 (TooManyFieldsSent). Django reads that limit from the
settings when it parses request.POST, with no per-view override, so for staff posting a form to
the admin this parses the body itself, the same way, with ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS.
The body-size limit (DATA_UPLOAD_MAX_MEMORY_SIZE) is unchanged and still applies."""

from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict


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
