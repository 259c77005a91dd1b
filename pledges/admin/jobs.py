"""What the worker works through: the sign forms it has not signed yet, and the bulk moderation
jobs that a large "select all" starts (pledges/bulk.py)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from pledges.admin.common import CappedCountPaginator, ReadOnlyAdminMixin
from pledges.admin.filters import SubmissionStateFilter
from pledges.models import BulkModerationJob, Submission


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The sign forms the worker has not signed yet: normally none for more than a second or two.
    One it could not sign stays here with the error (also in the log) until staff try it again,
    once the cause is fixed, or delete it."""

    list_display = ["received_at", "full_name", "email", "error"]
    list_filter = [SubmissionStateFilter]
    actions = ["try_again"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Staff may delete one the worker could not sign: Django's delete permission decides.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    @admin.action(description="Try the selected submissions again", permissions=["delete"])
    def try_again(self, request, queryset):
        count = queryset.failed().update(error="")
        self.message_user(request, f"{count} submission(s) will be signed by the worker on its next turn.")


@admin.register(BulkModerationJob)
class BulkModerationJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "state", "progress", "created_by", "created_at", "finished_at"]
    list_filter = ["state", "action"]
    list_select_related = ["created_by"]
    fields = readonly_fields = [
        "action",
        "description",
        "state",
        "progress",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "cancelled_by",
    ]
    change_form_template = "admin/pledges/bulkmoderationjob/change_form.html"
    paginator = CappedCountPaginator
    show_full_result_count = False

    @admin.display(description="progress")
    def progress(self, job: BulkModerationJob) -> str:
        if job.total is None:
            return "Not started yet" if not job.finished else ""
        return format_html(
            '<progress max="100" value="{}">{}%</progress> {} of {} looked at, {} changed',
            job.percent_done,
            job.percent_done,
            f"{job.processed:,}",
            f"{job.total:,}",
            f"{job.changed:,}",
        )

    def get_urls(self):
        cancel = path(
            "<int:object_id>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="pledges_bulkmoderationjob_cancel",
        )
        return [cancel, *super().get_urls()]

    def cancel_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(
                "Cancel with the button on the job's page.", status=405, content_type="text/plain"
            )
        if not request.user.has_perm("pledges.moderate_signature"):
            raise PermissionDenied
        job = get_object_or_404(BulkModerationJob, pk=object_id)
        if job.cancel(request.user):
            self.message_user(
                request,
                f"Cancelled after {job.processed:,} signatures; {job.changed:,} changed stay changed.",
            )
        else:
            self.message_user(
                request, f"The job had already ended ({job.get_state_display().lower()}).", messages.WARNING
            )
        return HttpResponseRedirect(reverse("admin:pledges_bulkmoderationjob_change", args=[job.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "job": job,
            "can_cancel": job is not None
            and not job.finished
            and request.user.has_perm("pledges.moderate_signature"),
        }
        return super().change_view(request, object_id, form_url, extra_context)
