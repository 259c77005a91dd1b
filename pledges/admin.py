"""Moderation in Django admin. Every action calls a Signature method (or, to resend the
confirmation, pledges.signing) whose transition is conditional, so double clicks and two
moderators at once are harmless; the rules stay out of the admin. Built for a million
signatures: no full COUNT(*), no query per row."""

from functools import cached_property

from csp.decorators import csp_replace
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.views.decorators.clickjacking import xframe_options_sameorigin

from pledges import bulk, emails, signing, triage, updates
from pledges.forms import clean_text
from pledges.lib.exports import csv_lines
from pledges.lib.mailboxes import InvalidAddress, canonical_mailbox
from pledges.models import (
    EMAIL_DOMAIN,
    TRANSLATION_LANGUAGES,
    TRIAGE_ORDER,
    AboutPage,
    BulkModerationJob,
    Guild,
    LetterTranslation,
    LetterVersion,
    ModerationEvent,
    Profession,
    QueuedSignature,
    Signature,
    SigningStatus,
    Submission,
    Update,
    WatchedName,
)

admin.site.site_header = "Creators Coalition on AI: staff"
admin.site.site_title = "CCAI staff"


def _has_nul(request: HttpRequest) -> bool:
    # PostgreSQL refuses NUL in text; a filter or search carrying one would otherwise be a 500.
    return any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values)


NOTE_INVISIBLE = "The note contains invisible or control characters. Please type it plainly."


class CappedCountPaginator(Paginator):
    """Counts at most count_cap + 1 rows (COUNT over a LIMIT subquery): counting a million rows
    on every page load is what makes a big changelist slow, and nobody pages past a hundred."""

    count_cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.count_cap + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count > self.count_cap


# A search for a common name finds tens of thousands at a million signatures; counting them
# means reading each, so a search counts up to here (ten pages), which is all anyone reads.
SEARCH_COUNT_CAP = 1_000


class FlagFilter(admin.SimpleListFilter):
    title = "flags"
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [("any", "Any flag"), ("none", "No flag"), *Signature.Flag.choices]

    def queryset(self, request, queryset):
        if self.value() == "any":
            return queryset.filter(~Q(flags=[]))
        if self.value() == "none":
            return queryset.filter(flags=[])
        if self.value() in Signature.Flag.values:
            return queryset.filter(flags__contains=[self.value()])
        return queryset


