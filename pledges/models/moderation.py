"""Moderation: its rules (TRANSITIONS, one table of what each action may change and how), its
record (ModerationEvent: who did what to a signature), the bulk jobs the worker runs for large
selections, and the moderation queue's triage order."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import nonmember

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, ExpressionWrapper, F, Q, Value, When
from django.utils import timezone

from pledges.models.enums import ModerationAction, SignatureFlag, SignatureStatus, SignatureVerificationMethod

# The queue's triage order (flagged, then with a credit, then the rest; false sorts first);
# signature_triage indexes it.
TRIAGE_ORDER = [
    models.expressions.RawSQL("pledges_signature.flags = '{}'", []).asc(),
    models.expressions.RawSQL("pledges_signature.credit = ''", []).asc(),
    F("confirmed_at").asc(),
    F("id").asc(),
]

# Moderation's rules, one table. Each action's row says which signatures it may change (one
# condition on the row, which the conditional UPDATE re-checks, so that a double click or two
# moderators at once change a row once), what it changes (given the time, the moderator and the
# action's details) and the ModerationEvent it records. The Signature methods of the same names,
# SignatureQuerySet.moderate() (the admin's actions and the bulk jobs), the per-action querysets
# (routinely_approvable(), …) and the admin's buttons (allowed_actions()) all read it.


def _no_note(flags, **details) -> str:
    return ""


@dataclass(frozen=True)
class Transition:
    allowed: Q
    # (now, by, **details) -> the field updates; a value may be an expression on the row.
    changes: Callable[..., dict]
    # The ModerationEvent action recorded for each row changed; None records none.
    event: str | None = None
    # (the row's flags before the change, **details) -> the event's note.
    note: Callable[..., str] = _no_note


def _verification_note(flags, *, method: str, note: str = "") -> str:
    label = SignatureVerificationMethod(method).label
    return f"{label}: {note}" if note else label


S, Flag = SignatureStatus, SignatureFlag

# What a rejection withdraws of any earlier decision in the signature's favour.
_UNTRUSTED = {
    "featured": False,
    "namesake": False,
    "watchlist_recheck": False,
    "verified_at": None,
    "verified_by": None,
    "verification_method": "",
    "verification_note": "",
}

TRANSITIONS = {
    # The signer confirms their email. Under the automatic publication policy an unflagged
    # signature is published at once (publish_at_once), else it waits for a moderator (confirm).
    "publish_at_once": Transition(
        allowed=Q(status=S.PENDING, flags=[]),
        changes=lambda now, by: {"status": S.APPROVED, "confirmed_at": now, "moderated_at": now},
        event=ModerationAction.PUBLISH_AT_ONCE,
    ),
    "confirm": Transition(
        allowed=Q(status=S.PENDING),
        changes=lambda now, by: {"status": S.CONFIRMED, "confirmed_at": now},
    ),
    # A routine approval publishes only a signature without flags: a flag is a reason for a
    # person to look.
    "approve": Transition(
        allowed=Q(status__in=S.APPROVABLE, flags=[]),
        changes=lambda now, by: {"status": S.APPROVED, "moderated_at": now},
        event=ModerationAction.APPROVE,
    ),
    # Any flag but those only a person deciding who it is may clear.
    "approve_clearing_flags": Transition(
        allowed=Q(status__in=S.APPROVABLE) & ~Q(flags__overlap=Flag.DECIDED_BY_A_PERSON),
        changes=lambda now, by: {"status": S.APPROVED, "flags": [], "moderated_at": now},
        event=ModerationAction.APPROVE_CLEARING_FLAGS,
        note=lambda flags: f"Cleared: {', '.join(flags)}" if flags else "",
    ),
    # A watchlist match published as someone else who shares the name: listed without the
    # Verified mark, so that nobody takes it for the famous one.
    "approve_as_namesake": Transition(
        allowed=Q(status__in=S.MODERATABLE)
        & (Q(flags__contains=[Flag.WATCHLIST]) | Q(watchlist_recheck=True))
        & Q(verified_at__isnull=True, namesake=False)
        & ~Q(flags__contains=[Flag.DUPLICATE_MAILBOX]),
        changes=lambda now, by, note="": {
            "status": S.APPROVED,
            "namesake": True,
            "watchlist_recheck": False,
            "moderated_at": now,
        },
        event=ModerationAction.APPROVE_NAMESAKE,
        note=lambda flags, note="": note,
    ),
    # Staff have checked that the person named signed (how: `method`); this also approves, and
    # keeps the time of an earlier approval.
    "verify": Transition(
        allowed=Q(status__in=S.MODERATABLE, verified_at__isnull=True)
        & ~Q(flags__contains=[Flag.DUPLICATE_MAILBOX]),
        changes=lambda now, by, method, note="": {
            "status": S.APPROVED,
            "verified_at": now,
            "verified_by": by,
            "verification_method": method,
            "verification_note": note,
            "namesake": False,
            "watchlist_recheck": False,
            "moderated_at": Case(When(status=S.APPROVED, then=F("moderated_at")), default=Value(now)),
        },
        event=ModerationAction.VERIFY,
        note=_verification_note,
    ),
    "reject": Transition(
        allowed=Q(status__in=S.COUNTABLE),
        changes=lambda now, by: {"status": S.REJECTED, **_UNTRUSTED, "moderated_at": now},
        event=ModerationAction.REJECT,
    ),
    # Only a verified, approved signature with a credit (signature_featured_is_verified,
    # signature_featured_has_credit): a journalist can quote it.
    "feature": Transition(
        allowed=Q(status=S.APPROVED, featured=False, verified_at__isnull=False) & ~Q(credit=""),
        changes=lambda now, by: {"featured": True},
        event=ModerationAction.FEATURE,
    ),
    "unfeature": Transition(
        allowed=Q(status=S.APPROVED, featured=True),
        changes=lambda now, by: {"featured": False},
        event=ModerationAction.UNFEATURE,
    ),
    # The signer withdraws: everything that could name them is erased (signature_withdrawn_is_erased),
    # keeping only what the count history needs (when it was created, confirmed and withdrawn,
    # and the profession).
    "withdraw": Transition(
        allowed=Q(status__in=S.WITHDRAWABLE),
        changes=lambda now, by: {
            "status": S.WITHDRAWN,
            "withdrawn_at": now,
            "full_name": "",
            "email": None,
            "mailbox": None,
            "name_keys": [],
            "watchlist_match": None,
            "watchlist_recheck": False,
            "namesake": False,
            "verified_at": None,
            "verified_by": None,
            "verification_method": "",
            "verification_note": "",
            "credit": "",
            "country": "",
            "ip_hash": "",
            "show_publicly": False,
            "featured": False,
            "flags": [],
        },
    ),
}


class ModerationQuerySet(models.QuerySet):
    """Moderation's queries, for SignatureQuerySet: the queue, and the table's rows applied to a
    selection."""

    def moderation_queue(self):
        """Confirmed and not yet moderated, oldest first."""
        return self.filter(status=SignatureStatus.CONFIRMED).order_by("confirmed_at", "pk")

    def triaged(self):
        """In the order a person should read them: flagged first, then notable (with a credit),
        then the rest, each oldest first; signature_triage indexes it within the queue."""
        return self.order_by(*TRIAGE_ORDER)

    # The rows each action may change, as TRANSITIONS says.
    def routinely_approvable(self):
        return self.filter(TRANSITIONS["approve"].allowed)

    def flags_clearable(self):
        return self.filter(TRANSITIONS["approve_clearing_flags"].allowed)

    def rejectable(self):
        return self.filter(TRANSITIONS["reject"].allowed)

    def featurable(self):
        return self.filter(TRANSITIONS["feature"].allowed)

    def unfeaturable(self):
        return self.filter(TRANSITIONS["unfeature"].allowed)

    def moderate(self, action: str, by, job=None, **details) -> list[int]:
        """Apply TRANSITIONS[action] to these rows as one conditional update (only rows still in a
        state that allows it change, so running it twice changes nothing the second time), with
        one ModerationEvent per row changed. Returns the ids changed."""
        transition = TRANSITIONS[action]
        now = timezone.now()
        with transaction.atomic():
            # Locking re-checks the condition against rows a concurrent transaction just changed.
            rows = self.order_by().filter(transition.allowed).select_for_update(of=("self",))
            found = list(rows.values_list("pk", "flags"))
            ids = [pk for pk, _ in found]
            if ids:
                self.model.objects.filter(pk__in=ids).update(**transition.changes(now, by, **details))
            if ids and transition.event:
                ModerationEvent.objects.bulk_create(
                    ModerationEvent(
                        signature_id=pk,
                        action=transition.event,
                        actor=by,
                        job=job,
                        created_at=now,
                        note=transition.note(flags, **details),
                    )
                    for pk, flags in found
                )
        return ids

    def allowed_actions(self) -> set[str]:
        """The actions TRANSITIONS allows the first of these rows now, in one query: what a
        signature's page offers."""
        allowed = {
            f"may_{action}": ExpressionWrapper(transition.allowed, output_field=models.BooleanField())
            for action, transition in TRANSITIONS.items()
        }
        row = self.order_by().values(**allowed).first() or {}
        return {name.removeprefix("may_") for name, may in row.items() if may}


