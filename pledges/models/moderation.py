"""Moderation's record: who did what to a signature (ModerationEvent), the bulk jobs the worker
runs for large selections, and the moderation queue's triage order."""

from enum import nonmember

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from pledges.models.enums import ModerationAction

# The queue's triage order (flagged, then with a credit, then the rest; false sorts first);
# signature_triage indexes it.
TRIAGE_ORDER = [
    models.expressions.RawSQL("pledges_signature.flags = '{}'", []).asc(),
    models.expressions.RawSQL("pledges_signature.credit = ''", []).asc(),
    F("confirmed_at").asc(),
    F("id").asc(),
]

# What each bulk action may change (a SignatureQuerySet method) and how.
# The changes match the Signature methods of the same names.
BULK_ACTIONS = {
    "approve": ("routinely_approvable", lambda now: {"status": "approved", "moderated_at": now}),
    "approve_clearing_flags": (
        "flags_clearable",
        lambda now: {"status": "approved", "flags": [], "moderated_at": now},
    ),
    "reject": (
        "rejectable",
        lambda now: {
            "status": "rejected",
            "featured": False,
            "namesake": False,
            "watchlist_recheck": False,
            "verified_at": None,
            "verified_by": None,
            "verification_method": "",
            "verification_note": "",
            "moderated_at": now,
        },
    ),
    "feature": ("featurable", lambda now: {"featured": True}),
    "unfeature": ("unfeaturable", lambda now: {"featured": False}),
}


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
