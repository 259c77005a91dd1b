"""The outbox: every email the site sends is a row here first, delivered by the worker."""

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from pledges.models.signer import MAILBOX_MAX_LENGTH


class DeliveryQuerySet(models.QuerySet):
    """What the worker asks of any delivery table (Delivery)."""

    def due(self, now=None):
        return self.filter(sent_at=None, failed_at=None, send_after__lte=now or timezone.now())

    def expired(self, now=None):
        """Delivered or given up on more than OUTBOX_RETENTION_DAYS ago: no longer needed for the
        per-address limit or for staff looking into a delivery, and they say who got what (an
        email holds name and address)."""
        cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
        return self.filter(Q(sent_at__lt=cutoff) | Q(failed_at__lt=cutoff))

    def claim_due(self, count: int) -> list:
        """Up to `count` due rows, oldest first, for one worker to send: not due for the others
        for the model's CLAIM_SECONDS setting, nor, if the worker dies, until then."""
        with transaction.atomic():
            claimed = list(self.due().select_for_update(skip_locked=True).order_by("send_after")[:count])
            until = timezone.now() + timedelta(seconds=getattr(settings, self.model.CLAIM_SECONDS))
            self.filter(pk__in=[row.pk for row in claimed]).update(send_after=until)
        return claimed


class Delivery(models.Model):
    """A message for the worker to deliver (an outbox email, an update to one signer): tried when
    due, marked sent once the mail server took it, retried after a temporary failure, backing
    off, until it is EMAIL_GIVE_UP_AFTER_HOURS old, and given up on after a permanent one. Each
    subclass keeps its own table and indexes."""

    created_at = models.DateTimeField(default=timezone.now)
    # When it may next be tried: a retry's back-off, or the end of a worker's claim on it.
    send_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    # The setting that says for how many seconds a worker's claim (claim_due) holds.
    CLAIM_SECONDS = "EMAIL_CLAIM_SECONDS"

    class Meta:
        abstract = True

    def mark_sent(self) -> None:
        self._record(sent_at=timezone.now(), attempts=self.attempts + 1)

    def postpone(self, error: Exception) -> None:
        """A temporary failure: try again later, backing off, until it is too old to matter."""
        self._record_failure(error, temporary=True)

    def mark_failed(self, error: Exception) -> None:
        self._record_failure(error, temporary=False)

    def _record_failure(self, error: Exception, *, temporary: bool) -> None:
        now = timezone.now()
        changes = {"attempts": self.attempts + 1, "last_error": f"{type(error).__name__}: {error}"[:2000]}
        if not temporary or now - self.created_at > timedelta(hours=settings.EMAIL_GIVE_UP_AFTER_HOURS):
            changes["failed_at"] = now
        else:
            delay = min(settings.EMAIL_RETRY_BASE_SECONDS * 2**self.attempts, 3600)
            changes["send_after"] = now + timedelta(seconds=delay)
        self._record(**changes)

    def _record(self, **changes) -> None:
        # An UPDATE of the row, not save(): the row may be gone (a signer who withdrew meanwhile).
        type(self)._default_manager.filter(pk=self.pk).update(**changes)
        for field, value in changes.items():
            setattr(self, field, value)


class OutgoingEmailQuerySet(DeliveryQuerySet):
    def release(self, claimed: list["OutgoingEmail"]) -> int:
        """Claimed messages the worker will not send after all: due again, in their old order."""
        if not claimed:
            return 0
        due_again = Case(*(When(pk=message.pk, then=Value(message.send_after)) for message in claimed))
        return self.filter(pk__in=[message.pk for message in claimed]).update(send_after=due_again)


class OutgoingEmail(Delivery):
    """The outbox: a message is stored in the same transaction as the change that causes
    it, and the worker (manage.py deliver_emails) delivers it, retrying temporary failures."""

    to = models.EmailField()
    # The canonical form of `to` (mailboxes.canonical_mailbox): limits count the mailbox.
    mailbox = models.CharField(max_length=MAILBOX_MAX_LENGTH)
    kind = models.CharField(max_length=30)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)

    objects = OutgoingEmailQuerySet.as_manager()

    class Meta:
        indexes = [
            # deliver_emails: the due messages, oldest first.
            models.Index(
                fields=["send_after"],
                condition=Q(sent_at__isnull=True, failed_at__isnull=True),
                name="outgoing_email_due",
            ),
            # Erasing a withdrawn signer's mail.
            models.Index(fields=["to"], name="outgoing_email_to"),
            # The per-mailbox daily limit on emails.
            models.Index(fields=["mailbox", "created_at"], name="outgoing_email_mailbox_created"),
            # The admin index's count of failed emails.
            models.Index(
                fields=["failed_at"], condition=Q(failed_at__isnull=False), name="outgoing_email_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
