"""Signatures: who signed, their state in moderation, and the links their emails carry."""

import hashlib
import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core import signing
from django.db import models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext
from django_countries.fields import CountryField

from pledges.lib import watchlist
from pledges.lib.mailboxes import canonical_mailbox
from pledges.lib.names import normalised_name_sql
from pledges.models import signature_rules
from pledges.models.choices import Guild, Profession
from pledges.models.enums import SignatureFlag, SignatureStatus, SignatureVerificationMethod
from pledges.models.letter import LetterVersion
from pledges.models.moderation import TRANSITIONS, ModerationEvent, ModerationQuerySet
from pledges.models.outbox import OutgoingEmail
from pledges.models.public_list import PublicListKey, PublicListQuerySet
from pledges.models.signer import (
    CREDIT_MAX_LENGTH,
    MAILBOX_MAX_LENGTH,
    NAME_KEY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    SIGNER_DETAILS,
)
from pledges.models.site import SigningStatus
from pledges.models.updates import UpdateDelivery


class SignatureQuerySet(PublicListQuerySet, ModerationQuerySet):
    def counted(self):
        """The signatures in the public count: email confirmed, not rejected or withdrawn,
        and not held by a flag that staff have yet to clear (approval clears flags)."""
        return self.filter(Q(status=SignatureStatus.APPROVED) | Q(status=SignatureStatus.CONFIRMED, flags=[]))

    def published(self):
        """The signatures on the public list: approved by staff, and the signer agreed."""
        return self.filter(signature_rules.LISTED)

    def awaiting_review(self):
        """Counted but not yet on the public list because no one has reviewed them: confirmed,
        unflagged, and the signer chose to be listed."""
        return self.filter(status=SignatureStatus.CONFIRMED, flags=[], show_publicly=True)

    def held(self):
        """Confirmed, but a flag keeps them out of the count until staff decide."""
        return self.filter(status=SignatureStatus.CONFIRMED).exclude(flags=[])

    def verified(self):
        """Staff have verified them as the person named."""
        return self.filter(verified_at__isnull=False)

    def watchlist_held(self):
        """Held by the watchlist, or approved before a watched name matched them (to recheck)."""
        return self.filter(
            Q(status=SignatureStatus.CONFIRMED, flags__contains=[SignatureFlag.WATCHLIST])
            | Q(watchlist_recheck=True)
        )

    def featured(self):
        return self.published().filter(featured=True)

    def new_per_day(self):
        """Signatures per day of confirmation (days in TIME_ZONE): a signature belongs to the day
        its email was confirmed, the day it first could count. Call it on counted()."""
        return (
            self.annotate(day=TruncDate("confirmed_at"))
            .values("day")
            .annotate(new=Count("pk"))
            .order_by("day")
        )

    def update_recipients(self):
        """Who an update goes to: email confirmed (or approved), not rejected or withdrawn,
        opted in to news, and not unsubscribed since."""
        return self.filter(
            status__in=SignatureStatus.COUNTABLE,
            updates_opt_in=True,
            unsubscribed_at__isnull=True,
        )

    def capped_count(self, cap: int) -> int:
        """How many rows, counting no further than cap + 1 (COUNT over a LIMIT): "more than
        1,000 match" costs the same however many do."""
        return self.order_by()[: cap + 1].count()

    def expired_unconfirmed(self, now=None):
        cutoff = (now or timezone.now()) - timedelta(days=settings.UNCONFIRMED_EXPIRY_DAYS)
        return self.filter(status=SignatureStatus.PENDING, created_at__lt=cutoff)


