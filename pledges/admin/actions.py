"""The signature changelists' actions. Each calls a Signature method or the queryset's set-based
update (or, to resend the confirmation, pledges.signing), whose transition is conditional, so
double clicks and two moderators at once are harmless; a large "select all" becomes a background
job (pledges/bulk.py) that the worker runs."""

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from pledges import bulk, signing
from pledges.admin.common import report
from pledges.models import Signature


def _too_many_for_a_request(request, queryset) -> bool:
    limit = settings.BULK_IN_REQUEST_MAX
    across = request.POST.get("select_across") == "1"
    return across and queryset.order_by()[: limit + 1].count() > limit


def moderation_action(method: str, verb: str, description: str):
    """An admin action: a set-based conditional update (SignatureQuerySet.moderate) for a page
    or a small "select all", a background job (pledges/bulk.py) for a large one."""

    @admin.action(description=description, permissions=["moderate"])
    def action(modeladmin, request, queryset):
        if _too_many_for_a_request(request, queryset):
            return start_job(modeladmin, request, method)
        if method == "resend_confirmation":
            signatures = list(queryset.order_by("pk"))
            changed = sum(signing.resend_confirmation(signature, request.user) for signature in signatures)
            total = len(signatures)
        else:
            total = queryset.order_by().count()
            changed = len(queryset.moderate(method, request.user))
        report(modeladmin, request, verb, changed, total)

    action.__name__ = method
    return action


@admin.action(
    description="Feature the selected signatures (verified, with a credit)", permissions=["moderate"]
)
def feature(modeladmin, request, queryset):
    """Like the other actions, and says why a name could not be featured: a featured name must
    be verified as the person named (signature_featured_is_verified) and carry a credit
    (signature_featured_has_credit), so that it can be quoted."""
    if _too_many_for_a_request(request, queryset):
        return start_job(modeladmin, request, "feature")
    signatures = list(queryset.order_by("pk"))
    changed = sum(signature.feature(request.user) for signature in signatures)
    unverified = [s for s in signatures if s.status == Signature.Status.APPROVED and not s.is_verified]
    if unverified:
        names = ", ".join(s.full_name for s in unverified[:10]) + ("…" if len(unverified) > 10 else "")
        modeladmin.message_user(
            request,
            f"Not featured, because only a verified signatory can be featured and these are not: {names}.",
            messages.ERROR,
        )
    without_credit = [
        s for s in signatures if s.status == Signature.Status.APPROVED and s.is_verified and not s.credit
    ]
    if without_credit:
        names = ", ".join(s.full_name for s in without_credit[:10]) + (
            "…" if len(without_credit) > 10 else ""
        )
        modeladmin.message_user(
            request,
            f"Not featured, because a featured name must show a credit (a notable credit, company or "
            f"channel) and these have none: {names}.",
            messages.ERROR,
        )
    report(modeladmin, request, "Featured", changed, len(signatures))


SIGNATURE_ACTIONS = [
    moderation_action("approve", "Approved", "Approve the selected signatures (those without flags)"),
    moderation_action(
        "approve_clearing_flags",
        "Approved, clearing their flags,",
        "Approve and clear flags (not watchlist holds or duplicate mailboxes)",
    ),
    moderation_action("reject", "Rejected", "Reject the selected signatures"),
    feature,
    moderation_action("unfeature", "Unfeatured", "Stop featuring the selected signatures"),
    moderation_action(
        "resend_confirmation",
        "Resent the confirmation email to",
        "Resend the confirmation email (pending only)",
    ),
]


def describe_selection(modeladmin, request) -> str:
    """The selection in words, from the changelist's own filters: "Moderation queue; flags: No flag"."""
    changelist = modeladmin.get_changelist_instance(request)
    parts = [str(modeladmin.opts.verbose_name_plural).capitalize()]
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            if choice.get("selected") and choice.get("query_string") != changelist.get_query_string(
                remove=spec.expected_parameters()
            ):
                parts.append(f"{spec.title}: {choice['display']}")
    if changelist.query:
        parts.append(f"search: “{changelist.query}”")
    return "; ".join(parts)


def start_job(modeladmin, request, method: str) -> HttpResponseRedirect:
    query = bulk.selection_query(request)
    description = describe_selection(modeladmin, request)
    job = bulk.start_job(
        action=method,
        changelist=modeladmin.opts.label_lower,
        query=query,
        description=description,
        by=request.user,
    )
    message = format_html(
        '{} runs in the background: <a href="{}">follow its progress</a>.',
        job,
        reverse("admin:pledges_bulkmoderationjob_change", args=[job.pk]),
    )
    modeladmin.message_user(request, message, messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:pledges_bulkmoderationjob_change", args=[job.pk]))
