"""Watched names: a signature whose name matches one is held for a person to look at."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from pledges.models import WatchedName


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
