import base64
import binascii
import hashlib
import json
import os
import re
import typing
import uuid
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Case, Count, F, Func, Min, Q, Value, When
from django.db.models.functions import Lower, TruncDate
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, gettext_noop
from django_countries.fields import CountryField

from pledges.lib import watchlist
from pledges.lib.mailboxes import canonical_mailbox
from pledges.lib.markdown import render_markdown
from pledges.lib.names import name_words, normalised_name_sql

NAME_MAX_LENGTH = 150
MAILBOX_MAX_LENGTH = 320
# A match key is a name folded (watchlist.match_keys); folding can lengthen a name ("m" → "rn").
NAME_KEY_MAX_LENGTH = 2 * NAME_MAX_LENGTH + 10
# The domain of a (lower-case) email address, as SQL, so that an index can serve it.
EMAIL_DOMAIN = Func(F("email"), Value("@"), Value(2), function="split_part", output_field=models.CharField())
CREDIT_MAX_LENGTH = 200


class LetterVersionQuerySet(models.QuerySet):
    def current(self) -> "LetterVersion | None":
        return self.order_by("-created_at", "-pk").first()


class LetterVersion(models.Model):
    title = models.CharField(max_length=200)
    summary = models.CharField(
        max_length=300,
        help_text="One sentence under the title: what the letter asks, and of whom. "
        "A visitor on a phone reads it before anything else.",
    )
    body = models.TextField(
        help_text="Markdown: a blank line starts a new paragraph; ## starts a section heading; "
        "*emphasis*, **bold**, lists (- or 1.) and [links](https://example.org) work."
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = LetterVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.title} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def body_html(self) -> str:
        """The body as sanitised HTML, rendered once per version (render_markdown caches it)."""
        return render_markdown(self.body)

    def revise(self, *, title: str, body: str, summary: str | None = None, by=None) -> "LetterVersion":
        """Editing the letter makes a new version; signatures keep the version they signed.
        Its translations stay with the old version: they translate the old text."""
        summary = self.summary if summary is None else summary
        if (title, summary, body) == (self.title, self.summary, self.body):
            return self
        return LetterVersion.objects.create(title=title, summary=summary, body=body, created_by=by)

    language = settings.LANGUAGE_CODE  # every version is written in English; see LetterTranslation
    is_translation = False

    def in_language(self, language: str) -> "LetterVersion | LetterTranslation":
        """The text to show a reader of `language`: its translation if staff have added one,
        else this original."""
        if language == self.language:
            return self
        return self.translations.filter(language=language).first() or self


