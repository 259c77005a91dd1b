"""Signing the letter. The request stores the form as a Submission (`submit`); the worker
(`process_submissions`) reviews it and stores the signature and the email it causes, in one
transaction, so that no confirmation link leaves unreviewed. Also: resending the confirmation email."""

import logging
import uuid

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from pledges import emails, shared
from pledges import review as review_checks
from pledges.lib import watchlist
from pledges.lib.mailboxes import InvalidAddress, canonical_mailbox
from pledges.models import Guild, ModerationEvent, OutgoingEmail, Signature, Submission, WatchedName

logger = logging.getLogger(__name__)


def review(*, full_name: str, email: str, ip_hash: str) -> tuple[set[str], int | None]:
    """The reasons (Signature.Flag values) to hold a new signature for staff review (it then
    counts and shows only once approved), and the id of the watched name it matches, if any."""
    return review_many([(full_name, email, ip_hash)])[0]


def review_many(signers: list[tuple[str, str, str]]) -> list[tuple[set[str], int | None]]:
    """review() for each (full_name, email, ip_hash) of new signatures, in the order they are
    signed (a burst counts the earlier ones), in three queries however many there are."""
    # Forged famous names have embarrassed open letters on AI: hold any name staff watch, in
    # any of the disguises watchlist.match_keys() sees through.
    watched = WatchedName.objects.first_matches([full_name for full_name, _, _ in signers])
    bursts = review_checks.bursts([(ip_hash, email) for _, email, ip_hash in signers])
    return [
        (
            _flags(full_name, watched=watched_id is not None, ip_burst=ip_burst, domain_burst=domain_burst),
            watched_id,
        )
        for (full_name, _, _), watched_id, (ip_burst, domain_burst) in zip(
            signers, watched, bursts, strict=True
        )
    ]


def _flags(full_name: str, *, watched: bool, ip_burst: bool, domain_burst: bool) -> set[str]:
    flags = set()
    if watched:
        flags.add(Signature.Flag.WATCHLIST)
    if watchlist.mixes_scripts(full_name):
        flags.add(Signature.Flag.MIXED_SCRIPT)
    if ip_burst:
        flags.add(Signature.Flag.IP_BURST)
    if domain_burst:
        flags.add(Signature.Flag.DOMAIN_BURST)
    if review_checks.looks_machine_made(full_name):
        flags.add(Signature.Flag.MACHINE_NAME)
    return flags


def review_flags(*, full_name: str, email: str, ip_hash: str) -> set[str]:
    return review(full_name=full_name, email=email, ip_hash=ip_hash)[0]


def sign(
    *,
    full_name: str,
    email: str,
    profession,
    guilds,
    credit: str = "",
    country: str = "",
    show_publicly: bool = True,
    updates_opt_in: bool = False,
    ip_hash: str = "",
    flags=(),
    language: str = settings.LANGUAGE_CODE,
    letter_version=None,
    signed_at=None,
) -> Signature:
    """Sign, or sign again. The caller shows the same page either way, so that the page never
    reveals whether an address has signed; the email tells the owner what happened.
    Raises mailboxes.InvalidAddress for an address that is not one (the form checks first)."""
    mailbox = canonical_mailbox(email)
    review_flags_found, watched_id = review(full_name=full_name, email=email, ip_hash=ip_hash)
    details = {
        "full_name": full_name,
        "profession": profession,
        "credit": credit,
        "country": country,
        "show_publicly": show_publicly,
        "updates_opt_in": updates_opt_in,
        "ip_hash": ip_hash,
        "flags": sorted(set(flags) | review_flags_found),
        "watchlist_match_id": watched_id,
        "letter_version": letter_version or shared.current_letter.get(),
        "language": language,
    }
    while True:
        try:
            return _sign_first_time(email, mailbox, details, guilds, signed_at or timezone.now())
        except IntegrityError as error:
            if getattr(error.__cause__, "diag", None) is None or (
                error.__cause__.diag.constraint_name != "signature_mailbox_unique"
            ):
                raise
        try:
            return _sign_again(email, mailbox, details, guilds)
        except Signature.DoesNotExist:
            continue  # withdrawn (and erased) in between: the mailbox is free again


