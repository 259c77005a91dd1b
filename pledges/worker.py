"""The worker's turn: everything a web request leaves for later, in the order people wait for it.

1. sign what the sign form stored (signing.process_submissions): review, signature, email queued;
2. deliver the outbox (emails.deliver_due), retrying temporary failures with back-off;
3. only when no confirmation is waiting, one batch of the updates staff are sending;
4. one batch of a bulk moderation job.

`manage.py worker` (or its old name `deliver_emails`) runs turns until stopped."""

import dataclasses
import time
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections, connection

from pledges import bulk
from pledges.emails import deliver_due
from pledges.models import BulkModerationJob, OutgoingEmail, Submission
from pledges.signing import process_submissions
from pledges.updates import work_on_updates


@dataclasses.dataclass
class Turn:
    signed: int = 0
    sent: int = 0
    update_recipients_queued: int = 0
    updates_sent: int = 0
    job: BulkModerationJob | None = None

    def idle(self, batch: int) -> bool:
        return (
            self.signed < batch
            and self.sent < batch
            and not self.update_recipients_queued
            and not self.updates_sent
            and self.job is None
        )


def turn(batch: int) -> Turn:
    done = Turn(signed=process_submissions(limit=batch), sent=deliver_due(limit=batch))
    if done.sent < batch:  # confirmations and the like first
        done.update_recipients_queued, done.updates_sent = work_on_updates(limit=batch)
    done.job = bulk.run_next_batch()
    return done


def nothing_left() -> bool:
    return not OutgoingEmail.objects.due().exists() and not Submission.objects.waiting().exists()


def run(
    *,
    batch: int,
    poll_seconds: float,
    once: bool,
    stopping: Callable[[], bool],
    report: Callable[[str], None],
) -> int:
    """Turns until `stopping()` (or, with `once`, until nothing is due). Returns the emails sent."""
    totals = Turn()
    while not stopping():
        try:
            done = turn(batch)
        except DatabaseError as error:
            # The database restarted or went away: drop the connection and try again shortly.
            report(f"database unavailable, retrying: {error}")
            connection.close()
            time.sleep(poll_seconds)
            continue
        totals.signed += done.signed
        totals.sent += done.sent
        totals.updates_sent += done.updates_sent
        if done.signed:
            report(f"signed {done.signed} (total {totals.signed})")
        if done.sent:
            report(f"sent {done.sent} (total {totals.sent})")
        if done.update_recipients_queued:
            report(f"queued {done.update_recipients_queued} recipients of an update")
        if done.updates_sent:
            report(f"delivered {done.updates_sent} update emails (total {totals.updates_sent})")
        if done.job is not None:
            job = done.job
            report(
                f"bulk job {job.pk} ({job.get_action_display().lower()}): "
                f"{job.processed:,} of {job.total or 0:,} looked at, {job.changed:,} changed, {job.state}"
            )
        idle = done.idle(batch)
        if once and idle and nothing_left():
            break
        if idle:
            close_old_connections()
            time.sleep(poll_seconds)
    return totals.sent