class CreditFilter(admin.SimpleListFilter):
    title = "credit"
    parameter_name = "credit"

    def lookups(self, request, model_admin):
        return [("yes", "Has a credit"), ("no", "No credit")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(credit="")
        if self.value() == "no":
            return queryset.filter(credit="")
        return queryset


class _ExactValueFilter(admin.SimpleListFilter):
    """A filter reached from a link (a burst's siblings), shown in the sidebar only while on:
    a SimpleListFilter without choices would be dropped, and its rows silently shown unfiltered."""

    def lookups(self, request, model_admin):
        return [(self.value(), self.describe(self.value()))] if self.value() else []

    def describe(self, value: str) -> str:
        return value


class AddressFilter(_ExactValueFilter):
    title = "internet address"
    parameter_name = "ip"

    def describe(self, value: str) -> str:
        return f"the one of this burst ({value[:8]}…)"

    def queryset(self, request, queryset):
        return queryset.filter(ip_hash=self.value()) if self.value() else queryset


class DomainFilter(_ExactValueFilter):
    title = "email domain"
    parameter_name = "domain"

    def describe(self, value: str) -> str:
        return f"@{value}"

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.alias(domain=EMAIL_DOMAIN).filter(domain=self.value().lower())


class VerifiedFilter(admin.SimpleListFilter):
    title = "verified"
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return [("yes", "Verified"), ("no", "Not verified"), ("namesake", "Approved as a namesake")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(verified_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(verified_at__isnull=True)
        if self.value() == "namesake":
            return queryset.filter(namesake=True)
        return queryset


class WatchlistFilter(admin.SimpleListFilter):
    title = "watchlist"
    parameter_name = "watchlist"

    def lookups(self, request, model_admin):
        return [
            ("held", "Held: matches a watched name"),
            ("recheck", "Recheck: approved before a watched name matched it"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "held":
            return queryset.filter(
                status=Signature.Status.CONFIRMED, flags__contains=[Signature.Flag.WATCHLIST]
            )
        if self.value() == "recheck":
            return queryset.filter(watchlist_recheck=True)
        return queryset


class GuildFilter(admin.SimpleListFilter):
    """EXISTS rather than a join, so that the changelist needs no DISTINCT over a million rows."""

    title = "guild"
    parameter_name = "guild"

    def lookups(self, request, model_admin):
        return [(guild.slug, guild.name) for guild in Guild.objects.all()]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # The guild's id as a constant (not a join on its slug) lets the planner see how common it is.
        guild = Guild.objects.filter(slug=self.value()).first()
        if guild is None:
            return queryset.none()
        memberships = Signature.guilds.through.objects.filter(signature=OuterRef("pk"), guild=guild)
        return queryset.filter(Exists(memberships))


class ModerationEventInline(admin.TabularInline):
    model = ModerationEvent
    verbose_name_plural = "moderation log"
    fields = readonly_fields = ["created_at", "action", "actor", "note"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


def _report(modeladmin, request, verb: str, changed: int, total: int) -> None:
    skipped = total - changed
    message = f"{verb} {changed} of {total} signature{'s' if total != 1 else ''}."
    if skipped:
        were = "was" if skipped == 1 else "were"
        flagged = "flagged or " if verb == "Approved" else ""
        message += f" {skipped} {were} {flagged}not in a state that allows it, and stayed as they were."
    modeladmin.message_user(request, message, messages.SUCCESS if not skipped else messages.WARNING)


def _moderation_action(method: str, verb: str, description: str):
    """An admin action: a set-based conditional update (SignatureQuerySet.moderate) for a page
    or a small "select all", a background job (pledges/bulk.py) for a large one."""

    @admin.action(description=description, permissions=["moderate"])
    def action(modeladmin, request, queryset):
        limit = settings.BULK_IN_REQUEST_MAX
        across = request.POST.get("select_across") == "1"
        if across and queryset.order_by()[: limit + 1].count() > limit:
            return _start_job(modeladmin, request, method)
        if method == "resend_confirmation":
            signatures = list(queryset.order_by("pk"))
            changed = sum(signing.resend_confirmation(signature, request.user) for signature in signatures)
            total = len(signatures)
        else:
            total = queryset.order_by().count()
            changed = len(queryset.moderate(method, request.user))
        _report(modeladmin, request, verb, changed, total)

    action.__name__ = method
    return action


def _describe_selection(modeladmin, request) -> str:
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


def _start_job(modeladmin, request, method: str) -> HttpResponseRedirect:
    query = bulk.selection_query(request)
    description = _describe_selection(modeladmin, request)
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


class SignatureChangeList(ChangeList):
    """Works out the triage reasons for the whole page at once (see pledges/triage.py)."""

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


@admin.action(
    description="Feature the selected signatures (verified, with a credit)", permissions=["moderate"]
)
def feature(modeladmin, request, queryset):
    """Like the other actions, and says why a name could not be featured: a featured name must
    be verified as the person named (signature_featured_is_verified) and carry a credit
    (signature_featured_has_credit), so that it can be quoted."""
    limit = settings.BULK_IN_REQUEST_MAX
    if request.POST.get("select_across") == "1" and queryset.order_by()[: limit + 1].count() > limit:
        return _start_job(modeladmin, request, "feature")
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
    _report(modeladmin, request, "Featured", changed, len(signatures))


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


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
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
    actions = [
        _moderation_action("approve", "Approved", "Approve the selected signatures (those without flags)"),
        _moderation_action(
            "approve_clearing_flags",
            "Approved, clearing their flags,",
            "Approve and clear flags (not watchlist holds or duplicate mailboxes)",
        ),
        _moderation_action("reject", "Rejected", "Reject the selected signatures"),
        feature,
        _moderation_action("unfeature", "Unfeatured", "Stop featuring the selected signatures"),
        _moderation_action(
            "resend_confirmation",
            "Resent the confirmation email to",
            "Resend the confirmation email (pending only)",
        ),
    ]
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

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm("pledges.moderate_signature")

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("pledges.export_signature")

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
            return "Notable: has a credit" if signature.credit and signature.status == "confirmed" else ""
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

    @admin.display(description="verify")
    def trust_actions(self, signature: Signature) -> str:
        if signature.status in (Signature.Status.PENDING, Signature.Status.WITHDRAWN):
            return "Only a confirmed signature can be verified."
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_verify", args=[signature.pk])
        return format_html('<a class="button" href="{}">Verify, or approve as a namesake</a>', url)

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

    # The CSV export of what the changelist shows, with its filters and search.
    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        export = path("export/", self.admin_site.admin_view(self.export_view), name=f"{prefix}_export")
        act = path(
            "<int:object_id>/act/<str:action>/",
            self.admin_site.admin_view(self.act_view),
            name=f"{prefix}_act",
        )
        verify = path(
            "<int:pk>/verify/", self.admin_site.admin_view(self.verify_view), name=f"{prefix}_verify"
        )
        return [export, act, verify, *super().get_urls()]

    # The buttons on a signature's page: the model methods of TRANSITIONS' rows, as the bulk
    # actions apply the same rows.
    SINGLE_ACTIONS = {
        "approve": "Approved",
        "approve_clearing_flags": "Approved, clearing its flags,",
        "reject": "Rejected",
        "feature": "Featured",
        "unfeature": "Unfeatured",
    }

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
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[signature.pk])
        )

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
            "change_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[pk]),
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
        return redirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[signature.pk])
        )

    def changelist_view(self, request, extra_context=None):
        if _has_nul(request):
            return HttpResponseBadRequest("Filters and searches cannot contain NUL characters.")
        query = request.GET.urlencode()
        export_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_export")
        export_url += f"?{query}" if query else ""
        extra_context = {
            **(extra_context or {}),
            "has_export_permission": self.has_export_permission(request),
            "export_url": export_url,
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_export_permission(request):
            return HttpResponse("You may not export signatures.", status=403, content_type="text/plain")
        if _has_nul(request):
            return HttpResponseBadRequest("Filters and searches cannot contain NUL characters.")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponse("Those filters do not work.", status=400, content_type="text/plain")
        signatures = changelist.get_queryset(request).select_related("profession").prefetch_related("guilds")
        header = [
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
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        filename = f"signatures-{timezone.now():%Y%m%d-%H%M}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


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
class ModerationEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "signature", "note"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["actor", "signature"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SubmissionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting for the worker"), ("failed", "The worker could not sign it")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.waiting()
        if self.value() == "failed":
            return queryset.failed()
        return queryset


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    """The sign forms the worker has not signed yet: normally none for more than a second or two.
    One it could not sign stays here with the error (also in the log) until staff try it again,
    once the cause is fixed, or delete it."""

    list_display = ["received_at", "full_name", "email", "error"]
    list_filter = [SubmissionStateFilter]
    actions = ["try_again"]
    paginator = CappedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Try the selected submissions again", permissions=["delete"])
    def try_again(self, request, queryset):
        count = queryset.failed().update(error="")
        self.message_user(request, f"{count} submission(s) will be signed by the worker on its next turn.")


@admin.register(BulkModerationJob)
class BulkModerationJobAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

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


@admin.register(WatchedName)
class WatchedNameAdmin(admin.ModelAdmin):
    list_display = ["name", "note", "added_by", "created_at"]
    search_fields = ["name", "note"]
    fields = ["name", "note"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)
        held, recheck = obj.apply_to_signatures()
        if held or recheck:
            changelist = reverse("admin:pledges_signature_changelist")
            self.message_user(
                request,
                format_html(
                    "{} matches the signatures already made: {} held for review, {} approved ones "
                    '<a href="{}?watchlist=recheck">to recheck</a>.',
                    obj.name,
                    held,
                    recheck,
                    changelist,
                ),
                messages.WARNING,
            )


class LetterTranslationInline(admin.StackedInline):
    model = LetterTranslation
    fields = ["language", "title", "summary", "body"]
    extra = 0
    max_num = len(TRANSLATION_LANGUAGES)


@admin.register(LetterVersion)
class LetterVersionAdmin(admin.ModelAdmin):
    """Saving an edited letter makes a new version; the old one stays with its signatures.
    Translations belong to a version: a new version starts with those edited in the same save."""

    list_display = ["title", "is_current", "signed", "translated_into", "created_at", "created_by"]
    fields = ["title", "summary", "body"]
    list_select_related = ["created_by"]
    inlines = [LetterTranslationInline]

    @admin.display(description="translations")
    def translated_into(self, obj: LetterVersion) -> str:
        return (
            ", ".join(str(translation.get_language_display()) for translation in obj.translations.all())
            or "—"
        )

    def get_queryset(self, request):
        # One grouped count over the letter_version index for the page (versions are few).
        current = LetterVersion.objects.order_by("-created_at", "-pk").values("pk")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(signature_count=Count("signatures"), current_pk=Subquery(current))
            .prefetch_related("translations")
        )

    @admin.display(description="current", boolean=True)
    def is_current(self, version: LetterVersion) -> bool:
        return version.pk == version.current_pk

    @admin.display(description="signed")
    def signed(self, version: LetterVersion) -> str:
        return f"{version.signature_count:,}"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.save()
            return
        original = LetterVersion.objects.get(pk=obj.pk)
        revised = original.revise(title=obj.title, summary=obj.summary, body=obj.body, by=request.user)
        if revised.pk != original.pk:
            obj.revised_from = original
        obj.pk, obj.created_at, obj.created_by = revised.pk, revised.created_at, revised.created_by

    def save_formset(self, request, form, formset, change):
        revised_from = getattr(form.instance, "revised_from", None)
        if formset.model is not LetterTranslation or revised_from is None:
            return super().save_formset(request, form, formset, change)
        # The English changed, so this save made a new version. A translation edited in the same
        # save translates the new text and goes with it; the others stay with the old version,
        # which they translate, and the new one shows English to their readers until staff add them.
        carried = []
        for translated in formset.save(commit=False):
            LetterTranslation.objects.create(
                letter_version=form.instance,
                language=translated.language,
                title=translated.title,
                summary=translated.summary,
                body=translated.body,
            )
            carried.append(str(translated.get_language_display()))
        left = sorted({str(t.get_language_display()) for t in revised_from.translations.all()} - set(carried))
        if left:
            self.message_user(
                request,
                f"The letter changed, so this is a new version. Its translations into {', '.join(left)} "
                "were not carried over: they translate the previous text. Add them to this version.",
                messages.WARNING,
            )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SigningStatus)
class SigningStatusAdmin(admin.ModelAdmin):
    list_display = ["__str__", "publication", "message", "changed_at", "changed_by"]
    fields = ["paused", "message", "publication"]
    radio_fields = {"publication": admin.VERTICAL}

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        obj.changed_at, obj.changed_by = timezone.now(), request.user
        super().save_model(request, obj, form, change)
        if "publication" in form.changed_data and obj.publishes_at_once:
            job = bulk.publish_waiting_queue(request.user)
            url = reverse("admin:pledges_bulkmoderationjob_change", args=[job.pk])
            message = format_html(
                'The unflagged signatures in the queue are being published: <a href="{}">progress</a>.',
                url,
            )
            self.message_user(request, message, messages.SUCCESS)


@admin.register(AboutPage)
class AboutPageAdmin(admin.ModelAdmin):
    """What /about/ says, and the contacts that /privacy/ and /press/ show."""

    list_display = ["__str__", "contact_email", "press_email", "changed_at", "changed_by"]
    fieldsets = [
        ("Who is behind the letter", {"fields": ["coalition", "organisers"]}),
        ("Contacts", {"fields": ["contact_email", "press_contact", "press_email", "press_phone"]}),
        ("Privacy notice", {"fields": ["data_controller", "postal_address"]}),
    ]

    # The one row comes from a migration; staff edit it and can neither add nor delete one.
    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        obj.changed_at, obj.changed_by = timezone.now(), request.user
        super().save_model(request, obj, form, change)


@admin.register(Guild, Profession)
class ChoiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


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
