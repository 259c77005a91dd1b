import hashlib
import hmac
import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core import signing
from django.db import connection, models, transaction
from django.db.models import Count, F, Func, Q, Value
from django.db.models.functions import Lower, TruncDate
from django.utils import timezone
from django_countries.fields import CountryField

from pledges.snapshots import SharedSnapshot, Snapshot

NAME_MAX_LENGTH = 150
# The domain of a (lower-case) email address, as SQL, so that an index can serve it.
EMAIL_DOMAIN = Func(F("email"), Value("@"), Value(2), function="split_part", output_field=models.CharField())
CREDIT_MAX_LENGTH = 200


def hash_ip(ip: str) -> str:
    """A keyed hash of a client IP: comparable for bursts, not reversible without the key
    (a plain hash of an IPv4 address falls to trying all 2^32 of them)."""
    return hmac.new(settings.IP_HASH_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()


class LetterVersionQuerySet(models.QuerySet):
    def current(self) -> "LetterVersion | None":
        return self.order_by("-created_at", "-pk").first()


class LetterVersion(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Plain text; a blank line starts a new paragraph.")
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


class Guild(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first on the form.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Profession(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=100, help_text="Lower comes first on the form.")

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


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

    def expired_unconfirmed(self, now=None):
        cutoff = (now or timezone.now()) - timedelta(days=settings.UNCONFIRMED_EXPIRY_DAYS)
        return self.filter(status=Signature.Status.PENDING, created_at__lt=cutoff)


class Signature(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending (email not confirmed)"
        CONFIRMED = "confirmed", "Confirmed, not yet moderated"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Flag(models.TextChoices):
        WATCHLIST = "watchlist", "Name on the watchlist"
        IP_BURST = "ip_burst", "Burst from one IP"
        DOMAIN_BURST = "domain_burst", "Burst from one email domain"
        MACHINE_NAME = "machine_name", "Name looks machine-made"
        IP_SOFT_LIMIT = "ip_soft_limit", "Past the per-IP soft limit"

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
    featured = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    flags = ArrayField(models.CharField(max_length=20, choices=Flag.choices), default=list, blank=True)
    letter_version = models.ForeignKey(LetterVersion, on_delete=models.PROTECT, related_name="signatures")
    ip_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    moderated_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = SignatureQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="signature_email_unique_ci"),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="signature_email_normalised"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "confirmed", "approved", "rejected", "withdrawn"]),
                name="signature_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    flags__contained_by=[
                        "watchlist",
                        "ip_burst",
                        "domain_burst",
                        "machine_name",
                        "ip_soft_limit",
                    ]
                ),
                name="signature_flags_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["confirmed", "approved"]) | Q(confirmed_at__isnull=False),
                name="signature_confirmed_has_time",
            ),
            # Withdrawal erases the person: no email, name or IP hash survives it.
            models.CheckConstraint(
                condition=(
                    Q(
                        status="withdrawn",
                        withdrawn_at__isnull=False,
                        email__isnull=True,
                        full_name="",
                        ip_hash="",
                    )
                    | (~Q(status="withdrawn") & Q(withdrawn_at__isnull=True, email__isnull=False))
                ),
                name="signature_withdrawn_is_erased",
            ),
            models.CheckConstraint(
                condition=Q(featured=False) | Q(status="approved"), name="signature_featured_is_approved"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="signature_created"),
            # purge_unconfirmed: pending signatures older than the expiry.
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="signature_pending_created"
            ),
            # review.is_ip_burst: signatures from one IP hash within the last hour.
            models.Index(fields=["ip_hash", "created_at"], name="signature_ip_hash_created"),
            # review.is_domain_burst: signatures from one email domain within the last hour.
            models.Index(EMAIL_DOMAIN, "created_at", name="signature_domain_created"),
        ]

    def __str__(self) -> str:
        return self.full_name or f"(withdrawn signature {self.pk})"

    # Links in emails carry the random code, signed with a purpose-specific salt and a
    # timestamp, so that a verify link cannot withdraw and an old link expires.
    TOKEN_MAX_AGE_DAYS = {"verify": "VERIFY_LINK_MAX_AGE_DAYS", "withdraw": "WITHDRAW_LINK_MAX_AGE_DAYS"}

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
        return f"{settings.SITE_URL}/{purpose}/{self.make_token(purpose)}/"

    @property
    def counts(self) -> bool:
        return self.status == self.Status.APPROVED or (
            self.status == self.Status.CONFIRMED and not self.flags
        )

    def _transition(self, allowed_from, **changes) -> bool:
        """Apply changes only if the row is still in one of the allowed states, so that a
        double click or two moderators at once change it once. Returns whether it changed."""
        changed = Signature.objects.filter(pk=self.pk, status__in=allowed_from).update(**changes)
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
        return changed


def compute_count_snapshot() -> dict:
    counted = Signature.objects.counted()
    by_guild = (
        counted.filter(guilds__isnull=False)
        .values("guilds__slug", "guilds__name")
        .annotate(count=Count("pk"))
        .order_by("-count", "guilds__name")
    )
    by_profession = (
        counted.values("profession__slug", "profession__name")
        .annotate(count=Count("pk"))
        .order_by("-count", "profession__name")
    )
    return {
        "count": counted.count(),
        "published": Signature.objects.published().count(),
        "by_guild": [
            {"slug": row["guilds__slug"], "name": row["guilds__name"], "count": row["count"]}
            for row in by_guild
        ],
        "by_profession": [
            {"slug": row["profession__slug"], "name": row["profession__name"], "count": row["count"]}
            for row in by_profession
        ],
        "as_of": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def compute_history(today=None) -> list[dict]:
    """Signatures per day, from the first confirmation to today, days without any included.
    It is today's view of the past: a signature withdrawn or rejected later leaves the day it was
    confirmed, so that the last running total is always the count."""
    new_by_day = {row["day"]: row["new"] for row in Signature.objects.counted().new_per_day()}
    if not new_by_day:
        return []
    day, last = min(new_by_day), max(max(new_by_day), today or timezone.localdate())
    history, total = [], 0
    while day <= last:
        total += new_by_day.get(day, 0)
        history.append({"date": day.isoformat(), "new": new_by_day.get(day, 0), "total": total})
        day += timedelta(days=1)
    return history


def compute_live_figures() -> dict:
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            # Every query reads the same moment, so that the breakdowns and the history add up
            # to the count even while people sign.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        figures = {"count": compute_count_snapshot(), "history": compute_history()}
    # Encoded once per refresh, not once per request: the JSON API is the hottest path.
    figures["count_json"] = json.dumps(figures["count"]).encode()
    figures["history_json"] = json.dumps(figures["history"]).encode()
    return figures


live_figures = SharedSnapshot("figures", compute_live_figures)


def live_figures_snapshot() -> Snapshot:
    """The count, breakdowns and history, at most COUNT_MAX_AGE_SECONDS old (see snapshots.py)."""
    return live_figures.get()


def count_snapshot() -> dict:
    """The live count and its breakdowns, as /api/count/ serves them."""
    return live_figures.get().data["count"]


class OutgoingEmailQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(
            sent_at__isnull=True, failed_at__isnull=True, send_after__lte=now or timezone.now()
        )

    def sent_to_since(self, address: str, since):
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
