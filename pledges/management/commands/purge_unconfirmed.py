from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from pledges.models import OutgoingEmail, Signature, UpdateDelivery


class Command(BaseCommand):
    help = (
        "Delete signatures whose email was not confirmed within UNCONFIRMED_EXPIRY_DAYS days (with "
        "every email to them), and emails and records of updates sent more than "
        "OUTBOX_RETENTION_DAYS days ago."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say how many would go; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, dry_run, batch_size, **options):
        days, outbox_days = settings.UNCONFIRMED_EXPIRY_DAYS, settings.OUTBOX_RETENTION_DAYS
        expired = Signature.objects.expired_unconfirmed().count()
        old_emails = OutgoingEmail.objects.expired().count()
        old_deliveries = UpdateDelivery.objects.expired().count()
        if dry_run:
            self.stdout.write(f"Would delete {expired} signature(s) unconfirmed for more than {days} days.")
            self.stdout.write(f"Would delete {old_emails} email(s) sent more than {outbox_days} days ago.")
            self.stdout.write(
                f"Would delete {old_deliveries} record(s) of updates sent more than {outbox_days} days ago."
            )
            return
        deleted = 0
        with tqdm(total=expired, unit="signatures", disable=None) as progress:
            while True:
                # Small batches, each its own transaction, so that signing never waits long on a lock.
                with transaction.atomic():
                    batch = list(
                        Signature.objects.expired_unconfirmed()
                        .select_for_update(skip_locked=True)
                        .values_list("pk", "email")[:batch_size]
                    )
                    if not batch:
                        break
                    Signature.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
                    OutgoingEmail.objects.filter(to__in=[email for _, email in batch]).delete()
                deleted += len(batch)
                progress.update(len(batch))
        emails_deleted = 0
        while True:
            ids = list(OutgoingEmail.objects.expired().values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            emails_deleted += OutgoingEmail.objects.filter(pk__in=ids).delete()[0]
        deliveries_deleted = 0
        with tqdm(total=old_deliveries, unit="update records", disable=None) as progress:
            while True:
                ids = list(UpdateDelivery.objects.expired().values_list("pk", flat=True)[:batch_size])
                if not ids:
                    break
                deliveries_deleted += UpdateDelivery.objects.filter(pk__in=ids).delete()[0]
                progress.update(len(ids))
        self.stdout.write(f"Deleted {deleted} signature(s) unconfirmed for more than {days} days.")
        self.stdout.write(f"Deleted {emails_deleted} email(s) sent more than {outbox_days} days ago.")
        self.stdout.write(
            f"Deleted {deliveries_deleted} record(s) of updates sent more than {outbox_days} days ago."
        )
