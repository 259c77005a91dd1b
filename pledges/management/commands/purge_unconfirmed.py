from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from pledges.models import OutgoingEmail, Signature


class Command(BaseCommand):
    help = "Delete signatures whose email was not confirmed within UNCONFIRMED_EXPIRY_DAYS days."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say how many would go; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, dry_run, batch_size, **options):
        days = settings.UNCONFIRMED_EXPIRY_DAYS
        if dry_run:
            count = Signature.objects.expired_unconfirmed().count()
            self.stdout.write(f"Would delete {count} signature(s) unconfirmed for more than {days} days.")
            return
        deleted = 0
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
                OutgoingEmail.objects.filter(
                    to__in=[email for _, email in batch], sent_at__isnull=True
                ).delete()
            deleted += len(batch)
        self.stdout.write(f"Deleted {deleted} signature(s) unconfirmed for more than {days} days.")
