"""Signing the letter: store the signature and the email it causes, in one transaction."""

from django.db import transaction

from pledges import emails
from pledges.models import LetterVersion, Signature, WatchedName


def review_flags(*, full_name: str, email: str, ip_hash: str) -> set[str]:
    """The reasons (Signature.Flag values) to hold a new signature for staff review: it then
    counts and shows only once approved. Each check adds its flag here."""
    flags = set()
    # Forged famous names have embarrassed open letters on AI: hold any name staff watch.
    if WatchedName.objects.matching(full_name).exists():
        flags.add(Signature.Flag.WATCHLIST)
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
    }
    with transaction.atomic():
        # The lock makes concurrent submissions of one address queue up behind each other;
        # the unique index on lower(email) makes the losers of the insert race find the winner.
        signature, created = Signature.objects.select_for_update().get_or_create(
            email=email, defaults=details
        )
        if created or signature.status == Signature.Status.PENDING:
            if not created:
                # Not yet confirmed: the latest submission is what the person means to sign.
                for field, value in details.items():
                    setattr(signature, field, value)
                signature.save()
            signature.guilds.set(guilds)
            emails.queue_confirmation(signature)
        else:
            emails.queue_already_signed(signature)
    return signature