def _sign_first_time(email: str, mailbox: str, details: dict, guilds, signed_at) -> Signature:
    # The common case costs one transaction of a few INSERTs; the unique index on the mailbox
    # turns a second signature of one mailbox, in any spelling, into an IntegrityError,
    # whichever came first.
    with transaction.atomic():
        signature = Signature.objects.create(email=email, mailbox=mailbox, created_at=signed_at, **details)
        Signature.guilds.through.objects.bulk_create(
            [Signature.guilds.through(signature=signature, guild=guild) for guild in guilds]
        )
        # Sign, withdraw, sign again: each is a first signature, and each would send an email.
        if not emails.daily_limit_reached(mailbox):
            emails.queue_confirmation(signature)
    return signature


def _sign_again(email: str, mailbox: str, details: dict, guilds) -> Signature:
    with transaction.atomic():
        # Concurrent submissions of one mailbox queue up behind this lock.
        signature = Signature.objects.select_for_update().get(mailbox=mailbox)
        # The page looks the same either way; past the limit the mailbox just gets no more mail,
        # so that the form cannot be used to mail-bomb anyone, and nothing changes, since no email
        # could tell the owner. The row lock above makes concurrent submissions of one mailbox
        # count one after another.
        if emails.daily_limit_reached(mailbox):
            return signature
        if signature.status == Signature.Status.PENDING:
            # Not yet confirmed: the latest submission, in the spelling typed last, is what the
            # person means to sign. Earlier confirmation links carry the earlier details, and no
            # longer confirm.
            for field, value in details.items():
                setattr(signature, field, value)
            signature.email = email
            signature.save()
            signature.guilds.set(guilds)
            emails.queue_confirmation(signature)
        else:
            emails.queue_already_signed(signature)
    return signature


def submit(
    *,
    full_name: str,
    email: str,
    profession,
    guilds,
    credit: str = "",
    country: str = "",
    show_publicly: bool = True,
    updates_opt_in: bool = False,
    ip_hash: str = "",
    flags=(),
    language: str = settings.LANGUAGE_CODE,
) -> Submission:
    """What the sign request does: one INSERT, whatever the address. The worker signs."""
    return Submission.objects.create(
        full_name=full_name,
        email=email,
        profession=profession,
        guild_ids=sorted(guild.pk for guild in guilds),
        credit=credit,
        country=country,
        show_publicly=show_publicly,
        updates_opt_in=updates_opt_in,
        ip_hash=ip_hash,
        flags=sorted(set(flags)),
        language=language,
        letter_version=shared.current_letter.get(),
    )


def process_submissions(*, limit: int | None = None, batch_size: int = 50) -> int:
    """The worker's side of signing: sign up to `limit` waiting submissions (all, if None), oldest
    first, `batch_size` to a transaction that also deletes them (a crash leaves the batch to be
    signed again, and nothing of it was mailed yet). Several workers can run at once: each claims
    its own batch. Returns how many were processed."""
    done = 0
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        with transaction.atomic():
            batch = list(
                Submission.objects.waiting()
                .select_related("profession", "letter_version")
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:size]
            )
            if not batch:
                break
            guild_ids = {pk for submission in batch for pk in submission.guild_ids}
            guilds = Guild.objects.in_bulk(guild_ids) if guild_ids else {}
            signed = _sign_batch(batch, guilds)
            Submission.objects.filter(pk__in=signed).delete()
        done += len(batch)
    return done


def _sign_batch(batch: list[Submission], guilds: dict) -> list[int]:
    """Sign a batch; returns the ids of the submissions done with (signed, or dropped as not an
    address). New mailboxes, the launch spike's common case, are signed together in a few
    queries (_sign_new_mailboxes); the rest one by one (sign()), after them, in order."""
    try:
        with transaction.atomic():
            new = _sign_new_mailboxes(batch, guilds)
    except DatabaseError:
        raise  # the database's trouble (a deadlock, a restart): the batch is retried
    except Exception:
        # One row the batch path cannot take: the one-by-one path keeps that row aside.
        logger.exception("signing %s submissions together failed; signing them one by one", len(batch))
        new = set()
    return sorted(new) + [
        submission.pk
        for submission in batch
        if submission.pk not in new and _sign_submission(submission, guilds)
    ]