class ModerationEvent(models.Model):
    """Who did what to a signature, and when. Kept after withdrawal: it holds no personal data."""

    Action = ModerationAction

    signature = models.ForeignKey("Signature", on_delete=models.CASCADE, related_name="moderation_events")
    action = models.CharField(max_length=30, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set when a bulk job made the change, so that the job's log lists every row it changed.
    job = models.ForeignKey(
        "BulkModerationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    note = models.CharField(max_length=600, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=ModerationAction.values),
                name="moderation_event_action_valid",
            )
        ]
        indexes = [models.Index(fields=["signature", "created_at"], name="moderation_event_signature")]

    def __str__(self) -> str:
        if self.action == self.Action.PUBLISH_AT_ONCE:
            return f"{self.get_action_display()} at {self.created_at:%Y-%m-%d %H:%M}"
        actor = self.actor or "a deleted user"
        return f"{self.get_action_display()} by {actor} at {self.created_at:%Y-%m-%d %H:%M}"


# BulkModerationJob.State and .Action, out here so that its Meta can name them.
class BulkJobState(models.TextChoices):
    QUEUED = "queued", "Waiting for the worker"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"

    UNFINISHED = nonmember(("queued", "running"))
    FINISHED = nonmember(("done", "cancelled", "failed"))


class BulkJobAction(models.TextChoices):
    APPROVE = "approve", "Approve"
    APPROVE_CLEARING_FLAGS = "approve_clearing_flags", "Approve and clear flags"
    REJECT = "reject", "Reject"
    FEATURE = "feature", "Feature"
    UNFEATURE = "unfeature", "Unfeature"
    RESEND_CONFIRMATION = "resend_confirmation", "Resend the confirmation email"


