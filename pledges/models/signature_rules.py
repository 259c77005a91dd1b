"""Signature's constraints and indexes (its Meta reads them from here), each rule the database
keeps, and each index with the query it serves."""

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Lower

from pledges.models.enums import SignatureFlag, SignatureStatus, SignatureVerificationMethod
from pledges.models.signer import EMAIL_DOMAIN

S, Flag = SignatureStatus, SignatureFlag

# The rows on the public list (SignatureQuerySet.published), which its indexes cover.
LISTED = Q(status=S.APPROVED, show_publicly=True)

CONSTRAINTS = [
    models.UniqueConstraint(fields=["mailbox"], name="signature_mailbox_unique"),
    models.CheckConstraint(
        condition=(
            Q(status=S.WITHDRAWN, mailbox__isnull=True)
            | (
                Q(mailbox__isnull=False)
                & ~Q(status=S.WITHDRAWN)
                & ~Q(flags__contains=[Flag.DUPLICATE_MAILBOX])
            )
            | (
                Q(mailbox__isnull=True, flags__contains=[Flag.DUPLICATE_MAILBOX])
                & ~Q(status__in=[S.APPROVED, S.WITHDRAWN])
            )
        ),
        name="signature_mailbox_present",
    ),
    models.CheckConstraint(condition=Q(email=Lower("email")), name="signature_email_normalised"),
    models.CheckConstraint(condition=Q(status__in=S.values), name="signature_status_valid"),
    models.CheckConstraint(condition=Q(flags__contained_by=Flag.values), name="signature_flags_valid"),
    models.CheckConstraint(
        condition=~Q(status__in=S.COUNTABLE) | Q(confirmed_at__isnull=False),
        name="signature_confirmed_has_time",
    ),
    # Withdrawal erases the person: no email, name or IP hash survives it.
    models.CheckConstraint(
        condition=(
            Q(
                status=S.WITHDRAWN,
                withdrawn_at__isnull=False,
                email__isnull=True,
                full_name="",
                ip_hash="",
                name_keys=[],
                verification_note="",
            )
            | (~Q(status=S.WITHDRAWN) & Q(withdrawn_at__isnull=True, email__isnull=False))
        ),
        name="signature_withdrawn_is_erased",
    ),
    models.CheckConstraint(
        condition=Q(featured=False) | Q(status=S.APPROVED, verified_at__isnull=False),
        name="signature_featured_is_verified",
    ),
    models.CheckConstraint(
        condition=Q(verified_at__isnull=True, verification_method="")
        | Q(
            status=S.APPROVED,
            verified_at__isnull=False,
            verification_method__in=SignatureVerificationMethod.values,
        ),
        name="signature_verified_is_approved",
    ),
    models.CheckConstraint(
        condition=Q(namesake=False) | Q(status=S.APPROVED, verified_at__isnull=True),
        name="signature_namesake_is_approved",
    ),
    # A watchlist hold is published only by a person deciding who it is.
    models.CheckConstraint(
        condition=~Q(status=S.APPROVED, flags__contains=[Flag.WATCHLIST])
        | Q(verified_at__isnull=False)
        | Q(namesake=True),
        name="signature_watchlist_approved_by_decision",
    ),
    models.CheckConstraint(
        condition=Q(language__in=[code for code, _ in settings.LANGUAGES]),
        name="signature_language_valid",
    ),
    # A journalist quotes a featured name with what the person is known for.
    models.CheckConstraint(condition=Q(featured=False) | ~Q(credit=""), name="signature_featured_has_credit"),
]

INDEXES = [
    models.Index(fields=["created_at"], name="signature_created"),
    # purge_unconfirmed: pending signatures older than the expiry.
    models.Index(
        fields=["created_at"],
        condition=Q(status=S.PENDING),
        name="signature_pending_created",
    ),
    # review.bursts: signatures from one IP hash within the last hour ...
    models.Index(fields=["ip_hash", "created_at"], name="signature_ip_hash_created"),
    # ... and from one email domain.
    models.Index(EMAIL_DOMAIN, "created_at", name="signature_domain_created"),
    # The moderation queue: confirmed, oldest first.
    models.Index(
        fields=["confirmed_at", "id"],
        condition=Q(status=S.CONFIRMED),
        name="signature_queue",
    ),
    # Admin filters, each with the changelist's newest-first order.
    models.Index(fields=["status", "created_at"], name="signature_status_created"),
    models.Index(fields=["profession", "created_at"], name="signature_profession_created"),
    # With the id, so that the changelist's capped count can be an index-only scan.
    models.Index(fields=["created_at", "id"], condition=Q(featured=True), name="signature_featured_created"),
    models.Index(fields=["created_at", "id"], condition=~Q(flags=[]), name="signature_flagged_created"),
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
        condition=Q(status=S.CONFIRMED),
        name="signature_triage",
    ),
    # updates.queue_recipients(): the recipients of an update, walked in id order.
    models.Index(
        fields=["id"],
        condition=Q(status__in=S.COUNTABLE, updates_opt_in=True, unsubscribed_at=None),
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
        condition=LISTED,
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
        condition=LISTED,
        name="signature_public_profession",
    ),
    # ?verified=1: the same order over the few verified rows.
    models.Index(
        Func(F("featured"), template="(NOT %(expressions)s)"),
        F("search_name"),
        F("created_at"),
        condition=LISTED & Q(verified_at__isnull=False),
        name="signature_public_verified",
    ),
    # Name search in the admin (every status) ...
    GinIndex(SearchVector("search_name", config="simple"), name="signature_search_name"),
    # ... and ?q= on the public list, over the listed rows only: half the rows to fetch.
    GinIndex(
        SearchVector("search_name", config="simple"),
        condition=LISTED,
        name="signature_public_search",
    ),
]
