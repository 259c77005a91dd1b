"""One function per email. Each stores an OutgoingEmail row (in the caller's transaction);
`deliver_due()` is the worker's side that sends them."""

import functools
import logging
import smtplib
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError
from django.db import connection as db
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import escape

from pledges.lib.mailboxes import InvalidAddress, canonical_mailbox
from pledges.models import OutgoingEmail, Signature, Update

logger = logging.getLogger(__name__)


def _message(kind: str, signature: Signature, ctx: dict) -> OutgoingEmail:
    """The email, rendered and not yet stored."""
    return _outgoing(kind, signature, *_render(kind, signature.language, ctx))


def _outgoing(kind: str, signature: Signature, subject: str, text: str, html: str, *, mailbox=None):
    return OutgoingEmail(
        to=signature.email,
        mailbox=mailbox or mailbox_of(signature.email),
        kind=kind,
        subject=" ".join(subject.split()),
        body_text=text,
        body_html=html,
    )


def _render(kind: str, language: str, ctx: dict) -> tuple[str, str, str]:
    # In the signer's language, whatever the language of the request (or the worker) that sends.
    with translation.override(language):
        ctx = {**ctx, "site_url": settings.SITE_URL, "language": language}
        return (
            render_to_string(f"emails/{kind}-subject.txt", ctx).strip(),
            render_to_string(f"emails/{kind}-body.txt", ctx),
            render_to_string(f"emails/{kind}-body.html", ctx),
        )


def confirmation(signature: Signature, *, guild_ids=None, mailbox: str | None = None) -> OutgoingEmail:
    """The confirmation email, not yet stored: the worker stores a batch of them in one INSERT.
    `guild_ids`, `mailbox`: the signature's guilds and canonical mailbox, where the caller has
    them (see details_digest).

    A launch spike sends thousands of these, which differ only in the name and the two links:
    the templates are rendered once per language with a marker in each place, and each email
    fills the markers in, escaped where the template escapes (tests/test_emails.py checks that
    this gives what rendering each email would)."""
    subject, text, html = _confirmation_with_markers(
        signature.language, settings.SITE_URL, settings.VERIFY_LINK_MAX_AGE_DAYS
    )
    values = {
        "name": signature.full_name,
        "verify_link": signature.link("verify", guild_ids=guild_ids),
        "withdraw_link": signature.link("withdraw"),
    }

    def fill(rendered: str) -> str:
        for key, value in values.items():
            marker = _marker(key)
            rendered = rendered.replace(escape(marker), escape(value)).replace(marker, value)
        return rendered

    return _outgoing("confirmation", signature, fill(subject), fill(text), fill(html), mailbox=mailbox)


def _marker(key: str) -> str:
    # Private-use characters (neither whitespace nor anything a name or link holds), and a "<"
    # so that an escaping template shows itself by escaping it.
    return f"\ue000{key}<\ue000"


@functools.lru_cache(maxsize=32)
def _confirmation_with_markers(language: str, site_url: str, expiry_days: int) -> tuple[str, str, str]:
    # Keyed by the settings the templates read, so that a change (in a test) renders them again.
    return _render(
        "confirmation",
        language,
        {
            "signature": SimpleNamespace(full_name=_marker("name")),
            "verify_link": _marker("verify_link"),
            "withdraw_link": _marker("withdraw_link"),
            "expiry_days": expiry_days,
        },
    )


def queue_confirmation(signature: Signature) -> OutgoingEmail:
    message = confirmation(signature)
    message.save()
    return message


def queue_already_signed(signature: Signature) -> OutgoingEmail:
    message = _message(
        "already-signed",
        signature,
        {"signature": signature, "withdraw_link": signature.link("withdraw")},
    )
    message.save()
    return message


def update_content(
    update: Update, *, body_html: str, name: str, unsubscribe_link: str, withdraw_link: str, language: str
):
    """The subject, text and HTML of an update as one signer gets it (each has its own links):
    the words around the update in the signer's language, the update as staff wrote it."""
    ctx = {
        "update": update,
        "body_html": body_html,
        "name": name,
        "unsubscribe_link": unsubscribe_link,
        "withdraw_link": withdraw_link,
        "site_url": settings.SITE_URL,
        "language": language,
    }
    with translation.override(language):
        subject = " ".join(render_to_string("emails/update-subject.txt", ctx).split())
        return (
            subject,
            render_to_string("emails/update-body.txt", ctx),
            render_to_string("emails/update-body.html", ctx),
        )


