from datetime import timedelta
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from django.utils.html import escape

from pledges import emails
from pledges.emails import deliver_due
from pledges.models import OutgoingEmail, Signature
from pledges.signing import process_submissions
from tests.utils import link_in, make_signature, start_smtp

pytestmark = pytest.mark.django_db


def test_confirmation_email_arrives_over_smtp_with_absolute_signed_links(
    client, settings, smtp_inbox, valid_form_data
):
    settings.SITE_URL = "https://letter.example.org"
    client.post("/sign/", valid_form_data)
    assert smtp_inbox.messages == [] and deliver_due() == 0  # the request only stored the form
    assert process_submissions() == 1  # the worker signs it and queues the email ...
    assert deliver_due() == 1  # ... then sends it
    [message] = smtp_inbox.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your signature on the open letter"
    verify = link_in(message, "verify")
    assert verify.startswith("https://letter.example.org/verify/")
    assert link_in(message, "withdraw").startswith("https://letter.example.org/withdraw/")
    html = message.get_body(("html",)).get_content()
    assert f'href="{verify}"' in html and "Ada Lovelace" in html
    signature = Signature.objects.get()
    assert Signature.from_token(urlsplit(verify).path.rstrip("/").rsplit("/", 1)[1], "verify") == signature
    assert OutgoingEmail.objects.get().sent_at is not None
    assert deliver_due() == 0  # sent once, not again


def test_already_signed_email_carries_a_withdraw_link(client, smtp_inbox, valid_form_data):
    make_signature(email="ada@example.com", status=Signature.Status.CONFIRMED)
    client.post("/sign/", valid_form_data)
    process_submissions()
    deliver_due()
    [message] = smtp_inbox.messages
    assert message["Subject"] == "You have already signed the open letter"
    assert link_in(message, "withdraw")
    assert "/verify/" not in message.get_body(("plain",)).get_content()


def test_smtp_down_at_first_then_back_delivers_every_message(client, smtp_port, valid_form_data):
    addresses = [f"person{i}@example.com" for i in range(12)]
    for address in addresses:
        assert client.post("/sign/", {**valid_form_data, "email": address}).status_code == 302
    process_submissions()
    # Nothing listens on the port yet: the worker postpones, loses nothing.
    assert deliver_due() == 0
    assert deliver_due() == 0
    postponed = OutgoingEmail.objects.filter(attempts__gt=0)
    assert postponed.count() == 2 and all("Connection" in m.last_error for m in postponed)
    assert OutgoingEmail.objects.filter(sent_at__isnull=True, failed_at__isnull=True).count() == 12

    controller, inbox = start_smtp(smtp_port)
    try:
        sent = sum(deliver_due(limit=5) for _ in range(5))
    finally:
        controller.stop()
    assert sent == 12
    assert sorted(m["To"] for m in inbox.messages) == sorted(addresses)  # each once, none lost
    assert not OutgoingEmail.objects.filter(sent_at__isnull=True).exists()


def test_temporary_refusal_is_retried_and_permanent_refusal_is_not(client, smtp_inbox, valid_form_data):
    smtp_inbox.refuse = {
        "greylisted@example.com": "451 4.7.1 Greylisted, try again later",
        "nobody@example.com": "550 5.1.1 No such user",
    }
    for address in ["greylisted@example.com", "nobody@example.com", "fine@example.com"]:
        client.post("/sign/", {**valid_form_data, "email": address})
    process_submissions()
    for _ in range(3):
        deliver_due()
    assert [m["To"] for m in smtp_inbox.messages] == ["fine@example.com"]
    bounced = OutgoingEmail.objects.get(to="nobody@example.com")
    assert bounced.failed_at is not None and "550" in bounced.last_error
    greylisted = OutgoingEmail.objects.get(to="greylisted@example.com")
    assert greylisted.failed_at is None and greylisted.sent_at is None and greylisted.attempts >= 1

    smtp_inbox.refuse = {}
    deliver_due()
    assert sorted(m["To"] for m in smtp_inbox.messages) == ["fine@example.com", "greylisted@example.com"]