# The languages a letter can be translated into: every language of the site but the original's.
TRANSLATION_LANGUAGES = [(code, name) for code, name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


class LetterTranslation(models.Model):
    """A translation of one letter version, added by staff. The English version stays the text
    that counts; the page says so beside a translation."""

    letter_version = models.ForeignKey(LetterVersion, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=10, choices=TRANSLATION_LANGUAGES)
    title = models.CharField(max_length=200)
    summary = models.CharField(
        max_length=400, help_text="The original's one-sentence summary, translated (a little longer is fine)."
    )
    body = models.TextField(help_text="Markdown, as the original's: keep its headings and paragraphs.")
    created_at = models.DateTimeField(default=timezone.now)

    is_translation = True

    class Meta:
        ordering = ["language"]
        constraints = [
            models.UniqueConstraint(fields=["letter_version", "language"], name="letter_translation_unique"),
            models.CheckConstraint(
                condition=Q(language__in=[code for code, _ in TRANSLATION_LANGUAGES]),
                name="letter_translation_language_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_language_display()}: {self.title}"

    @property
    def body_html(self) -> str:
        return render_markdown(self.body)

    @property
    def original(self) -> LetterVersion:
        return self.letter_version

    @property
    def created_by(self):
        return self.letter_version.created_by


# The names the first migration gives the professions and guilds, here so that makemessages
# finds them: a page shows such a name in the reader's language (one staff add shows as typed).
SEEDED_CHOICE_NAMES = [
    gettext_noop("Actor / performer"),
    gettext_noop("Writer"),
    gettext_noop("Director"),
    gettext_noop("Producer"),
    gettext_noop("Executive"),
    gettext_noop("Below-the-line crew"),
    gettext_noop("Online video creator"),
    gettext_noop("Podcaster"),
    gettext_noop("Newsletter writer / journalist"),
    gettext_noop("Musician"),
    gettext_noop("Visual artist"),
    gettext_noop("Technologist"),
    gettext_noop("Other"),
]


class Guild(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first on the form.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """The name in the active language (see SEEDED_CHOICE_NAMES)."""
        return gettext(self.name) if self.name else self.name


class Profession(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first on the form.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """The name in the active language (see SEEDED_CHOICE_NAMES)."""
        return gettext(self.name) if self.name else self.name


class SignatureQuerySet(models.QuerySet):
    def counted(self):
        """The signatures in the public count: email confirmed, not rejected or withdrawn,
        and not held by a flag that staff have yet to clear (approval clears flags)."""
        return self.filter(
            Q(status=Signature.Status.APPROVED) | Q(status=Signature.Status.CONFIRMED, flags=[])
        )

    def published(self):
        """The signatures on the public list: approved by staff, and the signer agreed."""
        return self.filter(status=Signature.Status.APPROVED, show_publicly=True)

    def awaiting_review(self):
        """Counted but not yet on the public list because no one has reviewed them: confirmed,
        unflagged, and the signer chose to be listed."""
        return self.filter(status=Signature.Status.CONFIRMED, flags=[], show_publicly=True)

    def held(self):
        """Confirmed, but a flag keeps them out of the count until staff decide."""
        return self.filter(status=Signature.Status.CONFIRMED).exclude(flags=[])

    def verified(self):
        """Staff have verified them as the person named."""
        return self.filter(verified_at__isnull=False)

    def routinely_approvable(self):
        """What a routine approval (one or in bulk) may publish: unmoderated or rejected, and
        with no flag at all. A flag is a reason for a person to look."""
        return self.filter(status__in=[Signature.Status.CONFIRMED, Signature.Status.REJECTED], flags=[])

    def flags_clearable(self):
        """What "approve and clear flags" may publish: any flag but a watchlist hold (only a
        verification or an explicit namesake approval publishes those) or a second signature
        of one mailbox (which would count one person twice)."""
        return self.filter(status__in=[Signature.Status.CONFIRMED, Signature.Status.REJECTED]).exclude(
            flags__overlap=[Signature.Flag.WATCHLIST, Signature.Flag.DUPLICATE_MAILBOX]
        )

    def watchlist_held(self):
        """Held by the watchlist, or approved before a watched name matched them (to recheck)."""
        return self.filter(
            Q(status=Signature.Status.CONFIRMED, flags__contains=[Signature.Flag.WATCHLIST])
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

    def moderation_queue(self):
        """Confirmed and not yet moderated, oldest first."""
        return self.filter(status=Signature.Status.CONFIRMED).order_by("confirmed_at", "pk")

    def triaged(self):
        """In the order a person should read them: flagged first, then notable (with a credit),
        then the rest, each oldest first; signature_triage indexes it within the queue."""
        return self.order_by(*TRIAGE_ORDER)

    def rejectable(self):
        S = Signature.Status
        return self.filter(status__in=[S.CONFIRMED, S.APPROVED])

    def featurable(self):
        """Only a verified signature can be featured (signature_featured_is_verified)."""
        return self.filter(
            status=Signature.Status.APPROVED, featured=False, verified_at__isnull=False
        ).exclude(credit="")

    def unfeaturable(self):
        return self.filter(status=Signature.Status.APPROVED, featured=True)

    def moderate(self, action: str, by, job=None) -> list[int]:
        """Apply a bulk action to these rows as one conditional update (only rows still in a
        state that allows it change, so running it twice changes nothing the second time),
        with one ModerationEvent per row changed. Returns the ids changed."""
        allowed, changes = BULK_ACTIONS[action]
        now = timezone.now()
        with transaction.atomic():
            # Locking re-checks the condition against rows a concurrent transaction just changed.
            rows = getattr(self.order_by(), allowed)().select_for_update(of=("self",))
            found = list(rows.values_list("pk", "flags"))
            ids = [pk for pk, _ in found]
            if ids:
                Signature.objects.filter(pk__in=ids).update(**changes(now))
                ModerationEvent.objects.bulk_create(
                    ModerationEvent(
                        signature_id=pk,
                        action=action,
                        actor=by,
                        job=job,
                        created_at=now,
                        # As Signature.approve_clearing_flags() notes them.
                        note=f"Cleared: {', '.join(flags)}"
                        if action == "approve_clearing_flags" and flags
                        else "",
                    )
                    for pk, flags in found
                )
        return ids

    def name_matches(self, text: str):
        """Names containing every word of `text` as the start of a word, ignoring case and
        accents ("zoe ob" finds "Zoë O'Brien"), through a full-text index on search_name."""
        words = name_words(text)
        if not words:
            return self.none()
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), config="simple", search_type="raw")
        return self.alias(search=SearchVector("search_name", config="simple")).filter(search=query)

    def public_list(
        self,
        *,
        q: str = "",
        guild: Guild | None = None,
        profession: Profession | None = None,
        verified: bool = False,
    ):
        """The public list in its order (featured first, then by name), filtered."""
        signatures = self.published()
        if verified:
            signatures = signatures.verified()
        if q:
            signatures = signatures.name_matches(q)
        if guild is not None:
            signatures = signatures.filter(
                models.Exists(
                    Signature.guilds.through.objects.filter(signature=models.OuterRef("pk"), guild=guild)
                )
            )
        if profession is not None:
            signatures = signatures.filter(profession=profession)
        return signatures.order_by(*(SEARCH_ORDER if q else PUBLIC_ORDER))

    def first_matches(
        self, text: str, *, after: "PublicListKey | None" = None, limit: int
    ) -> list[int] | None:
        """The ids of the first `limit` listed names matching `text` (as name_matches() matches),
        in the list's order, after `key`: found by walking the list's index, or None when they are
        not all within the next SEARCH_WALK_ROWS listed names, for the caller to sort every match
        instead. A common surname is spread over the whole list, so a page of it turns up within a
        few thousand names (an index-only scan, a few milliseconds at a million), where sorting
        its matches means reading every one of them; a rare name, or a first name (all its
        bearers sit together in name order), is better sorted."""
        words = name_words(text)
        if not words:
            return []
        if len(words) > 1:
            return None  # two words narrow a search to few names, which sorting handles at once
        # LIKE is a cheap first sieve (the name contains each word); the full-text match decides,
        # so that the walk finds exactly what name_matches() finds.
        likes = " AND ".join(["search_name LIKE lower(%s)"] * len(words))
        patterns = ["%" + re.sub(r"([\\%_])", r"\\\1", word) + "%" for word in words]
        query = " & ".join(f"{word}:*" for word in words)
        seek, seek_params = "", []
        if after is not None:
            seek = "AND ((NOT featured), search_name, created_at) > (%s, %s, %s)"
            seek_params = [not after.featured, after.search_name, after.created_at]
        sql = f"""
            SELECT id FROM (
                SELECT id, (NOT featured) AS not_featured, search_name, created_at
                FROM pledges_signature
                WHERE status = 'approved' AND show_publicly {seek}
                ORDER BY (NOT featured), search_name, created_at, id
                LIMIT %s
            ) AS walked
            WHERE {likes} AND to_tsvector('simple', search_name) @@ to_tsquery('simple', %s)
            ORDER BY not_featured, search_name, created_at, id
            LIMIT %s
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, [*seek_params, SEARCH_WALK_ROWS, *patterns, query, limit])
            ids = [row[0] for row in cursor.fetchall()]
        return ids if len(ids) == limit else None

    def after(self, key: "PublicListKey"):
        """Keyset (seek) pagination for public_list(): the rows after `key`, found through the
        index in the time the first page takes, however deep."""
        return self.filter(
            models.expressions.RawSQL(
                "(NOT pledges_signature.featured, pledges_signature.search_name,"
                " pledges_signature.created_at) > (%s, %s, %s)",
                [not key.featured, key.search_name, key.created_at],
                output_field=models.BooleanField(),
            )
        )

    def update_recipients(self):
        """Who an update goes to: email confirmed (or approved), not rejected or withdrawn,
        opted in to news, and not unsubscribed since."""
        return self.filter(
            status__in=[Signature.Status.CONFIRMED, Signature.Status.APPROVED],
            updates_opt_in=True,
            unsubscribed_at__isnull=True,
        )

    def capped_count(self, cap: int) -> int:
        """How many rows, counting no further than cap + 1 (COUNT over a LIMIT): "more than
        1,000 match" costs the same however many do."""
        return self.order_by()[: cap + 1].count()

    def expired_unconfirmed(self, now=None):
        cutoff = (now or timezone.now()) - timedelta(days=settings.UNCONFIRMED_EXPIRY_DAYS)
        return self.filter(status=Signature.Status.PENDING, created_at__lt=cutoff)


# Signature.Status and Signature.Flag; defined out here so that Signature.Meta's constraints can
# name them (a nested Meta cannot see the names of the class around it).
class SignatureStatus(models.TextChoices):
    PENDING = "pending", "Pending (email not confirmed)"
    CONFIRMED = "confirmed", "Confirmed, not yet moderated"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class SignatureFlag(models.TextChoices):
    WATCHLIST = "watchlist", "Name on the watchlist"
    IP_BURST = "ip_burst", "Burst from one IP"
    DOMAIN_BURST = "domain_burst", "Burst from one email domain"
    MACHINE_NAME = "machine_name", "Name looks machine-made"
    IP_SOFT_LIMIT = "ip_soft_limit", "Past the per-IP soft limit"
    MIXED_SCRIPT = "mixed_script", "Name mixes scripts inside a word"
    DUPLICATE_MAILBOX = "duplicate_mailbox", "A second signature of one mailbox"


class SignatureVerificationMethod(models.TextChoices):
    AGENT = "agent", "Through their agent or manager"
    GUILD = "guild", "Through their guild"
    SOCIAL = "social", "A verified social media account"
    OWN_DOMAIN = "own_domain", "Mail from a domain they control"
    IN_PERSON = "in_person", "In person"
    OTHER = "other", "Other (see the note)"


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
        constraints = [
            models.UniqueConstraint(fields=["mailbox"], name="signature_mailbox_unique"),
            models.CheckConstraint(
                condition=(
                    Q(status="withdrawn", mailbox__isnull=True)
                    | (
                        Q(mailbox__isnull=False)
                        & ~Q(status="withdrawn")
                        & ~Q(flags__contains=["duplicate_mailbox"])
                    )
                    | (
                        Q(mailbox__isnull=True, flags__contains=["duplicate_mailbox"])
                        & ~Q(status__in=["approved", "withdrawn"])
                    )
                ),
                name="signature_mailbox_present",
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="signature_email_normalised"),
            models.CheckConstraint(
                condition=Q(status__in=SignatureStatus.values), name="signature_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(flags__contained_by=SignatureFlag.values), name="signature_flags_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[SignatureStatus.CONFIRMED, SignatureStatus.APPROVED])
                | Q(confirmed_at__isnull=False),
                name="signature_confirmed_has_time",
            ),
            # Withdrawal erases the person: no email, name or IP hash survives it.
            models.CheckConstraint(
                condition=(
                    Q(
                        status=SignatureStatus.WITHDRAWN,
                        withdrawn_at__isnull=False,
                        email__isnull=True,
                        full_name="",
                        ip_hash="",
                        name_keys=[],
                        verification_note="",
                    )
                    | (
                        ~Q(status=SignatureStatus.WITHDRAWN)
                        & Q(withdrawn_at__isnull=True, email__isnull=False)
                    )
                ),
                name="signature_withdrawn_is_erased",
            ),
            models.CheckConstraint(
                condition=Q(featured=False) | Q(status=SignatureStatus.APPROVED, verified_at__isnull=False),
                name="signature_featured_is_verified",
            ),
            models.CheckConstraint(
                condition=Q(verified_at__isnull=True, verification_method="")
                | Q(
                    status=SignatureStatus.APPROVED,
                    verified_at__isnull=False,
                    verification_method__in=SignatureVerificationMethod.values,
                ),
                name="signature_verified_is_approved",
            ),
            models.CheckConstraint(
                condition=Q(namesake=False) | Q(status=SignatureStatus.APPROVED, verified_at__isnull=True),
                name="signature_namesake_is_approved",
            ),
            # A watchlist hold is published only by a person deciding who it is.
            models.CheckConstraint(
                condition=~Q(status=SignatureStatus.APPROVED, flags__contains=[SignatureFlag.WATCHLIST])
                | Q(verified_at__isnull=False)
                | Q(namesake=True),
                name="signature_watchlist_approved_by_decision",
            ),
            models.CheckConstraint(
                condition=Q(language__in=[code for code, _ in settings.LANGUAGES]),
                name="signature_language_valid",
            ),
            # A journalist quotes a featured name with what the person is known for.
            models.CheckConstraint(
                condition=Q(featured=False) | ~Q(credit=""), name="signature_featured_has_credit"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="signature_created"),
            # purge_unconfirmed: pending signatures older than the expiry.
            models.Index(
                fields=["created_at"],
                condition=Q(status=SignatureStatus.PENDING),
                name="signature_pending_created",
            ),
            # review.bursts: signatures from one IP hash within the last hour ...
            models.Index(fields=["ip_hash", "created_at"], name="signature_ip_hash_created"),
            # ... and from one email domain.
            models.Index(EMAIL_DOMAIN, "created_at", name="signature_domain_created"),
            # The moderation queue: confirmed, oldest first.
            models.Index(
                fields=["confirmed_at", "id"],
                condition=Q(status=SignatureStatus.CONFIRMED),
                name="signature_queue",
            ),
            # Admin filters, each with the changelist's newest-first order.
            models.Index(fields=["status", "created_at"], name="signature_status_created"),
            models.Index(fields=["profession", "created_at"], name="signature_profession_created"),
            # With the id, so that the changelist's capped count can be an index-only scan.
            models.Index(
                fields=["created_at", "id"], condition=Q(featured=True), name="signature_featured_created"
            ),
            models.Index(
                fields=["created_at", "id"], condition=~Q(flags=[]), name="signature_flagged_created"
            ),
            GinIndex(fields=["flags"], name="signature_flags"),
            # The admin's language filter. English is most signatures, and the created_at index
            # serves it; the others are few, and an index of just them costs English signing nothing.
            models.Index(
                fields=["language", "created_at"],
                condition=~Q(language="en"),
                name="signature_language_created",
            ),
            # The moderation queue in triage order (TRIAGE_ORDER).
            models.Index(
                Func(F("flags"), template="(%(expressions)s = '{}')"),
                Func(F("credit"), template="(%(expressions)s = '')"),
                F("confirmed_at"),
                F("id"),
                condition=Q(status="confirmed"),
                name="signature_triage",
            ),
            # updates.queue_recipients(): the recipients of an update, walked in id order.
            models.Index(
                fields=["id"],
                condition=Q(
                    status__in=[SignatureStatus.CONFIRMED, SignatureStatus.APPROVED],
                    updates_opt_in=True,
                    unsubscribed_at=None,
                ),
                name="signature_update_recipients",
            ),
            # A newly watched name: the signatures already made under it.
            GinIndex(fields=["name_keys"], name="signature_name_keys"),
            # The recheck filter: approved signatures a newly watched name matched.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(watchlist_recheck=True),
                name="signature_recheck_created",
            ),
            models.Index(
                fields=["created_at", "id"],
                condition=Q(verified_at__isnull=False),
                name="signature_verified_created",
            ),
            # The public list in its order (PUBLIC_ORDER), read from the top or from a key; with
            # the id, and featured itself (PostgreSQL reads only plain columns from an index), so
            # that a search can walk it without reading the table (first_matches()).
            models.Index(
                Func(F("featured"), template="(NOT %(expressions)s)"),
                F("search_name"),
                F("created_at"),
                F("id"),
                condition=Q(status=SignatureStatus.APPROVED, show_publicly=True),
                include=["featured"],
                name="signature_public_order_id",
            ),
            # ?profession= (with or without ?guild=): the listed rows of one profession in the
            # list's order, and their ids for counting a filter's matches without the table.
            models.Index(
                F("profession"),
                Func(F("featured"), template="(NOT %(expressions)s)"),
                F("search_name"),
                F("created_at"),
                F("id"),
                condition=Q(status=SignatureStatus.APPROVED, show_publicly=True),
                name="signature_public_profession",
            ),
            # ?verified=1: the same order over the few verified rows.
            models.Index(
                Func(F("featured"), template="(NOT %(expressions)s)"),
                F("search_name"),
                F("created_at"),
                condition=Q(status="approved", show_publicly=True, verified_at__isnull=False),
                name="signature_public_verified",
            ),
            # Name search in the admin (every status) ...
            GinIndex(SearchVector("search_name", config="simple"), name="signature_search_name"),
            # ... and ?q= on the public list, over the listed rows only: half the rows to fetch.
            GinIndex(
                SearchVector("search_name", config="simple"),
                condition=Q(status=SignatureStatus.APPROVED, show_publicly=True),
                name="signature_public_search",
            ),
        ]

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
        details = [
            self.full_name,
            self.profession_id,
            guilds,
            self.credit,
            str(self.country),
            self.show_publicly,
            self.updates_opt_in,
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
        if not self.show_publicly or self.status not in {S.PENDING, S.CONFIRMED, S.APPROVED}:
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
            self.status in (self.Status.CONFIRMED, self.Status.APPROVED)
            and self.updates_opt_in
            and self.unsubscribed_at is None
        )

    def _transition(self, allowed_from, condition=None, **changes) -> bool:
        """Apply changes only if the row is still in one of the allowed states, so that a
        double click or two moderators at once change it once. Returns whether it changed."""
        rows = Signature.objects.filter(pk=self.pk, status__in=allowed_from)
        if condition is not None:
            rows = rows.filter(condition)
        changed = rows.update(**changes)
        if changed:
            for field, value in changes.items():
                setattr(self, field, value)
        else:
            self.refresh_from_db()
        return bool(changed)

    def confirm(self) -> bool:
        """Under the automatic publication policy an unflagged signature is approved at once;
        otherwise (or when flagged) it waits in the moderation queue."""
        now = timezone.now()
        if SigningStatus.current().publishes_at_once:
            with transaction.atomic():
                approved = self._transition(
                    [self.Status.PENDING],
                    Q(flags=[]),
                    status=self.Status.APPROVED,
                    confirmed_at=now,
                    moderated_at=now,
                )
                if approved:
                    ModerationEvent.objects.create(
                        signature=self, action=ModerationEvent.Action.PUBLISH_AT_ONCE
                    )
                    return True
        return self._transition([self.Status.PENDING], status=self.Status.CONFIRMED, confirmed_at=now)

    def _moderate(self, action: str, by, allowed_from, condition=None, note: str = "", **changes) -> bool:
        with transaction.atomic():
            changed = self._transition(allowed_from, condition, **changes)
            if changed:
                ModerationEvent.objects.create(signature=self, action=action, actor=by, note=note)
        return changed

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def approve(self, by) -> bool:
        """A routine approval: publishes only a signature without flags (routinely_approvable)."""
        S = self.Status
        return self._moderate(
            ModerationAction.APPROVE,
            by,
            [S.CONFIRMED, S.REJECTED],
            Q(flags=[]),
            status=S.APPROVED,
            moderated_at=timezone.now(),
        )

    def approve_clearing_flags(self, by) -> bool:
        """Approve, clearing any flag but a watchlist hold or a duplicate mailbox (flags_clearable)."""
        S = self.Status
        cleared = ", ".join(self.flags)
        return self._moderate(
            ModerationAction.APPROVE_CLEARING_FLAGS,
            by,
            [S.CONFIRMED, S.REJECTED],
            ~Q(flags__overlap=[self.Flag.WATCHLIST, self.Flag.DUPLICATE_MAILBOX]),
            note=f"Cleared: {cleared}" if cleared else "",
            status=S.APPROVED,
            flags=[],
            moderated_at=timezone.now(),
        )

    def approve_as_namesake(self, by, note: str = "") -> bool:
        """Publish a watchlist match as someone else who shares the name: listed without the
        Verified mark, profession and credit shown, so that nobody takes it for the famous one."""
        S = self.Status
        return self._moderate(
            ModerationAction.APPROVE_NAMESAKE,
            by,
            [S.CONFIRMED, S.REJECTED, S.APPROVED],
            (Q(flags__contains=[self.Flag.WATCHLIST]) | Q(watchlist_recheck=True))
            & Q(verified_at__isnull=True, namesake=False)
            & ~Q(flags__contains=[self.Flag.DUPLICATE_MAILBOX]),
            note=note,
            status=S.APPROVED,
            namesake=True,
            watchlist_recheck=False,
            moderated_at=timezone.now(),
        )

    def verify(self, by, method: str, note: str = "") -> bool:
        """Staff have checked that the person named signed (how: `method`); this also approves."""
        if method not in self.VerificationMethod.values:
            raise ValueError(f"unknown verification method {method!r}")
        S = self.Status
        now = timezone.now()
        label = self.VerificationMethod(method).label
        return self._moderate(
            ModerationAction.VERIFY,
            by,
            [S.CONFIRMED, S.APPROVED, S.REJECTED],
            Q(verified_at__isnull=True) & ~Q(flags__contains=[self.Flag.DUPLICATE_MAILBOX]),
            note=f"{label}: {note}" if note else label,
            status=S.APPROVED,
            verified_at=now,
            verified_by=by,
            verification_method=method,
            verification_note=note,
            namesake=False,
            watchlist_recheck=False,
            moderated_at=now if self.status != S.APPROVED else self.moderated_at,
        )

    def reject(self, by) -> bool:
        S = self.Status
        return self._moderate(
            ModerationAction.REJECT,
            by,
            [S.CONFIRMED, S.APPROVED],
            status=S.REJECTED,
            featured=False,
            namesake=False,
            watchlist_recheck=False,
            verified_at=None,
            verified_by=None,
            verification_method="",
            verification_note="",
            moderated_at=timezone.now(),
        )

    def feature(self, by) -> bool:
        """Only a verified, approved signature with a credit (signature_featured_is_verified,
        signature_featured_has_credit): a journalist can quote it."""
        return self._moderate(
            ModerationAction.FEATURE,
            by,
            [self.Status.APPROVED],
            Q(featured=False, verified_at__isnull=False) & ~Q(credit=""),
            featured=True,
        )

    def unfeature(self, by) -> bool:
        return self._moderate(
            ModerationAction.UNFEATURE, by, [self.Status.APPROVED], Q(featured=True), featured=False
        )

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
            changed = self._transition(
                [s for s in self.Status.values if s != self.Status.WITHDRAWN],
                status=self.Status.WITHDRAWN,
                withdrawn_at=timezone.now(),
                full_name="",
                email=None,
                mailbox=None,
                name_keys=[],
                watchlist_match=None,
                watchlist_recheck=False,
                namesake=False,
                verified_at=None,
                verified_by=None,
                verification_method="",
                verification_note="",
                credit="",
                country="",
                ip_hash="",
                show_publicly=False,
                featured=False,
                flags=[],
            )
            if changed:
                self.guilds.clear()
                # Sent ones too, to every spelling: they carry the name and the address.
                OutgoingEmail.objects.filter(Q(to=email) | Q(mailbox=mailbox)).delete()
                UpdateDelivery.objects.filter(signature=self).delete()
        return changed


# The public list's order; signature_public_order indexes it and after() seeks in it.
PUBLIC_ORDER = [
    models.expressions.RawSQL("NOT pledges_signature.featured", []),
    "search_name",
    "created_at",
    "pk",
]
# How far first_matches() walks the public list before it leaves a search to sorting.
SEARCH_WALK_ROWS = 20_000
# The same order, in a form that index cannot serve. Matching names sit together in name order
# (every "Maria …" in one stretch a third of the way down), so walking the index until a page of
# matches turns up can read a third of the table; a search instead finds its matches through
# signature_public_search and sorts just those.
SEARCH_ORDER = [models.expressions.RawSQL("(NOT pledges_signature.featured)::int", []), *PUBLIC_ORDER[1:]]

# The queue's triage order (flagged, then with a credit, then the rest; false sorts first);
# signature_triage indexes it.
TRIAGE_ORDER = [
    models.expressions.RawSQL("pledges_signature.flags = '{}'", []).asc(),
    models.expressions.RawSQL("pledges_signature.credit = ''", []).asc(),
    F("confirmed_at").asc(),
    F("id").asc(),
]

# What each bulk action may change (a SignatureQuerySet method) and how.
# The changes match the Signature methods of the same names.
BULK_ACTIONS = {
    "approve": ("routinely_approvable", lambda now: {"status": "approved", "moderated_at": now}),
    "approve_clearing_flags": (
        "flags_clearable",
        lambda now: {"status": "approved", "flags": [], "moderated_at": now},
    ),
    "reject": (
        "rejectable",
        lambda now: {
            "status": "rejected",
            "featured": False,
            "namesake": False,
            "watchlist_recheck": False,
            "verified_at": None,
            "verified_by": None,
            "verification_method": "",
            "verification_note": "",
            "moderated_at": now,
        },
    ),
    "feature": ("featurable", lambda now: {"featured": True}),
    "unfeature": ("unfeaturable", lambda now: {"featured": False}),
}


class PublicListKey(typing.NamedTuple):
    """Where a page of the public list ends: the name as sorted and the signing time, never an id.
    In a link it is encrypted (AES-GCM, keyed from SECRET_KEY), so that it publishes no one's
    signing time and cannot be made up. (Two listed people with the same name who signed in the
    same microsecond would share a key: the next page would skip the second.)"""

    featured: bool
    search_name: str
    created_at: datetime

    PADDING = 64  # plaintexts padded to a multiple of this, so the length says little of the name

    @staticmethod
    def _cipher() -> AESGCM:
        return AESGCM(salted_hmac("pledges.list", "page key", algorithm="sha256").digest())

    def encode(self) -> str:
        plain = json.dumps(
            [self.featured, self.search_name, self.created_at.isoformat()], ensure_ascii=False
        ).encode()
        plain += b" " * (-len(plain) % self.PADDING)
        nonce = os.urandom(12)
        sealed = nonce + self._cipher().encrypt(nonce, plain, b"pledges.list")
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str) -> "PublicListKey":
        """Raises ValueError (or TypeError) for a token this site did not make."""
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = cls._cipher().decrypt(sealed[:12], sealed[12:], b"pledges.list")
        except (binascii.Error, InvalidTag) as error:
            raise ValueError("not a page key") from error
        featured, search_name, created_at = json.loads(plain)
        return cls(bool(featured), str(search_name), datetime.fromisoformat(created_at))


class QueuedSignature(Signature):
    """The moderation queue, as its own entry on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "signature awaiting moderation"
        verbose_name_plural = "moderation queue"


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
        from it; the guilds, flags and time each take in their own way)."""
        return {
            "full_name": self.full_name,
            "email": self.email,
            "profession": self.profession,
            "credit": self.credit,
            "country": self.country,
            "show_publicly": self.show_publicly,
            "updates_opt_in": self.updates_opt_in,
            "ip_hash": self.ip_hash,
            "language": self.language,
            "letter_version": self.letter_version,
        }


class ModerationAction(models.TextChoices):
    """ModerationEvent.Action (out here for the same reason as SignatureStatus)."""

    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    FEATURE = "feature", "Featured"
    UNFEATURE = "unfeature", "Unfeatured"
    RESEND_CONFIRMATION = "resend_confirmation", "Resent the confirmation email"
    IMPORT = "import", "Imported as approved"
    PUBLISH_AT_ONCE = "publish_at_once", "Published at once (automatic policy)"
    VERIFY = "verify", "Verified as the person named"
    APPROVE_CLEARING_FLAGS = "approve_clearing_flags", "Approved, clearing flags"
    APPROVE_NAMESAKE = "approve_namesake", "Approved as a namesake"
    HOLD = "hold", "Held for staff"


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


class ModerationEvent(models.Model):
    """Who did what to a signature, and when. Kept after withdrawal: it holds no personal data."""

    Action = ModerationAction

    signature = models.ForeignKey(Signature, on_delete=models.CASCADE, related_name="moderation_events")
    action = models.CharField(max_length=30, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set when a bulk job made the change, so that the job's log lists every row it changed.
    job = models.ForeignKey(
        "BulkModerationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    note = models.CharField(max_length=600, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=ModerationAction.values),
                name="moderation_event_action_valid",
            )
        ]
        indexes = [models.Index(fields=["signature", "created_at"], name="moderation_event_signature")]

    def __str__(self) -> str:
        if self.action == self.Action.PUBLISH_AT_ONCE:
            return f"{self.get_action_display()} at {self.created_at:%Y-%m-%d %H:%M}"
        actor = self.actor or "a deleted user"
        return f"{self.get_action_display()} by {actor} at {self.created_at:%Y-%m-%d %H:%M}"


class BulkModerationJobQuerySet(models.QuerySet):
    def unfinished(self):
        return self.filter(state__in=[BulkModerationJob.State.QUEUED, BulkModerationJob.State.RUNNING])


class BulkModerationJob(models.Model):
    """A moderation action on more signatures than a request should touch, run by the worker in
    batches (pledges/bulk.py). The selection is stored as the admin changelist it was made on
    (its model and filters), limited to the signatures that existed when the job was made."""

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    class Action(models.TextChoices):
        APPROVE = "approve", "Approve"
        APPROVE_CLEARING_FLAGS = "approve_clearing_flags", "Approve and clear flags"
        REJECT = "reject", "Reject"
        FEATURE = "feature", "Feature"
        UNFEATURE = "unfeature", "Unfeature"
        RESEND_CONFIRMATION = "resend_confirmation", "Resend the confirmation email"

    action = models.CharField(max_length=30, choices=Action.choices)
    description = models.CharField(max_length=300, help_text="The selection, in words.")
    changelist = models.CharField(max_length=100, help_text="The admin list it was selected on (app.model).")
    query = models.TextField(blank=True, help_text="That list's filters and search, as a query string.")
    max_signature_id = models.BigIntegerField(help_text="Signatures made after the job are not in it.")
    last_signature_id = models.BigIntegerField(default=0, help_text="Progress: the rows up to here are done.")
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Counted when the job starts.")
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = BulkModerationJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "bulk moderation job"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "done", "cancelled", "failed"]),
                name="bulk_job_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    action__in=[
                        "approve",
                        "approve_clearing_flags",
                        "reject",
                        "feature",
                        "unfeature",
                        "resend_confirmation",
                    ]
                ),
                name="bulk_job_action_valid",
            ),
            models.CheckConstraint(
                condition=Q(changed__lte=F("processed")), name="bulk_job_changed_le_processed"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(state__in=["done", "cancelled", "failed"]),
                name="bulk_job_finished_has_end_state",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at", "id"],
                condition=Q(state__in=["queued", "running"]),
                name="bulk_job_unfinished",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.description}"

    @property
    def finished(self) -> bool:
        return self.state in {self.State.DONE, self.State.CANCELLED, self.State.FAILED}

    @property
    def percent_done(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, self.processed * 100 // self.total)

    def cancel(self, by) -> bool:
        """Stop before the next batch; what is done stays done (each batch is one transaction)."""
        changed = (
            BulkModerationJob.objects.unfinished()
            .filter(pk=self.pk)
            .update(state=self.State.CANCELLED, cancelled_by=by, finished_at=timezone.now())
        )
        self.refresh_from_db()
        return bool(changed)


class WatchedNameQuerySet(models.QuerySet):
    def first_by_key(self, keys):
        """(key, the id of the first watched name with that key) for those of the keys watched.
        Through WatchedNameKey's b-tree index: exact row estimates, so the planner never prefers
        reading the whole watchlist (as it does for a GIN search on an array)."""
        return (
            WatchedNameKey.objects.filter(key__in=keys)
            .values_list("key")
            .annotate(first=Min("watched_name"))
            .order_by()
        )

    def first_matches(self, names: list[str]) -> list[int | None]:
        """For each name, the id of the first watched name it matches (through any of its
        watchlist.match_keys()) on the whole watchlist, or None: one query for any number."""
        keys_of = [watchlist.match_keys(name) for name in names]
        wanted = {key for keys in keys_of for key in keys}
        first_by_key = dict(self.first_by_key(wanted)) if wanted else {}
        return [
            min((first_by_key[key] for key in keys if key in first_by_key), default=None) for keys in keys_of
        ]


def watched_name_key(name: str) -> str:
    """One watched name's identity: its words in any order, any case, any disguise."""
    return " ".join(sorted(watchlist.identifying_words(name.lower())))


class WatchedName(models.Model):
    """A famous name that forgers like to sign with: a signature under it is held for review."""

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    normalised_name = models.GeneratedField(
        expression=normalised_name_sql(F("name")),
        output_field=models.CharField(max_length=NAME_MAX_LENGTH),
        db_persist=True,
    )
    # watchlist.watched_keys(name) and its words in order, kept by save().
    keys = ArrayField(models.CharField(max_length=NAME_KEY_MAX_LENGTH), default=list, editable=False)
    match_key = models.CharField(max_length=NAME_KEY_MAX_LENGTH, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Why it is watched; staff only.")
    created_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WatchedNameQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "watched name"
        constraints = [
            models.UniqueConstraint(F("normalised_name"), name="watched_name_unique"),
            models.UniqueConstraint(fields=["match_key"], name="watched_name_match_key_unique"),
            models.CheckConstraint(condition=~Q(normalised_name=""), name="watched_name_not_blank"),
            models.CheckConstraint(condition=~Q(keys=[]) & ~Q(match_key=""), name="watched_name_has_keys"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.keys = watchlist.watched_keys(self.name)
        self.match_key = watched_name_key(self.name)
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.key_rows.all().delete()
            WatchedNameKey.objects.bulk_create(
                WatchedNameKey(watched_name=self, key=key) for key in self.keys
            )

    def clean(self) -> None:
        if not name_words(self.name) or not watchlist.identifying_words(self.name):
            raise ValidationError({"name": "Please enter a name with letters in it."})
        # The unique constraints are on derived columns, which form validation cannot see.
        match_key = watched_name_key(self.name)
        same = (
            WatchedName.objects.filter(
                Q(match_key=match_key) | Q(normalised_name=normalised_name_sql(Value(self.name)))
            )
            .exclude(pk=self.pk)
            .first()
        )
        if same is not None:
            raise ValidationError(
                {
                    "name": f"This name already exists on the watchlist, as \u201c{same.name}\u201d "
                    "(case, accents, word order, titles and look-alike letters are all matched)."
                }
            )

    def apply_to_signatures(self) -> tuple[int, int]:
        """Apply this watched name to the signatures already made: unmoderated ones are held,
        approved ones (not verified, not namesakes) are listed for staff to recheck. Returns
        how many of each."""
        matching = Signature.objects.filter(name_keys__overlap=self.keys)
        S = Signature.Status
        with transaction.atomic():
            held = (
                matching.filter(status__in=[S.PENDING, S.CONFIRMED])
                .exclude(flags__contains=[Signature.Flag.WATCHLIST])
                .update(
                    flags=Func(F("flags"), Value(Signature.Flag.WATCHLIST), function="array_append"),
                    watchlist_match=self,
                )
            )
            matching.filter(status__in=[S.PENDING, S.CONFIRMED], watchlist_match__isnull=True).update(
                watchlist_match=self
            )
            recheck = matching.filter(
                status=S.APPROVED, verified_at__isnull=True, namesake=False, watchlist_recheck=False
            ).update(watchlist_recheck=True, watchlist_match=self)
        return held, recheck


class WatchedNameKey(models.Model):
    """One of a watched name's keys (WatchedName.keys), one row each, so that matching a new
    signature is one b-tree lookup per key whatever the watchlist's length."""

    watched_name = models.ForeignKey(WatchedName, on_delete=models.CASCADE, related_name="key_rows")
    key = models.CharField(max_length=NAME_KEY_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "watched_name"], name="watched_name_key_unique")
        ]

    def __str__(self) -> str:
        return self.key


class SigningStatus(models.Model):
    """One row: whether staff have paused signing, and what the letter page then says."""

    DEFAULT_MESSAGE = gettext_noop("Signing is paused for the moment. Please come back later.")

    class Publication(models.TextChoices):
        MODERATED = "moderated", "Every name waits for a moderator"
        AT_ONCE = "at_once", "A confirmed signature without flags is published at once; flagged ones wait"

    paused = models.BooleanField(default=False)
    message = models.CharField(
        "message shown while paused",
        max_length=300,
        default=DEFAULT_MESSAGE,
        help_text="Shown on the letter page instead of the form while signing is paused.",
    )
    publication = models.CharField(
        "publication policy",
        max_length=20,
        choices=Publication.choices,
        default=Publication.MODERATED,
        help_text="Switching to publishing at once also publishes the unflagged signatures waiting "
        "in the queue, in the background.",
    )
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "signing status"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="signing_status_single_row"),
            models.CheckConstraint(
                condition=Q(publication__in=["moderated", "at_once"]), name="signing_status_publication_valid"
            ),
        ]

    def __str__(self) -> str:
        return "Signing is paused" if self.paused else "Signing is open"

    @property
    def public_message(self) -> str:
        """The message for the letter page: the default one in the reader's language, one that
        staff wrote as they wrote it."""
        return gettext(self.message) if self.message == self.DEFAULT_MESSAGE else self.message

    @property
    def publishes_at_once(self) -> bool:
        return self.publication == self.Publication.AT_ONCE

    @classmethod
    def current(cls) -> "SigningStatus":
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class AboutPage(models.Model):
    """One row: who is behind the letter and how to reach them, as /about/, /privacy/ and /press/
    show it. Staff edit it in the admin, so that a new organiser or address needs no release."""

    coalition = models.TextField(help_text="Markdown: who the coalition is and why it wrote the letter.")
    organisers = models.TextField(help_text="Markdown: the people and organisations who run it.")
    contact_email = models.EmailField(help_text="For signatories and the public.")
    press_contact = models.CharField(max_length=200, help_text="The name (and role) of the press contact.")
    press_email = models.EmailField()
    press_phone = models.CharField(max_length=50, blank=True)
    data_controller = models.CharField(
        max_length=300,
        help_text="Who holds the signatories' data (the data controller), as /privacy/ names it.",
    )
    postal_address = models.TextField(blank=True, help_text="The data controller's postal address.")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "about page and contacts"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="about_page_single_row")]

    def __str__(self) -> str:
        return "Who is behind the letter, and contacts"

    @classmethod
    def current(cls) -> "AboutPage | None":
        return cls.objects.filter(pk=1).first()

    @property
    def coalition_html(self) -> str:
        return render_markdown(self.coalition)

    @property
    def organisers_html(self) -> str:
        return render_markdown(self.organisers)