def unsubscribe_headers(unsubscribe_link: str) -> dict:
    """RFC 2369 and RFC 8058 headers: the large mailbox providers show an unsubscribe button
    with them, and require them of bulk senders."""
    targets = [f"<{unsubscribe_link}>"]
    if settings.UNSUBSCRIBE_MAILTO:
        targets.append(f"<mailto:{settings.UNSUBSCRIBE_MAILTO}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def update_message(
    update: Update, signature: Signature, *, body_html: str, connection=None
) -> EmailMultiAlternatives:
    """The update to one signer, rendered at send time, ready to send."""
    unsubscribe_link = signature.link("unsubscribe")
    subject, text, html = update_content(
        update,
        body_html=body_html,
        name=signature.full_name,
        unsubscribe_link=unsubscribe_link,
        withdraw_link=signature.link("withdraw"),
        language=signature.language,
    )
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [signature.email],
        headers=unsubscribe_headers(unsubscribe_link),
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    return message


def queue_update_test(update: Update, *, to: str, name: str, body_html: str) -> OutgoingEmail:
    """The update as a signer will get it, to a staff member through the outbox. Its links are
    made for no signature, so they lead to the "not a valid link" page."""
    stand_in = Signature(full_name=name, language=translation.get_language())
    subject, text, html = update_content(
        update,
        body_html=body_html,
        name=name,
        unsubscribe_link=stand_in.link("unsubscribe"),
        withdraw_link=stand_in.link("withdraw"),
        language=translation.get_language(),
    )
    return OutgoingEmail.objects.create(
        to=to, kind="update-test", subject=f"[Test] {subject}"[:300], body_text=text, body_html=html
    )


def mailbox_of(address: str) -> str:
    try:
        return canonical_mailbox(address)
    except InvalidAddress:
        return address.lower()


def daily_limit_reached(mailbox: str) -> bool:
    return mailbox in at_daily_limit([mailbox])


def at_daily_limit(mailboxes) -> set[str]:
    """Those of the mailboxes (every spelling of each) that have been sent
    EMAILS_PER_ADDRESS_PER_DAY emails in the last day, in one query; the outbox is the record,
    so the limit holds across processes and survives a cache flush."""
    mailboxes = set(mailboxes)
    if not settings.RATELIMIT_ENABLE or not mailboxes:
        return set()
    since = timezone.now() - timedelta(days=1)
    sent = (
        OutgoingEmail.objects.filter(mailbox__in=mailboxes, created_at__gte=since)
        .values("mailbox")
        .annotate(count=Count("pk"))
        .filter(count__gte=settings.EMAILS_PER_ADDRESS_PER_DAY)
        .order_by()
    )
    return set(sent.values_list("mailbox", flat=True))


def is_temporary(error: Exception) -> bool:
    """Whether a failed send is worth retrying: 4xx replies and connection trouble are;
    5xx replies (no such mailbox, refused sender) are not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return not 500 <= error.smtp_code < 600
    return isinstance(error, (smtplib.SMTPException, OSError))


# Messages a worker claims at a time in deliver_due(): one round trip to the database for ten.
DELIVERY_CHUNK = 10


def deliver_due(*, limit: int = 100) -> int:
    """Send up to `limit` due messages over one connection; returns how many were sent.

    Messages are claimed DELIVERY_CHUNK at a time (OutgoingEmail.objects.claim_due), so several
    workers can run at once, and each is marked sent as soon as the server took it. Delivery is
    at least once: a worker killed between the server's "250 OK" and marking the message sent
    sends that one message again; what else it had claimed goes out after EMAIL_CLAIM_SECONDS."""
    sent = tried = 0
    connection = get_connection(fail_silently=False)
    with _commits_not_waiting_for_the_disk():
        try:
            while tried < limit:
                chunk = OutgoingEmail.objects.claim_due(min(DELIVERY_CHUNK, limit - tried))
                if not chunk:
                    break
                for position, message in enumerate(chunk):
                    tried += 1
                    try:
                        # Opened once and kept: send() alone would open and close one per message.
                        connection.open()
                        _as_email(message, connection).send()
                    except Exception as error:
                        connection.close()
                        if not is_temporary(error):
                            logger.warning("email #%s failed for good: %s", message.pk, error)
                            message.mark_failed(error)
                            continue
                        logger.info("email #%s postponed: %s", message.pk, error)
                        message.postpone(error)
                        # The server is unwell: let the next round try again, the rest of the chunk too.
                        OutgoingEmail.objects.release(chunk[position + 1 :])
                        return sent
                    message.mark_sent()
                    sent += 1
        finally:
            connection.close()
    return sent


@contextmanager
def _commits_not_waiting_for_the_disk():
    """Delivery's writes need not wait for the disk: lost in a database crash, a claim or a "sent"
    mark sends the message again (at least once, as ever), and a postponement tries it again.
    Without the wait, marking each message sent costs a round trip and no fsync."""
    with db.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            with db.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            pass  # the connection is gone, and the setting with it


def _as_email(message: OutgoingEmail, connection) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        message.subject, message.body_text, settings.DEFAULT_FROM_EMAIL, [message.to], connection=connection
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email