def test_retries_back_off_and_give_up_after_the_configured_time(settings, smtp_port):
    settings.EMAIL_RETRY_BASE_SECONDS = 30
    message = OutgoingEmail.objects.create(
        to="a@example.com", kind="confirmation", subject="s", body_text="b"
    )
    deliver_due()
    message.refresh_from_db()
    assert message.attempts == 1 and (message.send_after - message.created_at).total_seconds() >= 30
    assert deliver_due() == 0  # not due again yet
    assert OutgoingEmail.objects.get().attempts == 1

    settings.EMAIL_GIVE_UP_AFTER_HOURS = 0
    OutgoingEmail.objects.update(send_after=message.created_at)
    deliver_due()
    message.refresh_from_db()
    assert message.failed_at is not None and message.attempts == 2


def queue(count: int) -> list[OutgoingEmail]:
    return [
        OutgoingEmail.objects.create(
            to=f"queued{n}@example.com", kind="confirmation", subject="s", body_text="b"
        )
        for n in range(count)
    ]


def test_the_worker_sends_what_is_due_over_one_smtp_connection(smtp_inbox):
    queue(25)
    assert deliver_due() == 25
    assert len(smtp_inbox.messages) == 25 and len(smtp_inbox.connections) == 1
    assert not OutgoingEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_claimed_message_is_not_due_for_another_worker_until_its_claim_runs_out(settings):
    settings.EMAIL_CLAIM_SECONDS = 60
    queued = queue(15)
    first, second = OutgoingEmail.objects.claim_due(10), OutgoingEmail.objects.claim_due(10)
    assert [m.pk for m in first] == [m.pk for m in queued[:10]]  # oldest first
    assert [m.pk for m in second] == [m.pk for m in queued[10:]]  # the others, none twice
    assert OutgoingEmail.objects.claim_due(10) == []
    # The worker died: its messages are due again once the claim has run out.
    later = timezone.now() + timedelta(seconds=61)
    assert OutgoingEmail.objects.due(now=later).count() == 15


def test_a_worker_that_stops_mid_chunk_gives_the_rest_back_in_their_order(smtp_port, settings):
    """The mail server is down: the first message is postponed, and the nine others the worker
    had claimed are due again at once, still ahead of newer mail."""
    settings.EMAIL_RETRY_BASE_SECONDS = 30
    queued = queue(12)
    assert deliver_due() == 0
    postponed = OutgoingEmail.objects.get(attempts=1)
    assert postponed.pk == queued[0].pk
    due = list(OutgoingEmail.objects.due().order_by("send_after").values_list("pk", flat=True))
    assert due == [m.pk for m in queued[1:]]


@pytest.mark.parametrize("language", ["en", "es", "fr"])
@pytest.mark.parametrize("name", ["Ada Lovelace", "Zoë O'Brien & <b>Sons</b>", 'Jean "JJ" Dupont-Ça'])
def test_the_confirmation_filled_in_from_markers_is_what_rendering_it_gives(settings, language, name):
    """The worker renders the confirmation once per language and fills in each signer's name and
    links (emails.confirmation); it must read exactly as the templates rendered for that signer."""
    settings.SITE_URL = "https://letter.example.org"
    signature = make_signature(full_name=name, language=language, credit="Credits & <more>")
    with mock.patch("django.core.signing.time.time", return_value=1_800_000_000):
        filled = emails.confirmation(signature)
        rendered = emails._message(
            "confirmation",
            signature,
            {
                "signature": signature,
                "verify_link": signature.link("verify"),
                "withdraw_link": signature.link("withdraw"),
                "expiry_days": settings.VERIFY_LINK_MAX_AGE_DAYS,
            },
        )
    assert (filled.subject, filled.body_text, filled.body_html) == (
        rendered.subject,
        rendered.body_text,
        rendered.body_html,
    )
    assert (filled.to, filled.mailbox, filled.kind) == (rendered.to, rendered.mailbox, "confirmation")
    assert name in filled.body_text and escape(name) in filled.body_html
