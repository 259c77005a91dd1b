import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from pledges.forms import ImportRowForm
from pledges.lib.mailboxes import canonical_mailbox
from pledges.models import LetterVersion, ModerationEvent, Signature

COLUMNS = ["name", "email", "profession", "guilds", "credit", "featured", "verified", "verification_note"]
REQUIRED_COLUMNS = {"name", "email", "profession"}


class Command(BaseCommand):
    help = (
        "Import launch signatories from a CSV file with the columns name, email, profession, guilds, "
        "credit, featured, verified, verification_note (guilds separated by ';'). They come in "
        "confirmed and approved. `verified` says how staff verified the person (agent, guild, social, "
        "own_domain, in_person, other); only a verified row can be featured. Running it again is "
        "harmless: a mailbox already in the database (in any spelling) is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file}: not UTF-8 text. Save it as CSV (UTF-8) and try again.") from None
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}.") from None
        if "\x00" in text:
            raise CommandError(f"{file}: contains NUL bytes; is it really a CSV file?")
        try:
            reader = csv.DictReader(text.splitlines())
            # Read the rows under the normalised header ("Name" is the name column).
            header = reader.fieldnames = [column.strip().lower() for column in reader.fieldnames or []]
            rows = list(reader)
        except csv.Error as error:
            raise CommandError(f"{file}: not readable as CSV ({error}).") from None
        missing = REQUIRED_COLUMNS - set(header)
        if missing:
            raise CommandError(
                f"{file}: missing column(s) {', '.join(sorted(missing))}. Expected: {', '.join(COLUMNS)}."
            )

        letter = LetterVersion.objects.current()
        imported, present, skipped = 0, 0, []
        seen: dict[str, int] = {}
        for line, row in enumerate(tqdm(rows, unit="row", file=self.stderr), start=2):
            if None in row:
                skipped.append((line, "more cells than columns"))
                continue
            form = ImportRowForm({key: (row.get(key) or "") for key in COLUMNS})
            if not form.is_valid():
                reasons = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
                skipped.append((line, reasons))
                continue
            data = form.cleaned_data
            data["mailbox"] = canonical_mailbox(data["email"])
            if data["mailbox"] in seen:
                skipped.append((line, f"the same mailbox as line {seen[data['mailbox']]}"))
                continue
            seen[data["mailbox"]] = line
            if self.create(data, letter):
                imported += 1
            else:
                present += 1

        self.stdout.write(f"Imported {imported}; already in the database (left as they were): {present}.")
        if skipped:
            self.stdout.write(f"Skipped {len(skipped)} row(s):")
            for line, reason in skipped:
                self.stdout.write(f"  line {line}: {reason}")

    def create(self, data: dict, letter) -> bool:
        now = timezone.now()
        with transaction.atomic():
            verified = {}
            if data["verified"]:
                verified = {
                    "verified_at": now,
                    "verification_method": data["verified"],
                    "verification_note": data["verification_note"],
                }
            signature, created = Signature.objects.get_or_create(
                mailbox=data["mailbox"],
                defaults={
                    "email": data["email"],
                    **verified,
                    "full_name": data["name"],
                    "profession": data["profession"],
                    "credit": data["credit"],
                    "featured": data["featured"],
                    "status": Signature.Status.APPROVED,
                    "letter_version": letter,
                    "created_at": now,
                    "confirmed_at": now,
                    "moderated_at": now,
                },
            )
            if created:
                signature.guilds.set(data["guilds"])
                ModerationEvent.objects.create(signature=signature, action=ModerationEvent.Action.IMPORT)
                if verified:
                    label = Signature.VerificationMethod(data["verified"]).label
                    note = f"{label}: {data['verification_note']}" if data["verification_note"] else label
                    ModerationEvent.objects.create(
                        signature=signature, action=ModerationEvent.Action.VERIFY, note=note
                    )
        return created
