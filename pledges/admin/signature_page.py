"""A signature's own page: its moderation buttons, and the Verify page where staff record how
they verified the person named or approve a watchlist match as a namesake."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from pledges.admin.common import NOTE_INVISIBLE
from pledges.forms import clean_text
from pledges.models import Signature


class VerifyForm(forms.Form):
    method = forms.ChoiceField(
        label="How did you verify that the person named signed?",
        choices=Signature.VerificationMethod.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Please say how you verified them."},
    )
    note = forms.CharField(
        label="Note (who confirmed it, a link, a message id)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_note(self) -> str:
        return clean_text(self.cleaned_data["note"], invisible_characters_message=NOTE_INVISIBLE)


class NamesakeForm(forms.Form):
    namesake_note = forms.CharField(
        label="Note (why you believe this is someone else with the name)",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_namesake_note(self) -> str:
        return clean_text(self.cleaned_data["namesake_note"], invisible_characters_message=NOTE_INVISIBLE)


class SignaturePageMixin:
    """For SignatureAdmin: the change page's buttons call the model methods of TRANSITIONS' rows
    (pledges/models/moderation.py), one signature at a time, as the bulk actions apply the same
    rows to a selection; the table also says which buttons a signature's page shows."""

    SINGLE_ACTIONS = {
        "approve": "Approved",
        "approve_clearing_flags": "Approved, clearing its flags,",
        "reject": "Rejected",
        "feature": "Featured",
        "unfeature": "Unfeatured",
    }

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        act = path(
            "<int:object_id>/act/<str:action>/",
            self.admin_site.admin_view(self.act_view),
            name=f"{prefix}_act",
        )
        verify = path(
            "<int:pk>/verify/", self.admin_site.admin_view(self.verify_view), name=f"{prefix}_verify"
        )
        return [act, verify, *super().get_urls()]

    def _change_url(self, signature_pk) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[signature_pk])

    @admin.display(description="verify")
    def trust_actions(self, signature: Signature) -> str:
        if signature.status not in Signature.Status.MODERATABLE:
            return "Only a confirmed signature can be verified."
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_verify", args=[signature.pk])
        return format_html('<a class="button" href="{}">Verify, or approve as a namesake</a>', url)

    def act_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(
                "Use the buttons on the signature's page.", status=405, content_type="text/plain"
            )
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        if action not in self.SINGLE_ACTIONS:
            return HttpResponseBadRequest("There is no such action.")
        signature = get_object_or_404(Signature, pk=object_id)
        if getattr(signature, action)(request.user):
            self.message_user(request, f"{self.SINGLE_ACTIONS[action]} “{signature}”.", messages.SUCCESS)
        else:
            message = f"“{signature}” is {signature.get_status_display().lower()}: nothing changed."
            self.message_user(request, message, messages.WARNING)
        return HttpResponseRedirect(self._change_url(signature.pk))

    # The buttons a signature's page may show, in order, as (label, action).
    BUTTONS = [
        ("Approve", "approve"),
        ("Approve and clear flags", "approve_clearing_flags"),
        ("Reject", "reject"),
        ("Unfeature", "unfeature"),
        ("Feature", "feature"),
    ]

    def signature_buttons(self, request, signature: Signature) -> list[tuple[str, str]]:
        """The actions the transition table allows this signature now. A watchlist hold or a
        second signature of one mailbox is published only through the Verify page."""
        if signature is None or not self.has_moderate_permission(request):
            return []
        allowed = Signature.objects.filter(pk=signature.pk).allowed_actions()
        if "approve" in allowed:
            allowed.discard("approve_clearing_flags")  # no flag to clear
        return [(label, action) for label, action in self.BUTTONS if action in allowed]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        signature = self.get_object(request, object_id)
        prefix = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        can_verify = signature is not None and signature.status in Signature.Status.MODERATABLE
        verify_url = reverse("admin:pledges_signature_verify", args=[object_id]) if can_verify else ""
        extra_context = {
            **(extra_context or {}),
            "signature_buttons": [
                (label, reverse(f"{prefix}_act", args=[object_id, action]))
                for label, action in self.signature_buttons(request, signature)
            ],
            "verify_url": verify_url if self.has_moderate_permission(request) and signature else "",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def verify_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Verify one signature as the person named (method and note), or approve a watchlist
        match as a namesake. Both are logged moderation events."""
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        signature = get_object_or_404(Signature.objects.select_related("watchlist_match"), pk=pk)
        verify_form, namesake_form = VerifyForm(), NamesakeForm()
        status = 200
        if request.method == "POST":
            if "namesake" in request.POST:
                namesake_form = NamesakeForm(request.POST)
                if namesake_form.is_valid():
                    done = signature.approve_as_namesake(
                        request.user, namesake_form.cleaned_data["namesake_note"]
                    )
                    return self._after_trust_action(request, signature, done, "Approved as a namesake")
            else:
                verify_form = VerifyForm(request.POST)
                if verify_form.is_valid():
                    data = verify_form.cleaned_data
                    done = signature.verify(request.user, data["method"], data["note"])
                    return self._after_trust_action(request, signature, done, "Verified")
            status = 400
        can_be_namesake = "approve_as_namesake" in Signature.objects.filter(pk=pk).allowed_actions()
        ctx = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Verify {signature}",
            "signature": signature,
            "flag_labels": [Signature.Flag(flag).label for flag in signature.flags],
            "verify_form": verify_form,
            "namesake_form": namesake_form,
            "can_be_namesake": can_be_namesake,
            "change_url": self._change_url(pk),
        }
        return TemplateResponse(request, "admin/pledges/signature/verify.html", ctx, status=status)

    def _after_trust_action(self, request, signature: Signature, done: bool, verb: str) -> HttpResponse:
        if done:
            self.message_user(request, f"{verb}: {signature}.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                f"{signature} is not in a state that allows it, and stayed as it was.",
                messages.WARNING,
            )
        return redirect(self._change_url(signature.pk))