class OutgoingEmailQuerySet(models.QuerySet):
    def expired(self, now=None):
        """Delivered or given up on more than OUTBOX_RETENTION_DAYS ago: no longer needed for the
        per-address limit or for staff looking into a delivery, and they hold name and address."""
        cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
        return self.filter(Q(sent_at__lt=cutoff) | Q(failed_at__lt=cutoff))

    def due(self, now=None):
        return self.filter(
            sent_at__isnull=True, failed_at__isnull=True, send_after__lte=now or timezone.now()
        )

    def claim_due(self, count: int) -> list["OutgoingEmail"]:
        """Up to `count` due messages, oldest first, for one worker to send: not due for the
        others for EMAIL_CLAIM_SECONDS, nor, if the worker dies, until then."""
        with transaction.atomic():
            claimed = list(self.due().select_for_update(skip_locked=True).order_by("send_after")[:count])
            until = timezone.now() + timedelta(seconds=settings.EMAIL_CLAIM_SECONDS)
            self.filter(pk__in=[message.pk for message in claimed]).update(send_after=until)
        return claimed

    def release(self, claimed: list["OutgoingEmail"]) -> int:
        """Claimed messages the worker will not send after all: due again, in their old order."""
        if not claimed:
            return 0
        due_again = Case(*(When(pk=message.pk, then=Value(message.send_after)) for message in claimed))
        return self.filter(pk__in=[message.pk for message in claimed]).update(send_after=due_again)


