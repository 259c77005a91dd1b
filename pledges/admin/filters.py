"""The changelists' sidebar filters beyond plain fields."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q

from pledges.models import EMAIL_DOMAIN, Guild, Signature


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
