import typing
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Func, Q, Value
from django.db.models.functions import Lower, TruncDate
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django_countries.fields import CountryField

from pledges.markdown import render_markdown
from pledges.names import name_words, normalised_name_sql

NAME_MAX_LENGTH = 150
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

    def name_matches(self, text: str):
        """Names containing every word of `text` as the start of a word, ignoring case and
        accents ("zoe ob" finds "Zoë O'Brien"), through a full-text index on search_name."""
        words = name_words(text)
        if not words:
            return self.none()
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), config="simple", search_type="raw")
        return self.alias(search=SearchVector("search_name", config="simple")).filter(search=query)

    def public_list(self, *, q: str = "", guild: Guild | None = None, profession: Profession | None = None):
        """The public list in its order (featured first, then by name), filtered."""
        signatures = self.published()
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

    def capped_count(self, cap: int) -> int:
        """How many rows, counting no further than cap + 1 (COUNT over a LIMIT): "more than
        1,000 match" costs the same however many do."""
        return self.order_by()[: cap + 1].count()

    def update_recipients(self):
        """Who an update goes to: email confirmed (or approved), not rejected or withdrawn,
        opted in to news, and not unsubscribed since."""
        return self.filter(
            status__in=[Signature.Status.CONFIRMED, Signature.Status.APPROVED],
            updates_opt_in=True,
            unsubscribed_at__isnull=True,
        )

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