class OutgoingEmail(models.Model):
    """The outbox: a message is stored in the same transaction as the change that causes
    it, and the worker (manage.py deliver_emails) delivers it, retrying temporary failures."""

    to = models.EmailField()
    # The canonical form of `to` (mailboxes.canonical_mailbox): limits count the mailbox.
    mailbox = models.CharField(max_length=MAILBOX_MAX_LENGTH)
    kind = models.CharField(max_length=30)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    send_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = OutgoingEmailQuerySet.as_manager()

    class Meta:
        indexes = [
            # deliver_emails: the due messages, oldest first.
            models.Index(
                fields=["send_after"],
                condition=Q(sent_at__isnull=True, failed_at__isnull=True),
                name="outgoing_email_due",
            ),
            # Erasing a withdrawn signer's mail.
            models.Index(fields=["to"], name="outgoing_email_to"),
            # The per-mailbox daily limit on emails.
            models.Index(fields=["mailbox", "created_at"], name="outgoing_email_mailbox_created"),
            # The admin index's count of failed emails.
            models.Index(
                fields=["failed_at"], condition=Q(failed_at__isnull=False), name="outgoing_email_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def mark_sent(self) -> None:
        self.sent_at = timezone.now()
        self.attempts += 1
        self.save(update_fields=["sent_at", "attempts"])

    def postpone(self, error: Exception) -> None:
        """A temporary failure: try again later, backing off, until it is too old to matter."""
        now = timezone.now()
        self.attempts += 1
        self.last_error = f"{type(error).__name__}: {error}"[:2000]
        if now - self.created_at > timedelta(hours=settings.EMAIL_GIVE_UP_AFTER_HOURS):
            self.failed_at = now
        delay = min(settings.EMAIL_RETRY_BASE_SECONDS * 2 ** (self.attempts - 1), 3600)
        self.send_after = now + timedelta(seconds=delay)
        self.save(update_fields=["attempts", "last_error", "failed_at", "send_after"])

    def mark_failed(self, error: Exception) -> None:
        self.attempts += 1
        self.failed_at = timezone.now()
        self.last_error = f"{type(error).__name__}: {error}"[:2000]
        self.save(update_fields=["attempts", "failed_at", "last_error"])


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
            models.CheckConstraint(
                condition=Q(status__in=["draft", "sending", "sent"]), name="update_status_valid"
            ),
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


class UpdateDeliveryQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(sent_at=None, failed_at=None, send_after__lte=now or timezone.now())

    def expired(self, now=None):
        """Sent or given up on more than OUTBOX_RETENTION_DAYS ago, as for the outbox."""
        cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
        return self.filter(Q(sent_at__lt=cutoff) | Q(failed_at__lt=cutoff))


class UpdateDelivery(models.Model):
    """One update to one signer. The message is rendered when it is sent (each has its own
    unsubscribe link), so a row is a few numbers, not a stored copy of the email."""

    update = models.ForeignKey(Update, on_delete=models.CASCADE, related_name="deliveries")
    signature = models.ForeignKey(Signature, on_delete=models.CASCADE, related_name="update_deliveries")
    created_at = models.DateTimeField(default=timezone.now)
    # When it may next be tried: a retry's back-off, or the end of a worker's claim on it.
    send_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    objects = UpdateDeliveryQuerySet.as_manager()

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
