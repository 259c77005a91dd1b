"""Updates to signers, the worker's side: queue the recipients in chunks, then deliver in batches.

The admin only marks an update as sending (Update.start_sending); manage.py worker calls
work_on_updates() between rounds of the outbox, so a confirmation email never waits behind more
than one batch of updates."""

import logging

from django.core.mail import get_connection
from django.db import connection, transaction
from django.utils import timezone

from pledges import emails
from pledges.lib.markdown import render_markdown
from pledges.models import OutgoingEmail, Signature, Update, UpdateDelivery

logger = logging.getLogger(__name__)

# Recipients added per INSERT … SELECT: one short transaction each, however many signers there are.
QUEUE_CHUNK = 5000
# Within a batch, how many updates go out between looks at the outbox: a confirmation email that
# comes due mid-batch waits for at most this many, not for the whole batch.
OUTBOX_CHECK_EVERY = 10


def body_html(update: Update) -> str:
    """The update's Markdown as HTML fit for an inbox, by the same rules as the letter's."""
    return render_markdown(update.body)


def queue_recipients(*, chunk: int = QUEUE_CHUNK) -> int:
    """Add the next `chunk` recipients of an update being sent as delivery rows, in one
    INSERT … SELECT; returns how many recipients the chunk walked (0: nothing left to queue).
    The unique (update, signature) constraint makes a repeat, or two workers, add nothing twice."""
    with transaction.atomic():
        update = (
            Update.objects.filter(status=Update.Status.SENDING, queued_at=None)
            .select_for_update(skip_locked=True)
            .order_by("send_started_at", "pk")
            .first()
        )
        if update is None:
            return 0
        recipients = (
            Signature.objects.update_recipients()
            .filter(pk__gt=update.queued_through)
            .order_by("pk")
            .values("pk")[:chunk]
        )
        select_sql, params = recipients.query.sql_with_params()
        table = UpdateDelivery._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH chunk (id) AS ({select_sql}),
                added AS (
                    INSERT INTO {table}
                        (update_id, signature_id, created_at, send_after, attempts, last_error)
                    SELECT %s, chunk.id, now(), now(), 0, '' FROM chunk
                    ON CONFLICT DO NOTHING
                )
                SELECT count(*), max(id) FROM chunk
                """,
                [*params, update.pk],
            )
            walked, last_id = cursor.fetchone()
        changes = {"queued_through": last_id or update.queued_through}
        if walked < chunk:
            changes["queued_at"] = timezone.now()
        Update.objects.filter(pk=update.pk).update(**changes)
    return walked


def _give_back(ids: list[int]) -> None:
    UpdateDelivery.objects.filter(pk__in=ids, sent_at=None, failed_at=None).update(send_after=timezone.now())


def deliver_batch(*, limit: int = 100) -> int:
    """Send up to `limit` due update emails over one SMTP connection, stopping early when the
    outbox has something due; returns how many it dealt with (sent, failed for good or skipped), so
    0 while the mail server is down, and the worker pauses.
    Delivery is at least once, as for the outbox: a worker killed between the server's "250 OK"
    and the UPDATE that records it sends that one again."""
    # Claimed for UPDATE_CLAIM_SECONDS. Each is marked sent as soon as the server accepts it, so a
    # worker killed mid-batch leaves only the rest of its batch, which another worker takes once
    # the claim runs out.
    ids = [delivery.pk for delivery in UpdateDelivery.objects.claim_due(limit)]
    if not ids:
        return 0
    deliveries = (
        UpdateDelivery.objects.filter(pk__in=ids).select_related("update", "signature").order_by("pk")
    )
    bodies: dict[int, str] = {}
    smtp = get_connection(fail_silently=False)
    pending, handled = list(ids), 0
    try:
        for position, delivery in enumerate(deliveries):
            if position and position % OUTBOX_CHECK_EVERY == 0 and OutgoingEmail.objects.due().exists():
                break  # the rest of the batch goes back to the queue, after the outbox
            pending.remove(delivery.pk)
            signature = delivery.signature
            if not signature.receives_updates:
                delivery.delete()  # rejected since it was queued (unsubscribing deletes its own rows)
                handled += 1
                continue
            if delivery.update_id not in bodies:
                bodies[delivery.update_id] = body_html(delivery.update)
            message = emails.update_message(
                delivery.update, signature, body_html=bodies[delivery.update_id], connection=smtp
            )
            try:
                message.send()
            except Exception as error:
                smtp.close()
                if emails.is_temporary(error):
                    delivery.postpone(error)
                    logger.info("update delivery #%s postponed: %s", delivery.pk, error)
                    break  # the server is unwell: the rest of the batch waits for the next round
                delivery.mark_failed(error)
                logger.warning("update delivery #%s failed for good: %s", delivery.pk, error)
                handled += 1
                continue
            delivery.mark_sent()
            handled += 1
    finally:
        smtp.close()
        if pending:
            _give_back(pending)
    return handled


def finish_sent_updates() -> int:
    """Mark as sent the updates whose every recipient is queued and delivered (or given up on)."""
    finished = 0
    for update in Update.objects.filter(status=Update.Status.SENDING).exclude(queued_at=None):
        if update.deliveries.filter(sent_at=None, failed_at=None).exists():
            continue
        figures = update.figures()
        finished += Update.objects.filter(pk=update.pk, status=Update.Status.SENDING).update(
            status=Update.Status.SENT, sent_at=timezone.now(), final_figures=figures
        )
    return finished


def work_on_updates(*, limit: int = 100) -> tuple[int, int]:
    """One round of update work for the worker: queue a chunk of recipients if an update needs
    it, else deliver one batch. Returns (recipients queued, deliveries handled); (0, 0): nothing
    to do. Each round is short, and the worker looks at the outbox between rounds."""
    queued = queue_recipients()
    if queued:
        return queued, 0
    delivered = deliver_batch(limit=limit)
    if not delivered:
        finish_sent_updates()
    return 0, delivered
