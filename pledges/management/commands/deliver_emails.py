import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection

from pledges import bulk
from pledges.emails import deliver_due
from pledges.models import OutgoingEmail, Submission
from pledges.signing import process_submissions
from pledges.updates import work_on_updates


class Command(BaseCommand):
    help = (
        "The worker: signs what the sign form stored (reviewing each signature before its "
        "confirmation email is queued); delivers the outbox (messages stored by the web requests) "
        "through EMAIL_URL, retrying temporary failures with back-off; whenever the outbox has "
        "nothing due, one batch of the updates staff are sending to signers; and one batch of a "
        "bulk moderation job each turn. "
        "Runs until stopped; run as many as you like."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Deliver what is due now, then exit.")
        parser.add_argument("--poll-seconds", type=float, default=1.0, help="Pause when nothing is due.")
        parser.add_argument("--batch", type=int, default=100, help="Messages sent over one SMTP connection.")

    def handle(self, *args, once, poll_seconds, batch, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        total = updates_total = signed_total = 0
        while not self.stopping:
            try:
                signed = process_submissions(limit=batch)
                sent = deliver_due(limit=batch)
                # Confirmations and the like first: updates get a batch only once none is due.
                queued, updates = (0, 0) if sent >= batch else work_on_updates(limit=batch)
                job = bulk.run_next_batch()
            except DatabaseError as error:
                # The database restarted or went away: drop the connection and try again shortly.
                self.stderr.write(f"database unavailable, retrying: {error}")
                connection.close()
                time.sleep(poll_seconds)
                continue
            total += sent
            updates_total += updates
            signed_total += signed
            if signed:
                self.stdout.write(f"signed {signed} (total {signed_total})")
            if sent:
                self.stdout.write(f"sent {sent} (total {total})")
            if queued:
                self.stdout.write(f"queued {queued} recipients of an update")
            if updates:
                self.stdout.write(f"delivered {updates} update emails (total {updates_total})")
            if job is not None:
                self.stdout.write(
                    f"bulk job {job.pk} ({job.get_action_display().lower()}): "
                    f"{job.processed:,} of {job.total or 0:,} looked at, {job.changed:,} changed, {job.state}"
                )
            idle = signed < batch and sent < batch and not queued and not updates and job is None
            if (
                once
                and idle
                and not OutgoingEmail.objects.due().exists()
                and not Submission.objects.waiting().exists()
            ):
                break
            if idle:
                close_old_connections()
                time.sleep(poll_seconds)
        self.stdout.write(f"worker stopped after sending {total}")

    def stop(self, signum, frame):
        self.stopping = True
