"""The CSV export of what a signature changelist shows, with its filters and search, streamed
so that a million rows never sit in memory."""

from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone

from pledges.admin.common import has_nul
from pledges.lib.exports import csv_lines

HEADER = [
    "name",
    "email",
    "profession",
    "guilds",
    "credit",
    "country",
    "status",
    "flags",
    "featured",
    "show_publicly",
    "updates_opt_in",
    "created_at",
    "confirmed_at",
]


class SignatureExportMixin:
    """For SignatureAdmin: export/ beside the changelist, for staff with export_signature."""

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("pledges.export_signature")

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        export = path("export/", self.admin_site.admin_view(self.export_view), name=name)
        return [export, *super().get_urls()]

    def export_url(self, request: HttpRequest) -> str:
        """The export of the changelist as the request shows it."""
        query = request.GET.urlencode()
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export")
        return f"{url}?{query}" if query else url

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_export_permission(request):
            return HttpResponse("You may not export signatures.", status=403, content_type="text/plain")
        if has_nul(request):
            return HttpResponseBadRequest("Filters and searches cannot contain NUL characters.")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponse("Those filters do not work.", status=400, content_type="text/plain")
        signatures = changelist.get_queryset(request).select_related("profession").prefetch_related("guilds")
        rows = (
            (
                s.full_name,
                s.email,
                s.profession.name,
                "; ".join(guild.name for guild in s.guilds.all()),
                s.credit,
                s.country.code if s.country else "",
                s.status,
                " ".join(s.flags),
                s.featured,
                s.show_publicly,
                s.updates_opt_in,
                s.created_at.isoformat(),
                s.confirmed_at.isoformat() if s.confirmed_at else "",
            )
            for s in signatures.iterator(chunk_size=2000)
        )
        response = StreamingHttpResponse(csv_lines(HEADER, rows), content_type="text/csv; charset=utf-8")
        filename = f"signatures-{timezone.now():%Y%m%d-%H%M}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