def _sign_new_mailboxes(batch: list[Submission], guilds: dict) -> set[int]:
    """sign() for the first submission of each mailbox in the batch that has no signature, all
    at once: one review of three queries, one INSERT of the signatures (a mailbox that has one
    by then is skipped by the unique index: ON CONFLICT DO NOTHING), one of their guilds and one
    of their confirmation emails. Returns the ids of the submissions signed."""
    firsts: dict[str, Submission] = {}
    for submission in batch:
        try:
            firsts.setdefault(canonical_mailbox(submission.email), submission)
        except InvalidAddress:
            continue  # the one-by-one path drops it, and says so
    if not firsts:
        return set()
    entries = list(firsts.values())
    reviews = review_many(
        [(submission.full_name, submission.email, submission.ip_hash) for submission in entries]
    )
    signatures = {}
    for (mailbox, submission), (found, watched_id) in zip(firsts.items(), reviews, strict=True):
        signatures[submission.pk] = Signature(
            **submission.signature_details(),
            code=uuid.uuid4(),
            name_keys=watchlist.match_keys(submission.full_name),
            mailbox=mailbox,
            flags=sorted(set(submission.flags) | found),
            watchlist_match_id=watched_id,
            created_at=submission.received_at,
        )
    Signature.objects.bulk_create(signatures.values(), ignore_conflicts=True)
    # ignore_conflicts sets no primary keys: the random codes tell which rows went in.
    inserted = dict(
        Signature.objects.filter(code__in=[signature.code for signature in signatures.values()]).values_list(
            "code", "pk"
        )
    )
    signed = {pk: signature for pk, signature in signatures.items() if signature.code in inserted}
    for signature in signed.values():
        signature.pk = inserted[signature.code]
    submissions = {submission.pk: submission for submission in entries}
    Signature.guilds.through.objects.bulk_create(
        Signature.guilds.through(signature_id=signature.pk, guild_id=guild_pk)
        for pk, signature in signed.items()
        for guild_pk in submissions[pk].guild_ids
        if guild_pk in guilds
    )
    # Sign, withdraw, sign again: each is a first signature, and each would send an email.
    at_limit = emails.at_daily_limit(signature.mailbox for signature in signed.values())
    OutgoingEmail.objects.bulk_create(
        emails.confirmation(
            signature,
            guild_ids=[pk for pk in submissions[submission_pk].guild_ids if pk in guilds],
            mailbox=signature.mailbox,
        )
        for submission_pk, signature in signed.items()
        if signature.mailbox not in at_limit
    )
    return set(signed)


def _sign_submission(submission: Submission, guilds: dict) -> bool:
    """Sign one submission in a savepoint; False if it failed, and then it is kept with its error,
    so that one bad row never stops the worker from signing the others."""
    try:
        with transaction.atomic():
            _sign(submission, guilds)
    except InvalidAddress:
        # The form checked the address; a later, stricter check can still refuse it.
        logger.warning("submission #%s dropped: not an email address", submission.pk)
    except DatabaseError:
        raise  # the database's trouble, not the row's (a deadlock, a restart): the batch is retried
    except Exception as error:
        logger.exception("submission #%s could not be signed", submission.pk)
        Submission.objects.filter(pk=submission.pk).update(error=f"{type(error).__name__}: {error}"[:2000])
        return False
    return True


def _sign(submission: Submission, guilds: dict) -> None:
    sign(
        **submission.signature_details(),
        guilds=[guilds[pk] for pk in submission.guild_ids if pk in guilds],
        flags=submission.flags,
        signed_at=submission.received_at,
    )


def resend_confirmation(signature: Signature, by) -> bool:
    """Queue a fresh confirmation email, only while the email is unconfirmed; staff do this."""
    with transaction.atomic():
        locked = (
            Signature.objects.select_for_update()
            .filter(pk=signature.pk, status=Signature.Status.PENDING)
            .first()
        )
        if locked is None:
            return False
        emails.queue_confirmation(locked)
        ModerationEvent.objects.create(
            signature=signature, action=ModerationEvent.Action.RESEND_CONFIRMATION, actor=by
        )
    return True
