import signal

from django.core.management.base import BaseCommand

from pledges import worker


class Command(BaseCommand):
    help = (
        "The worker: signs what the sign form stored (reviewing each signature before its "
        "confirmation email is queued); delivers the outbox (messages stored by the web requests) "
        "through EMAIL_URL, retrying temporary failures with back-off; whenever the outbox has "
        "nothing due, one batch of the updates staff are sending to signers; and one batch of a "
        "bulk moderation job each turn (pledges/worker.py). "
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
        sent = worker.run(
            batch=batch,
            poll_seconds=poll_seconds,
            once=once,
            stopping=lambda: self.stopping,
            report=self.stdout.write,
        )
        self.stdout.write(f"worker stopped after sending {sent}")

    def stop(self, signum, frame):
        self.stopping = True
