"""Signing the letter: store the signature and the email it causes, in one transaction; and
resending the confirmation email."""

from django.conf import settings
from django.db import IntegrityError, transaction

from pledges import emails, review
from pledges.models import LetterVersion, ModerationEvent, Signature, WatchedName


def review_flags(*, full_name: str, email: str, ip_hash: str) -> set[str]:
    """The reasons (Signature.Flag values) to hold a new signature for staff review: it then
    counts and shows only once approved. Each check adds its flag here."""
    flags = set()
    # Forged famous names have embarrassed open letters on AI: hold any name staff watch.
    if WatchedName.objects.matching(full_name).exists():
        flags.add(Signature.Flag.WATCHLIST)
    if review.is_ip_burst(ip_hash):
        flags.add(Signature.Flag.IP_BURST)
    if review.is_domain_burst(email):
        flags.add(Signature.Flag.DOMAIN_BURST)
    if review.looks_machine_made(full_name):
        flags.add(Signature.Flag.MACHINE_NAME)
    return flags


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
) -> Signature:
    """Sign, or sign again. The caller shows the same page either way, so that the page never
    reveals whether an address has signed; the email tells the owner what happened."""
    details = {
        "full_name": full_name,
        "profession": profession,
        "credit": credit,
        "country": country,
        "show_publicly": show_publicly,
        "updates_opt_in": updates_opt_in,
        "ip_hash": ip_hash,
        "flags": sorted(set(flags) | review_flags(full_name=full_name, email=email, ip_hash=ip_hash)),
        "letter_version": LetterVersion.objects.current(),
        "language": language,
    }
    while True:
        try:
            return _sign_first_time(email, details, guilds)
        except IntegrityError as error:
            if getattr(error.__cause__, "diag", None) is None or (
                error.__cause__.diag.constraint_name != "signature_email_unique_ci"
            ):
                raise
        try:
            return _sign_again(email, details, guilds)
        except Signature.DoesNotExist:
            continue  # withdrawn (and erased) in between: the address is free again


def _sign_first_time(email: str, details: dict, guilds) -> Signature:
    # The common case costs one transaction of three INSERTs; the unique index on the email
    # turns a second signature of one address into an IntegrityError, whichever came first.
    with transaction.atomic():
        signature = Signature.objects.create(email=email, **details)
        Signature.guilds.through.objects.bulk_create(
            [Signature.guilds.through(signature=signature, guild=guild) for guild in guilds]
        )
        emails.queue_confirmation(signature)
    return signature


def _sign_again(email: str, details: dict, guilds) -> Signature:
    with transaction.atomic():
        # Concurrent submissions of one address queue up behind this lock.
        signature = Signature.objects.select_for_update().get(email=email)
        if signature.status == Signature.Status.PENDING:
            # Not yet confirmed: the latest submission is what the person means to sign.
            for field, value in details.items():
                setattr(signature, field, value)
            signature.save()
            signature.guilds.set(guilds)
            queue_email = emails.queue_confirmation
        else:
            queue_email = emails.queue_already_signed
        # The page looks the same either way; past the limit the address just gets no more mail,
        # so that the form cannot be used to mail-bomb anyone. The row lock above makes
        # concurrent submissions of one address count one after another.
        if not emails.daily_limit_reached(email):
            queue_email(signature)
    return signature


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
