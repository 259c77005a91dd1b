"""The figures on the admin index (templates/admin/index.html, through the moderation_dashboard
tag in pledges/templatetags/staff.py)."""

import typing
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from pledges.models import OutgoingEmail, Signature

DASHBOARD_COUNT_CAP = 10_000


class Figure(typing.NamedTuple):
    label: str
    count: int
    url: str = ""
    warn: bool = False

    @property
    def shown(self) -> str:
        return f"more than {DASHBOARD_COUNT_CAP:,}" if self.count > DASHBOARD_COUNT_CAP else f"{self.count:,}"


def _capped(queryset) -> int:
    return queryset.order_by().values("pk")[: DASHBOARD_COUNT_CAP + 1].count()


def dashboard_figures() -> list[Figure]:
    """What the admin index shows so that staff see a spike coming: the queue by reason,
    signatures in the last hour, the outbox backlog and failed emails. Every count stops at
    DASHBOARD_COUNT_CAP, over an index, so the page costs the same at a million rows."""
    queue = Signature.objects.moderation_queue()
    url = reverse("admin:pledges_queuedsignature_changelist")
    figures = [
        Figure(
            f"Queue: {label[0].lower()}{label[1:]}",
            _capped(queue.filter(flags__contains=[flag])),
            f"{url}?flag={flag}",
        )
        for flag, label in Signature.Flag.choices
    ]
    figures += [
        Figure(
            "Queue: notable (has a credit, no flag)",
            _capped(queue.filter(flags=[]).exclude(credit="")),
            f"{url}?flag=none&credit=yes",
        ),
        Figure("Queue: the rest", _capped(queue.filter(flags=[], credit="")), f"{url}?flag=none&credit=no"),
        Figure(
            "Signatures in the last hour",
            _capped(Signature.objects.filter(created_at__gte=timezone.now() - timedelta(hours=1))),
        ),
    ]
    backlog = _capped(OutgoingEmail.objects.due())
    failed = _capped(OutgoingEmail.objects.filter(failed_at__isnull=False))
    figures += [
        Figure("Emails waiting to be sent", backlog, warn=backlog >= 1000),
        Figure("Emails that failed", failed, warn=failed > 0),
    ]
    return figures
