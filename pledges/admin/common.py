"""What several admin screens share: the capped count, the NUL check, the permission mixins and
the message after a moderation action."""

from functools import cached_property

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest

NOTE_INVISIBLE = "The note contains invisible or control characters. Please type it plainly."


def has_nul(request: HttpRequest) -> bool:
    # PostgreSQL refuses NUL in text; a filter or search carrying one would otherwise be a 500.
    return any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values)


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


class ReadOnlyAdminMixin:
    """Rows the code writes (signatures, their log, jobs, submissions): staff read them here and
    change them only through actions and buttons, which are conditional and logged. An admin that
    lets some staff delete a row says so by overriding has_delete_permission."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OneRowAdminMixin:
    """The one row comes from a migration; staff edit it and can neither add nor delete one."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def report(modeladmin, request, verb: str, changed: int, total: int) -> None:
    skipped = total - changed
    message = f"{verb} {changed} of {total} signature{'s' if total != 1 else ''}."
    if skipped:
        were = "was" if skipped == 1 else "were"
        flagged = "flagged or " if verb == "Approved" else ""
        message += f" {skipped} {were} {flagged}not in a state that allows it, and stayed as they were."
    modeladmin.message_user(request, message, messages.SUCCESS if not skipped else messages.WARNING)
