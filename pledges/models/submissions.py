"""The sign form as it was posted, until the worker has signed it."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django_countries.fields import CountryField

from pledges.models.choices import Profession
from pledges.models.enums import SignatureFlag
from pledges.models.letter import LetterVersion
from pledges.models.signer import CREDIT_MAX_LENGTH, NAME_MAX_LENGTH, SIGNER_FIELDS


class SubmissionQuerySet(models.QuerySet):
    def waiting(self):
        """What the worker still has to sign: all but those it failed on."""
        return self.filter(error="")

    def failed(self):
        """Those the worker could not sign: they wait for a person (SubmissionAdmin)."""
        return self.exclude(error="")


class Submission(models.Model):
    """The sign form as it was posted, waiting for the worker (signing.process_submissions) to
    review it and make or update the signature and its email. The request stores only this row,
    the same one whether the address is new, pending or confirmed, so that neither its answer nor
    its timing tells who has signed. Deleted once processed."""

    received_at = models.DateTimeField(default=timezone.now)
    full_name = models.CharField(max_length=NAME_MAX_LENGTH)
    email = models.EmailField()
    profession = models.ForeignKey(Profession, on_delete=models.PROTECT, related_name="+")
    # Guild ids, not a many-to-many: a submission lives for seconds, and one INSERT stores it.
    guild_ids = ArrayField(models.PositiveIntegerField(), default=list, blank=True)
    credit = models.CharField(max_length=CREDIT_MAX_LENGTH, blank=True)
    country = CountryField(blank=True)
    show_publicly = models.BooleanField(default=True)
    updates_opt_in = models.BooleanField(default=False)
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE)
    # The letter the signer read; the flags the request could see (past the IP soft limit).
    letter_version = models.ForeignKey(LetterVersion, on_delete=models.PROTECT, related_name="+")
    ip_hash = models.CharField(max_length=64, blank=True)
    flags = ArrayField(
        models.CharField(max_length=20, choices=SignatureFlag.choices), default=list, blank=True
    )
    # Why the worker could not sign it (also logged): it then waits for a person, out of the way.
    error = models.TextField(blank=True)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"submission #{self.pk} of {self.received_at:%Y-%m-%d %H:%M:%S}"

    def signature_details(self) -> dict:
        """What the signature takes as it was sent (both of the worker's ways of signing start
        from it; the guilds, stored here as guild_ids, the flags and the time each take in their
        own way)."""
        return {field: getattr(self, field) for field in SIGNER_FIELDS if field != "guilds"}
