"""The outbox: every email the site sends is a row here first, delivered by the worker."""

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from pledges.models.signer import MAILBOX_MAX_LENGTH


class OutgoingEmailQuerySet(models.QuerySet):
    def expired(self, now=None):
        """Delivered or given up on more than OUTBOX_RETENTION_DAYS ago: no longer needed for the
        per-address limit or for staff looking into a delivery, and they hold name and address."""
        cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
        return self.filter(Q(sent_at__lt=cutoff) | Q(failed_at__lt=cutoff))

    def due(self, now=None):
        return self.filter(
            sent_at__isnull=True, failed_at__isnull=True, send_after__lte=now or timezone.now()
        )

    def claim_due(self, count: int) -> list["OutgoingEmail"]:
        """Up to `count` due messages, oldest first, for one worker to send: not due for the
        others for EMAIL_CLAIM_SECONDS, nor, if the worker dies, until then."""
        with transaction.atomic():
            claimed = list(self.due().select_for_update(skip_locked=True).order_by("send_after")[:count])
            until = timezone.now() + timedelta(seconds=settings.EMAIL_CLAIM_SECONDS)
            self.filter(pk__in=[message.pk for message in claimed]).update(send_after=until)
        return claimed

    def release(self, claimed: list["OutgoingEmail"]) -> int:
        """Claimed messages the worker will not send after all: due again, in their old order."""
        if not claimed:
            return 0
        due_again = Case(*(When(pk=message.pk, then=Value(message.send_after)) for message in claimed))
        return self.filter(pk__in=[message.pk for message in claimed]).update(send_after=due_again)


class OutgoingEmail(models.Model):
    """The outbox: a message is stored in the same transaction as the change that causes
    it, and the worker (manage.py deliver_emails) delivers it, retrying temporary failures."""

    to = models.EmailField()
    # The canonical form of `to` (mailboxes.canonical_mailbox): limits count the mailbox.
    mailbox = models.CharField(max_length=MAILBOX_MAX_LENGTH)
    kind = models.CharField(max_length=30)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    send_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

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

    def mark_sent(self) -> None:
        self.sent_at = timezone.now()
        self.attempts += 1
        self.save(update_fields=["sent_at", "attempts"])

    def postpone(self, error: Exception) -> None:
        """A temporary failure: try again later, backing off, until it is too old to matter."""
        now = timezone.now()
        self.attempts += 1
        self.last_error = f"{type(error).__name__}: {error}"[:2000]
        if now - self.created_at > timedelta(hours=settings.EMAIL_GIVE_UP_AFTER_HOURS):
            self.failed_at = now
        delay = min(settings.EMAIL_RETRY_BASE_SECONDS * 2 ** (self.attempts - 1), 3600)
        self.send_after = now + timedelta(seconds=delay)
        self.save(update_fields=["attempts", "last_error", "failed_at", "send_after"])

    def mark_failed(self, error: Exception) -> None:
        self.attempts += 1
        self.failed_at = timezone.now()
        self.last_error = f"{type(error).__name__}: {error}"[:2000]
        self.save(update_fields=["attempts", "failed_at", "last_error"])