class BulkModerationJobQuerySet(models.QuerySet):
    def unfinished(self):
        return self.filter(state__in=BulkJobState.UNFINISHED)


class BulkModerationJob(models.Model):
    """A moderation action on more signatures than a request should touch, run by the worker in
    batches (pledges/bulk.py). The selection is stored as the admin changelist it was made on
    (its model and filters), limited to the signatures that existed when the job was made."""

    State = BulkJobState
    Action = BulkJobAction

    action = models.CharField(max_length=30, choices=Action.choices)
    description = models.CharField(max_length=300, help_text="The selection, in words.")
    changelist = models.CharField(max_length=100, help_text="The admin list it was selected on (app.model).")
    query = models.TextField(blank=True, help_text="That list's filters and search, as a query string.")
    max_signature_id = models.BigIntegerField(help_text="Signatures made after the job are not in it.")
    last_signature_id = models.BigIntegerField(default=0, help_text="Progress: the rows up to here are done.")
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Counted when the job starts.")
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = BulkModerationJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "bulk moderation job"
        constraints = [
            models.CheckConstraint(condition=Q(state__in=BulkJobState.values), name="bulk_job_state_valid"),
            models.CheckConstraint(
                condition=Q(action__in=BulkJobAction.values), name="bulk_job_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(changed__lte=F("processed")), name="bulk_job_changed_le_processed"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(state__in=BulkJobState.FINISHED),
                name="bulk_job_finished_has_end_state",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at", "id"],
                condition=Q(state__in=BulkJobState.UNFINISHED),
                name="bulk_job_unfinished",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.description}"

    @property
    def finished(self) -> bool:
        return self.state in BulkJobState.FINISHED

    @property
    def percent_done(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, self.processed * 100 // self.total)

    def cancel(self, by) -> bool:
        """Stop before the next batch; what is done stays done (each batch is one transaction)."""
        changed = (
            BulkModerationJob.objects.unfinished()
            .filter(pk=self.pk)
            .update(state=self.State.CANCELLED, cancelled_by=by, finished_at=timezone.now())
        )
        self.refresh_from_db()
        return bool(changed)
