"""The signatures and their moderation queue. Status changes go through the actions
(pledges/admin/actions.py) and the change page's buttons (signature_page.py), never through a
form. Built for a million signatures: no full COUNT(*), no query per row."""

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.http import HttpResponseBadRequest
from django.utils.html import format_html, format_html_join

from pledges.admin import triage
from pledges.admin.actions import SIGNATURE_ACTIONS
from pledges.admin.common import CappedCountPaginator, ReadOnlyAdminMixin, has_nul
from pledges.admin.filters import (
    AddressFilter,
    CreditFilter,
    DomainFilter,
    FlagFilter,
    GuildFilter,
    VerifiedFilter,
    WatchlistFilter,
)
from pledges.admin.signature_export import SignatureExportMixin
from pledges.admin.signature_page import SignaturePageMixin
from pledges.lib.mailboxes import InvalidAddress, canonical_mailbox
from pledges.models import TRIAGE_ORDER, ModerationEvent, QueuedSignature, Signature

# A search for a common name finds tens of thousands at a million signatures; counting them
# means reading each, so a search counts up to here (ten pages), which is all anyone reads.
SEARCH_COUNT_CAP = 1_000


class SignatureChangeList(ChangeList):
    """Works out the triage reasons for the whole page at once (see pledges/admin/triage.py)."""

    def get_results(self, request):
        if getattr(request, "selection_only", False):
            # A bulk job rebuilding its selection (pledges/bulk.py) needs the queryset, not a page.
            self.result_list, self.result_count, self.full_result_count = [], 0, None
            self.show_full_result_count, self.show_admin_actions = False, False
            self.can_show_all, self.multi_page, self.paginator = False, False, None
            return
        super().get_results(request)
        self.result_list = list(self.result_list)
        reasons = triage.reasons_for(self.result_list)
        for signature in self.result_list:
            signature.triage_reasons = reasons.get(signature.pk, [])


class ModerationEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ModerationEvent
    verbose_name_plural = "moderation log"
    fields = readonly_fields = ["created_at", "action", "actor", "note"]
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Signature)
class SignatureAdmin(SignatureExportMixin, SignaturePageMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "full_name",
        "email",
        "profession",
        "guild_names",
        "credit",
        "status",
        "reasons",
        "verified_mark",
        "featured",
        "language",
        "created_at",
        "confirmed_at",
    ]
    list_filter = [
        "status",
        GuildFilter,
        "profession",
        FlagFilter,
        CreditFilter,
        AddressFilter,
        DomainFilter,
        WatchlistFilter,
        VerifiedFilter,
        "featured",
        "show_publicly",
        "language",
        ("created_at", admin.DateFieldListFilter),
        ("confirmed_at", admin.DateFieldListFilter),
    ]
    search_fields = ["full_name", "email"]
    search_help_text = "A name (any words, accents optional) or an exact email address."
    list_select_related = ["profession", "watchlist_match"]
    list_per_page = 100
    ordering = ["-created_at"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [ModerationEventInline]
    actions = SIGNATURE_ACTIONS
    fieldsets = [
        (
            None,
            {"fields": ["full_name", "email", "mailbox", "profession", "guild_names", "credit", "country"]},
        ),
        (
            "Moderation",
            {
                "fields": [
                    "status",
                    "flag_names",
                    "reasons",
                    "watched_name",
                    "watchlist_recheck",
                    "trust_actions",
                    "featured",
                    "show_publicly",
                    "updates_opt_in",
                ]
            },
        ),
        (
            "Verification",
            {
                "fields": [
                    "verified_at",
                    "verified_by",
                    "verification_method",
                    "verification_note",
                    "namesake",
                ]
            },
        ),
        (
            "Record",
            {
                "fields": [
                    "letter_version",
                    "language",
                    "created_at",
                    "confirmed_at",
                    "moderated_at",
                    "withdrawn_at",
                    "code",
                    "ip_hash",
                ]
            },
        ),
    ]

    change_form_template = "admin/pledges/signature/change_form.html"
    change_list_template = "admin/pledges/signature/change_list.html"
    count_noun = ("signature", "signatures")  # the queue's verbose name is not a count's

    def get_changelist(self, request, **kwargs):
        return SignatureChangeList

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("guilds")

    def get_readonly_fields(self, request, obj=None):
        # Status changes go through the actions (conditional, logged), never through a form.
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm("pledges.moderate_signature")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Erasure is the signer's withdrawal; deleting outright is for a superuser alone.
        return request.user.is_active and request.user.is_superuser

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # withdrawal, not deletion, is how a signature goes
        return actions

    @admin.display(description="why it waits")
    def reasons(self, signature: Signature) -> str:
        reasons = getattr(signature, "triage_reasons", None)
        if reasons is None:  # the change page
            reasons = triage.reasons_for([signature]).get(signature.pk, [])
        if not reasons:
            return (
                "Notable: has a credit"
                if signature.credit and signature.status == Signature.Status.CONFIRMED
                else ""
            )
        return format_html_join(
            "",
            "<div>{}</div>",
            ((format_html('<a href="{}">{}</a>', r.url, r.text) if r.url else r.text,) for r in reasons),
        )

    @admin.display(description="guilds")
    def guild_names(self, signature: Signature) -> str:
        return ", ".join(guild.name for guild in signature.guilds.all())

    @admin.display(description="flags")
    def flag_names(self, signature: Signature) -> str:
        return ", ".join(Signature.Flag(flag).label for flag in signature.flags)

    @admin.display(description="matches watched name")
    def watched_name(self, signature: Signature) -> str:
        return signature.watchlist_match.name if signature.watchlist_match else ""

    @admin.display(description="verified", boolean=True)
    def verified_mark(self, signature: Signature) -> bool:
        return signature.is_verified

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        if request.GET.get(SEARCH_VAR, "").strip():
            paginator.count_cap = SEARCH_COUNT_CAP
        return paginator

    def get_search_results(self, request, queryset, search_term):
        """An address, in any spelling of its mailbox: the unique index on the mailbox; otherwise
        name words, through the same full-text index as the public list (a LIKE '%…%' would
        read every row)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            try:
                return queryset.filter(mailbox=canonical_mailbox(term)), False
            except InvalidAddress:
                return queryset.none(), False
        return queryset.name_matches(term), False

    def changelist_view(self, request, extra_context=None):
        if has_nul(request):
            return HttpResponseBadRequest("Filters and searches cannot contain NUL characters.")
        extra_context = {
            **(extra_context or {}),
            "has_export_permission": self.has_export_permission(request),
            "export_url": self.export_url(request),
        }
        return super().changelist_view(request, extra_context)


@admin.register(QueuedSignature)
class QueuedSignatureAdmin(SignatureAdmin):
    """The moderation queue: confirmed, not yet moderated, oldest first."""

    list_filter = [f for f in SignatureAdmin.list_filter if f != "status"]
    # What a person needs to decide, reasons first; the address and the rest are on its page.
    list_display = ["full_name", "reasons", "credit", "profession", "confirmed_at"]
    ordering = TRIAGE_ORDER
    change_form_template = "admin/pledges/signature/change_form.html"
    change_list_template = "admin/pledges/queuedsignature/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).moderation_queue()

    def changelist_view(self, request, extra_context=None):
        title = "Moderation queue: flagged first, then notable, then the rest"
        return super().changelist_view(request, {"title": title, **(extra_context or {})})


@admin.register(ModerationEvent)
class ModerationEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "signature", "note"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["actor", "signature"]
    paginator = CappedCountPaginator
    show_full_result_count = False