class Signature(models.Model):
    Status = SignatureStatus
    Flag = SignatureFlag
    VerificationMethod = SignatureVerificationMethod

    # The random code that signed links carry; the primary key never leaves the admin.
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    full_name = models.CharField(max_length=NAME_MAX_LENGTH)
    # Lower case, otherwise as typed: mail goes here. NULL once the signatory withdraws.
    email = models.EmailField(null=True, blank=True)  # noqa: DJ001 (NULL, not "", as erased)
    # The canonical form of the address (mailboxes.canonical_mailbox), unique: one mailbox, one
    # signature. NULL once withdrawn, and for a second signature of one mailbox from before
    # the rule, held for staff (flag duplicate_mailbox).
    mailbox = models.CharField(max_length=MAILBOX_MAX_LENGTH, null=True, blank=True, editable=False)  # noqa: DJ001
    profession = models.ForeignKey(Profession, on_delete=models.PROTECT, related_name="signatures")
    guilds = models.ManyToManyField(Guild, blank=True, related_name="signatures", through="SignatureGuild")
    credit = models.CharField(
        max_length=CREDIT_MAX_LENGTH, blank=True, help_text="A notable credit, company or channel."
    )
    country = CountryField(blank=True)
    show_publicly = models.BooleanField(default=True)
    updates_opt_in = models.BooleanField(default=False)
    # The language the letter was signed in: every email to the signer speaks it.
    language = models.CharField(
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        db_default=settings.LANGUAGE_CODE,
    )
    featured = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    flags = ArrayField(models.CharField(max_length=20, choices=Flag.choices), default=list, blank=True)
    # The name as the watchlist compares it (watchlist.match_keys), so that a newly watched name
    # finds the signatures already made through an index.
    name_keys = ArrayField(models.CharField(max_length=NAME_KEY_MAX_LENGTH), default=list, blank=True)
    watchlist_match = models.ForeignKey(
        "WatchedName",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="signatures",
        help_text="The watched name this signature's name matched.",
    )
    # Approved before a watched name matched it: staff should look again.
    watchlist_recheck = models.BooleanField(default=False)
    # Approved as someone who shares a watched name: listed, never with the Verified mark.
    namesake = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_method = models.CharField(max_length=20, choices=VerificationMethod.choices, blank=True)
    verification_note = models.CharField(max_length=500, blank=True)
    letter_version = models.ForeignKey(LetterVersion, on_delete=models.PROTECT, related_name="signatures")
    ip_hash = models.CharField(max_length=64, blank=True)
    # The name as searched and sorted, kept by the database on every write path.
    search_name = models.GeneratedField(
        expression=normalised_name_sql(F("full_name")),
        output_field=models.CharField(max_length=NAME_MAX_LENGTH),
        db_persist=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    moderated_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Stops updates and keeps the signature (withdrawing erases it).
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    objects = SignatureQuerySet.as_manager()

    class Meta:
        permissions = [
            ("moderate_signature", "Can approve, reject, feature and resend confirmation"),
            ("export_signature", "Can export signatures as CSV"),
        ]
        constraints = signature_rules.CONSTRAINTS
        indexes = signature_rules.INDEXES

    def __str__(self) -> str:
        return self.full_name or f"(withdrawn signature {self.pk})"

    def save(self, *args, **kwargs):
        # The derived columns, on every path that saves a whole row (update() paths keep them).
        self.name_keys = watchlist.match_keys(self.full_name)
        if (
            self.email
            and self.mailbox is None
            and self.status != self.Status.WITHDRAWN
            and self.Flag.DUPLICATE_MAILBOX not in self.flags
        ):
            self.mailbox = canonical_mailbox(self.email)
        super().save(*args, **kwargs)

    # Links in emails carry the random code, signed with a purpose-specific salt and a
    # timestamp, so that a verify link cannot withdraw and an old link expires.
    TOKEN_MAX_AGE_DAYS = {
        "verify": "VERIFY_LINK_MAX_AGE_DAYS",
        "withdraw": "WITHDRAW_LINK_MAX_AGE_DAYS",
        "unsubscribe": "UNSUBSCRIBE_LINK_MAX_AGE_DAYS",
    }

    class DetailsChanged(Exception):
        """The confirmation link was issued for details that have changed since."""

    def details_digest(self, guild_ids=None) -> str:
        """A digest of what the signer is asked to confirm. A confirmation link carries it, because
        anyone can sign again with a pending address and other details: the owner's first link
        must not then confirm the stranger's name. `guild_ids`: the signature's guilds, where the
        caller has them at hand (the worker signing a batch), saving a query."""
        guilds = sorted(self.guilds.values_list("pk", flat=True) if guild_ids is None else guild_ids)
        as_digested = {"profession": self.profession_id, "guilds": guilds, "country": str(self.country)}
        # Not the email: the link goes to it, and a second spelling of one mailbox is the same signer.
        details = [
            as_digested[field] if field in as_digested else getattr(self, field)
            for field in SIGNER_DETAILS
            if field != "email"
        ]
        return hashlib.sha256(json.dumps(details).encode()).hexdigest()[:16]

    def make_token(self, purpose: str, *, guild_ids=None) -> str:
        value = self.code.hex
        if purpose == "verify":
            value += "." + self.details_digest(guild_ids)
        return signing.TimestampSigner(salt=f"pledges.{purpose}").sign(value)

    @classmethod
    def from_token(cls, token: str, purpose: str, *, for_update: bool = False) -> "Signature":
        """Raises signing.SignatureExpired, signing.BadSignature, Signature.DoesNotExist, or for a
        confirmation link whose pending signature has other details now, Signature.DetailsChanged.
        for_update locks the row (inside a transaction) until the caller has acted on it."""
        max_age = timedelta(days=getattr(settings, cls.TOKEN_MAX_AGE_DAYS[purpose]))
        value = signing.TimestampSigner(salt=f"pledges.{purpose}").unsign(token, max_age=max_age)
        code, _, digest = value.partition(".")
        try:
            code = uuid.UUID(hex=code)
        except ValueError:
            raise signing.BadSignature("not a signature code") from None
        signature = (cls.objects.select_for_update() if for_update else cls.objects).get(code=code)
        pending = signature.status == cls.Status.PENDING
        if purpose == "verify" and pending and digest != signature.details_digest():
            raise cls.DetailsChanged
        return signature

    def link(self, purpose: str, *, guild_ids=None) -> str:
        # In the signer's language, on whichever device the email is opened.
        token = self.make_token(purpose, guild_ids=guild_ids)
        return f"{settings.SITE_URL}/{purpose}/{token}/?lang={self.language}"

    def public_list_key(self) -> "PublicListKey":
        return PublicListKey(self.featured, self.search_name, self.created_at)

    def public_list_note(self) -> str:
        """What the signer is told about the public list, under the publication policy in force
        (nothing when they chose not to be listed)."""
        S = self.Status
        if not self.show_publicly or self.status not in S.STANDING:
            return ""
        if self.status == S.APPROVED:
            return gettext("Your name is now on the public list.")
        if self.status == S.PENDING and not self.flags and SigningStatus.current().publishes_at_once:
            return gettext("Your name will appear on the public list as soon as you confirm.")
        return gettext("Your name will appear on the public list once our staff have reviewed it.")

    @property
    def receives_updates(self) -> bool:
        """The row-level twin of SignatureQuerySet.update_recipients()."""
        return (
            self.status in SignatureStatus.COUNTABLE and self.updates_opt_in and self.unsubscribed_at is None
        )

    def _apply(self, action: str, by=None, **details) -> bool:
        """Apply TRANSITIONS[action] to this row if it still allows it, as one conditional UPDATE,
        and record its event. Returns whether it changed."""
        transition = TRANSITIONS[action]
        changes = transition.changes(timezone.now(), by, **details)
        with transaction.atomic():
            changed = Signature.objects.filter(transition.allowed, pk=self.pk).update(**changes)
            if changed and transition.event:
                note = transition.note(self.flags, **details)
                ModerationEvent.objects.create(signature=self, action=transition.event, actor=by, note=note)
        if not changed:
            self.refresh_from_db()
            return False
        computed = [field for field, value in changes.items() if hasattr(value, "resolve_expression")]
        for field, value in changes.items():
            if field not in computed:
                setattr(self, field, value)
        if computed:
            self.refresh_from_db(fields=computed)
        return True

    def confirm(self) -> bool:
        """Under the automatic publication policy an unflagged signature is approved at once;
        otherwise (or when flagged) it waits in the moderation queue."""
        if SigningStatus.current().publishes_at_once and self._apply("publish_at_once"):
            return True
        return self._apply("confirm")

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    # The moderation actions: their rules are TRANSITIONS' rows of the same names.
    def approve(self, by) -> bool:
        return self._apply("approve", by)

    def approve_clearing_flags(self, by) -> bool:
        return self._apply("approve_clearing_flags", by)

    def approve_as_namesake(self, by, note: str = "") -> bool:
        return self._apply("approve_as_namesake", by, note=note)

    def verify(self, by, method: str, note: str = "") -> bool:
        if method not in self.VerificationMethod.values:
            raise ValueError(f"unknown verification method {method!r}")
        return self._apply("verify", by, method=method, note=note)

    def reject(self, by) -> bool:
        return self._apply("reject", by)

    def feature(self, by) -> bool:
        return self._apply("feature", by)

    def unfeature(self, by) -> bool:
        return self._apply("unfeature", by)

    def unsubscribe(self) -> bool:
        """Stop updates at once, keeping the signature; reports whether this call stopped them."""
        with transaction.atomic():
            changed = bool(
                Signature.objects.filter(pk=self.pk, unsubscribed_at=None).update(
                    unsubscribed_at=timezone.now()
                )
            )
            self.refresh_from_db(fields=["unsubscribed_at"])
            # Queued and not yet sent: they will not be (one a worker is sending right now may still go).
            UpdateDelivery.objects.filter(signature=self, sent_at=None, failed_at=None).delete()
        return changed

    def withdraw(self) -> bool:
        """Withdraw and erase the personal data, keeping only what the count history needs
        (when it was created, confirmed and withdrawn, and the profession)."""
        with transaction.atomic():
            email, mailbox = self.email, self.mailbox or self.email
            changed = self._apply("withdraw")
            if changed:
                self.guilds.clear()
                # Sent ones too, to every spelling: they carry the name and the address.
                OutgoingEmail.objects.filter(Q(to=email) | Q(mailbox=mailbox)).delete()
                UpdateDelivery.objects.filter(signature=self).delete()
        return changed


class QueuedSignature(Signature):
    """The moderation queue, as its own entry on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "signature awaiting moderation"
        verbose_name_plural = "moderation queue"


class SignatureGuild(models.Model):
    """A signatory's membership of a guild (the table of Signature.guilds)."""

    signature = models.ForeignKey(Signature, on_delete=models.CASCADE)
    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, db_index=False)

    class Meta:
        db_table = "pledges_signature_guilds"
        unique_together = [("signature", "guild")]
        indexes = [
            # A guild's members, read from the index alone: a guild filter joined with another
            # filter (the admin's flagged + guild, the list's guild + profession) hashes them
            # without visiting the table.
            models.Index(fields=["guild", "signature"], name="signature_guild_members"),
        ]

    def __str__(self) -> str:
        return f"{self.signature_id} in {self.guild_id}"
