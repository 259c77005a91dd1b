"""Updates: news that staff send to the signers who opted in, and its delivery to each."""

from django.conf import settings
from django.db import models
from django.db.models import Count, F, Q
from django.utils import timezone

from pledges.models.outbox import Delivery, DeliveryQuerySet


class UpdateStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"


class Update(models.Model):
    """News for the signers who opted in. Staff write it, preview it and send it in the admin;
    the worker (deliver_emails, see pledges/updates.py) queues and delivers it in batches."""

    Status = UpdateStatus

    subject = models.CharField(max_length=200)
    body = models.TextField(
        help_text="Markdown: a blank line starts a paragraph; **bold**, *italic*, [a link](https://…), "
        "- a list item, ## a heading."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    send_started_at = models.DateTimeField(null=True, blank=True)
    send_started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # How far the worker has walked the recipients (signature ids), and when it got to the end.
    queued_through = models.BigIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The totals as they stood when the last delivery was done, kept after the delivery rows
    # are deleted (OUTBOX_RETENTION_DAYS, withdrawals).
    final_figures = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("send_update", "Can send updates to signers")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=UpdateStatus.values), name="update_status_valid"),
            models.CheckConstraint(
                condition=Q(status=UpdateStatus.DRAFT) | Q(send_started_at__isnull=False),
                name="update_sending_has_time",
            ),
            models.CheckConstraint(condition=~Q(subject=""), name="update_subject_not_blank"),
        ]
        indexes = [
            # The worker: updates it still has work on.
            models.Index(
                fields=["send_started_at"], condition=Q(status=UpdateStatus.SENDING), name="update_sending"
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    def start_sending(self, by) -> bool:
        """Mark the update for the worker; a second click or a second staff member changes nothing."""
        now = timezone.now()
        changed = Update.objects.filter(pk=self.pk, status=self.Status.DRAFT).update(
            status=self.Status.SENDING, send_started_at=now, send_started_by=by
        )
        self.refresh_from_db()
        return bool(changed)

    def figures(self) -> dict:
        """queued, sent, failed and waiting, from the delivery rows (or as kept once they are
        gone), and how many recipients unsubscribed after it reached them."""
        deliveries = self.deliveries.all()
        live = deliveries.aggregate(
            queued=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            failed=Count("pk", filter=Q(failed_at__isnull=False)),
            unsubscribed_since=Count(
                "pk", filter=Q(sent_at__isnull=False, signature__unsubscribed_at__gte=F("sent_at"))
            ),
        )
        if self.final_figures and live["queued"] < self.final_figures.get("queued", 0):
            live = {
                **self.final_figures,
                "unsubscribed_since": max(
                    live["unsubscribed_since"], self.final_figures.get("unsubscribed_since", 0)
                ),
            }
        live["waiting"] = live["queued"] - live["sent"] - live["failed"]
        return live


class UpdateDelivery(Delivery):
    """One update to one signer. The message is rendered when it is sent (each has its own
    unsubscribe link), so a row is a few numbers, not a stored copy of the email."""

    update = models.ForeignKey(Update, on_delete=models.CASCADE, related_name="deliveries")
    signature = models.ForeignKey("Signature", on_delete=models.CASCADE, related_name="update_deliveries")

    CLAIM_SECONDS = "UPDATE_CLAIM_SECONDS"

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "update deliveries"
        constraints = [
            # Sending an update twice, or two workers queuing it at once, sends nothing twice.
            models.UniqueConstraint(fields=["update", "signature"], name="update_delivery_once"),
        ]
        indexes = [
            # updates.deliver_batch: the due deliveries.
            models.Index(
                fields=["send_after"],
                condition=Q(sent_at=None, failed_at=None),
                name="update_delivery_due",
            ),
            models.Index(fields=["signature"], name="update_delivery_signature"),
            # purge_unconfirmed: the ones past retention.
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="update_delivery_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.update} to signature {self.signature_id}"
