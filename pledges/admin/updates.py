"""Updates to the signers who asked for news: write, preview, test, then send."""

from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_sameorigin

from pledges import emails, updates
from pledges.models import Signature, Update

# The preview of an update's HTML, shown in a sandboxed frame on its admin page: email HTML needs
# inline styles, which the site's policy forbids everywhere else.
PREVIEW_CSP = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["https:", "data:"],
    "frame-ancestors": ["'self'"],
}
PREVIEW_NAME = "Ada Lovelace"


@admin.register(Update)
class UpdateAdmin(admin.ModelAdmin):
    """Write, preview, test, then send. Sending only marks the update: the worker queues and
    delivers it (pledges/updates.py)."""

    list_display = ["subject", "status", "created_at", "send_started_at", "sent_at"]
    list_filter = ["status"]
    fields = ["subject", "body"]
    change_form_template = "admin/pledges/update/change_form.html"

    def has_change_permission(self, request, obj=None) -> bool:
        # What went out stays as it went out.
        if obj is not None and obj.status != Update.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or obj.status == Update.Status.DRAFT

    def has_send_permission(self, request) -> bool:
        return request.user.has_perm("pledges.send_update")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        def route(suffix: str, view, name: str):
            return path(
                f"<path:object_id>/{suffix}",
                self.admin_site.admin_view(view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_{name}",
            )

        return [
            route("preview.html", self.preview_view, "preview"),
            route("send-test/", self.send_test_view, "send_test"),
            route("send/", self.send_view, "send"),
            *super().get_urls(),
        ]

    def _url(self, name: str, update: Update) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[update.pk])

    def _get_update(self, request, object_id) -> Update:
        update = self.get_object(request, unquote(object_id))
        if update is None:
            raise Http404("No such update.")
        if not self.has_view_permission(request, update):
            raise PermissionDenied
        return update

    def _preview(self, update: Update) -> tuple[str, str, str]:
        return emails.update_content(
            update,
            body_html=updates.body_html(update),
            name=PREVIEW_NAME,
            unsubscribe_link=f"{settings.SITE_URL}/unsubscribe/…/",
            withdraw_link=f"{settings.SITE_URL}/withdraw/…/",
            language=translation.get_language(),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        update = self.get_object(request, object_id)
        extra = {}
        if update is not None:
            subject, text, _ = self._preview(update)
            extra = {
                "update": update,
                "preview_subject": subject,
                "preview_text": text,
                "preview_url": self._url("preview", update),
                "send_test_url": self._url("send_test", update),
                "send_url": self._url("send", update),
                "has_send_permission": self.has_send_permission(request),
                "figures": update.figures() if update.status != Update.Status.DRAFT else None,
                "from_email": settings.DEFAULT_FROM_EMAIL,
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @csp_replace(PREVIEW_CSP)
    @xframe_options_sameorigin
    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        update = self._get_update(request, object_id)
        return HttpResponse(self._preview(update)[2])

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        update = self._get_update(request, object_id)
        if request.method != "POST":
            return redirect(reverse("admin:pledges_update_change", args=[update.pk]))
        if not super().has_change_permission(request, update):
            raise PermissionDenied
        if not request.user.email:
            self.message_user(
                request, "Your staff account has no email address: add one to receive a test.", messages.ERROR
            )
        else:
            name = request.user.get_full_name() or request.user.get_username()
            emails.queue_update_test(
                update, to=request.user.email, name=name, body_html=updates.body_html(update)
            )
            self.message_user(
                request, f"A test is on its way to {request.user.email}; the worker sends it within seconds."
            )
        return redirect(reverse("admin:pledges_update_change", args=[update.pk]))

    def send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        update = self._get_update(request, object_id)
        if not self.has_send_permission(request):
            raise PermissionDenied
        change_url = reverse("admin:pledges_update_change", args=[update.pk])
        if update.status != Update.Status.DRAFT:
            self.message_user(
                request, "This update has already been sent; it goes to nobody twice.", messages.WARNING
            )
            return redirect(change_url)
        if request.method == "POST":
            if update.start_sending(by=request.user):
                self.message_user(
                    request,
                    "Sending: the worker is delivering the update. Progress shows below.",
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, "This update was already being sent.", messages.WARNING)
            return redirect(change_url)
        ctx = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Send this update?",
            "update": update,
            "recipients": Signature.objects.update_recipients().count(),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/pledges/update/send_confirmation.html", ctx)