class Signature(models.Model):
    Status = SignatureStatus
    Flag = SignatureFlag

    # The random code that signed links carry; the primary key never leaves the admin.
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    full_name = models.CharField(max_length=NAME_MAX_LENGTH)
    # Stored normalised (lower case); NULL once the signatory withdraws and is erased.
    email = models.EmailField(null=True, blank=True)  # noqa: DJ001 (NULL, not "", so that the unique index ignores erased rows)
    profession = models.ForeignKey(Profession, on_delete=models.PROTECT, related_name="signatures")
    guilds = models.ManyToManyField(Guild, blank=True, related_name="signatures")
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
            models.UniqueConstraint(Lower("email"), name="signature_email_unique_ci"),
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
                    )
                    | (
                        ~Q(status=SignatureStatus.WITHDRAWN)
                        & Q(withdrawn_at__isnull=True, email__isnull=False)
                    )
                ),
                name="signature_withdrawn_is_erased",
            ),
            models.CheckConstraint(
                condition=Q(featured=False) | Q(status=SignatureStatus.APPROVED),
                name="signature_featured_is_approved",
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
            # review.is_ip_burst: signatures from one IP hash within the last hour.
            models.Index(fields=["ip_hash", "created_at"], name="signature_ip_hash_created"),
            # review.is_domain_burst: signatures from one email domain within the last hour.
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
            # The public list in its order (PUBLIC_ORDER), read from the top or from a key.
            models.Index(
                Func(F("featured"), template="(NOT %(expressions)s)"),
                F("search_name"),
                F("created_at"),
                condition=Q(status=SignatureStatus.APPROVED, show_publicly=True),
                name="signature_public_order",
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

    # Links in emails carry the random code, signed with a purpose-specific salt and a
    # timestamp, so that a verify link cannot withdraw and an old link expires.
    TOKEN_MAX_AGE_DAYS = {
        "verify": "VERIFY_LINK_MAX_AGE_DAYS",
        "withdraw": "WITHDRAW_LINK_MAX_AGE_DAYS",
        "unsubscribe": "UNSUBSCRIBE_LINK_MAX_AGE_DAYS",
    }

    def make_token(self, purpose: str) -> str:
        return signing.TimestampSigner(salt=f"pledges.{purpose}").sign(self.code.hex)

    @classmethod
    def from_token(cls, token: str, purpose: str) -> "Signature":
        """Raises signing.SignatureExpired, signing.BadSignature or Signature.DoesNotExist."""
        max_age = timedelta(days=getattr(settings, cls.TOKEN_MAX_AGE_DAYS[purpose]))
        code = signing.TimestampSigner(salt=f"pledges.{purpose}").unsign(token, max_age=max_age)
        try:
            code = uuid.UUID(hex=code)
        except ValueError:
            raise signing.BadSignature("not a signature code") from None
        return cls.objects.get(code=code)

    def link(self, purpose: str) -> str:
        # In the signer's language, on whichever device the email is opened.
        return f"{settings.SITE_URL}/{purpose}/{self.make_token(purpose)}/?lang={self.language}"

    def public_list_key(self) -> "PublicListKey":
        return PublicListKey(self.featured, self.search_name, self.created_at)

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
        return self._transition(
            [self.Status.PENDING], status=self.Status.CONFIRMED, confirmed_at=timezone.now()
        )

    def _moderate(self, action: str, by, allowed_from, condition=None, **changes) -> bool:
        with transaction.atomic():
            changed = self._transition(allowed_from, condition, **changes)
            if changed:
                ModerationEvent.objects.create(signature=self, action=action, actor=by)
        return changed

    def approve(self, by) -> bool:
        """Approval also clears any flag's hold: an approved signature counts and shows."""
        S = self.Status
        return self._moderate(
            ModerationAction.APPROVE,
            by,
            [S.CONFIRMED, S.REJECTED],
            status=S.APPROVED,
            moderated_at=timezone.now(),
        )

    def reject(self, by) -> bool:
        S = self.Status
        return self._moderate(
            ModerationAction.REJECT,
            by,
            [S.CONFIRMED, S.APPROVED],
            status=S.REJECTED,
            featured=False,
            moderated_at=timezone.now(),
        )

    def feature(self, by) -> bool:
        """Only an approved signature with a credit (signature_featured_has_credit)."""
        return self._moderate(
            ModerationAction.FEATURE,
            by,
            [self.Status.APPROVED],
            Q(featured=False) & ~Q(credit=""),
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
            email = self.email
            changed = self._transition(
                [s for s in self.Status.values if s != self.Status.WITHDRAWN],
                status=self.Status.WITHDRAWN,
                withdrawn_at=timezone.now(),
                full_name="",
                email=None,
                credit="",
                country="",
                ip_hash="",
                show_publicly=False,
                featured=False,
                flags=[],
            )
            if changed:
                self.guilds.clear()
                # Sent ones too: they carry the name and the address.
                OutgoingEmail.objects.filter(to=email).delete()
                UpdateDelivery.objects.filter(signature=self).delete()
        return changed


# The public list's order; signature_public_order indexes it and after() seeks in it.
PUBLIC_ORDER = [
    models.expressions.RawSQL("NOT pledges_signature.featured", []),
    "search_name",
    "created_at",
    "pk",
]
# The same order, in a form that index cannot serve. Matching names sit together in name order
# (every "Maria …" in one stretch a third of the way down), so walking the index until a page of
# matches turns up can read a third of the table; a search instead finds its matches through
# signature_public_search and sorts just those.
SEARCH_ORDER = [models.expressions.RawSQL("(NOT pledges_signature.featured)::int", []), *PUBLIC_ORDER[1:]]


class PublicListKey(typing.NamedTuple):
    """Where a page of the public list ends. It holds only what the list shows anyway (the name
    as sorted) and the signing time, never an id, so it can go in a link. (Two listed people with
    the same name who signed in the same microsecond would share a key: the next page would skip
    the second. Keys with the id would rule that out, at the price of publishing ids.)"""

    featured: bool
    search_name: str
    created_at: datetime

    def encode(self) -> str:
        return signing.dumps(
            [self.featured, self.search_name, self.created_at.isoformat()], salt="pledges.list"
        )

    @classmethod
    def decode(cls, token: str) -> "PublicListKey":
        """Raises signing.BadSignature (or ValueError) for a token this site did not make."""
        featured, search_name, created_at = signing.loads(token, salt="pledges.list")
        return cls(bool(featured), str(search_name), datetime.fromisoformat(created_at))


class QueuedSignature(Signature):
    """The moderation queue, as its own entry on the admin index."""

    class Meta:
        proxy = True
        verbose_name = "signature awaiting moderation"
        verbose_name_plural = "moderation queue"


class ModerationAction(models.TextChoices):
    """ModerationEvent.Action (out here for the same reason as SignatureStatus)."""

    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    FEATURE = "feature", "Featured"
    UNFEATURE = "unfeature", "Unfeatured"
    RESEND_CONFIRMATION = "resend_confirmation", "Resent the confirmation email"
    IMPORT = "import", "Imported as approved"


class ModerationEvent(models.Model):
    """Who did what to a signature, and when. Kept after withdrawal: it holds no personal data."""

    Action = ModerationAction

    signature = models.ForeignKey(Signature, on_delete=models.CASCADE, related_name="moderation_events")
    action = models.CharField(max_length=30, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

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
        actor = self.actor or "a deleted user"
        return f"{self.get_action_display()} by {actor} at {self.created_at:%Y-%m-%d %H:%M}"


class WatchedNameQuerySet(models.QuerySet):
    def matching(self, full_name: str):
        return self.filter(normalised_name=normalised_name_sql(Value(full_name)))


class WatchedName(models.Model):
    """A famous name that forgers like to sign with: a signature under it is held for review."""

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    normalised_name = models.GeneratedField(
        expression=normalised_name_sql(F("name")),
        output_field=models.CharField(max_length=NAME_MAX_LENGTH),
        db_persist=True,
    )
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
            models.CheckConstraint(condition=~Q(normalised_name=""), name="watched_name_not_blank"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not name_words(self.name):
            raise ValidationError({"name": "Please enter a name with letters in it."})
        # The unique constraint is on a generated column, which form validation cannot see.
        if WatchedName.objects.matching(self.name).exclude(pk=self.pk).exists():
            raise ValidationError(
                {"name": "This name already exists on the watchlist (ignoring case and accents)."}
            )


class SigningStatus(models.Model):
    """One row: whether staff have paused signing, and what the letter page then says."""

    DEFAULT_MESSAGE = gettext_noop("Signing is paused for the moment. Please come back later.")

    paused = models.BooleanField(default=False)
    message = models.CharField(
        max_length=300, default=DEFAULT_MESSAGE, help_text="Shown on the letter page while paused."
    )
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "signing status"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="signing_status_single_row")]

    def __str__(self) -> str:
        return "Signing is paused" if self.paused else "Signing is open"

    @property
    def public_message(self) -> str:
        """The message for the letter page: the default one in the reader's language, one that
        staff wrote as they wrote it."""
        return gettext(self.message) if self.message == self.DEFAULT_MESSAGE else self.message

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

    def queued_to_since(self, address: str, since):
        return self.filter(to=address, created_at__gte=since)


class OutgoingEmail(models.Model):
    """The outbox: a message is stored in the same transaction as the change that causes
    it, and the worker (manage.py deliver_emails) delivers it, retrying temporary failures."""

    to = models.EmailField()
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
            # The per-address daily limit on emails.
            models.Index(fields=["to", "created_at"], name="outgoing_email_to_created"),
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
