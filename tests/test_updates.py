"""Updates to signers: who gets them, the unsubscribe headers and link, sending twice, retention,
and the admin's preview, test and send. Delivery goes to a real SMTP server (aiosmtpd)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from pledges import updates
from pledges.emails import deliver_due
from pledges.models import OutgoingEmail, Signature, Update, UpdateDelivery
from pledges.signing import process_submissions
from tests.utils import link_in, make_signature, token_made_days_ago

pytestmark = pytest.mark.django_db

S = Signature.Status


def make_update(**overrides) -> Update:
    fields = {"subject": "The letter was delivered", "body": "We handed it over **today**.\n\nThank you."}
    return Update.objects.create(**{**fields, **overrides})


def send_everything(update: Update, staff=None) -> None:
    """Start sending, then do what the worker does until there is nothing left."""
    assert update.start_sending(by=staff)
    while any(updates.work_on_updates(limit=50)):
        pass
    update.refresh_from_db()


def recipient(**overrides) -> Signature:
    return make_signature(**{"status": S.CONFIRMED, "updates_opt_in": True, **overrides})


def unsubscribe_path(message) -> str:
    return "/" + link_in(message, "unsubscribe").split("/", 3)[3]


def test_an_update_reaches_exactly_the_confirmed_signers_who_opted_in(smtp_inbox):
    confirmed = recipient(email="confirmed@example.com")
    approved = recipient(email="approved@example.com", status=S.APPROVED)
    held = recipient(email="held@example.com", flags=[Signature.Flag.IP_BURST])
    # Signatures that could leak into the send, each for one reason.
    recipient(email="pending@example.com", status=S.PENDING)
    recipient(email="rejected@example.com", status=S.REJECTED)
    recipient(status=S.WITHDRAWN)
    recipient(email="unsubscribed@example.com", unsubscribed_at=timezone.now())
    make_signature(email="no-news@example.com", status=S.CONFIRMED, updates_opt_in=False)
    make_signature(email="no-news-approved@example.com", status=S.APPROVED, updates_opt_in=False)

    expected = {confirmed.email, approved.email, held.email}
    assert set(Signature.objects.update_recipients().values_list("email", flat=True)) == expected
    update = make_update()
    send_everything(update)

    assert sorted(m["To"] for m in smtp_inbox.messages) == sorted(expected)
    assert update.status == Update.Status.SENT and update.sent_at is not None
    figures = update.figures()
    assert (figures["queued"], figures["sent"], figures["failed"], figures["waiting"]) == (3, 3, 0, 0)


def test_an_update_carries_the_one_click_unsubscribe_headers_and_says_why_it_came(settings, smtp_inbox):
    settings.SITE_URL = "https://letter.example.org"
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@letter.example.org"
    signature = recipient(email="ada@example.com", full_name="Ada Lovelace")
    send_everything(
        make_update(
            body="Hello *all*.\n\n<script>alert(1)</script>\n\n"
            "[bad](javascript:alert(1)) <a href='javascript:x'>y</a>"
        )
    )
    [message] = smtp_inbox.messages

    assert message["Subject"] == "The letter was delivered"
    link = link_in(message, "unsubscribe")
    assert link.startswith("https://letter.example.org/unsubscribe/")
    assert (
        message["List-Unsubscribe"].strip()
        == f"<{link}>, <mailto:unsubscribe@letter.example.org?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert Signature.from_token(urlsplit(link).path.rstrip("/").rsplit("/", 1)[1], "unsubscribe") == signature

    text = message.get_body(("plain",)).get_content()
    assert "Hello Ada Lovelace" in text and "Hello *all*." in text
    assert "because you signed" in text and "your signature stays" in text
    assert link_in(message, "withdraw").startswith("https://letter.example.org/withdraw/")
    html = message.get_body(("html",)).get_content()
    assert "<em>all</em>" in html and f'href="{link}"' in html
    # The Markdown is sanitised: no script, no javascript: link.
    assert "<script" not in html and "alert" not in html.split("[bad]")[0]
    assert 'href="javascript' not in html


def test_without_a_mailto_the_header_has_only_the_https_link(settings, smtp_inbox):
    settings.UNSUBSCRIBE_MAILTO = ""
    recipient()
    send_everything(make_update())
    [message] = smtp_inbox.messages
    assert message["List-Unsubscribe"].strip() == f"<{link_in(message, 'unsubscribe')}>"


def test_confirmation_and_already_signed_emails_have_no_unsubscribe_header(
    client, smtp_inbox, valid_form_data
):
    client.post("/sign/", valid_form_data)
    process_submissions()
    Signature.objects.get().confirm()
    client.post("/sign/", valid_form_data)
    process_submissions()
    assert deliver_due() == 2
    assert smtp_inbox.messages[0]["Subject"].startswith("Confirm")
    for message in smtp_inbox.messages:
        assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
        assert "/unsubscribe/" not in message.get_body(("plain",)).get_content()


def test_one_click_unsubscribe_needs_no_csrf_token_and_keeps_the_signature(smtp_inbox):
    signature = recipient(status=S.APPROVED)
    send_everything(make_update())
    path = unsubscribe_path(smtp_inbox.messages[0])
    provider = Client(enforce_csrf_checks=True)  # a mail provider's POST carries no token

    response = provider.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert response.content == b"Unsubscribed."
    signature.refresh_from_db()
    assert signature.unsubscribed_at is not None
    assert signature.status == S.APPROVED and signature.email  # kept
    assert Signature.objects.counted().filter(pk=signature.pk).exists()  # and still counts
    assert not Signature.objects.update_recipients().exists()
    # A second update goes to nobody; a repeat click is harmless.
    send_everything(make_update(subject="Second"))
    assert len(smtp_inbox.messages) == 1
    assert (
        provider.post(
            path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 200
    )


def test_unsubscribe_get_asks_with_one_button_and_the_post_stops_updates(client, smtp_inbox):
    signature = recipient(full_name="Grace Hopper")
    send_everything(make_update())
    path = unsubscribe_path(smtp_inbox.messages[0])

    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    main = html.split("<main", 1)[1]  # the header holds the language switch's buttons
    assert main.count("<button") == 1 and "Stop the updates" in html and "Grace Hopper" in html
    signature.refresh_from_db()
    assert signature.unsubscribed_at is None  # a mail scanner's GET changes nothing

    done = client.post(path)
    assert done.status_code == 200 and "You will get no more updates" in done.content.decode()
    signature.refresh_from_db()
    assert signature.unsubscribed_at is not None and signature.status == S.CONFIRMED
    assert "You get no updates from us" in client.get(path).content.decode()


def test_bad_expired_and_wrong_purpose_unsubscribe_links_get_a_friendly_page(client, settings):
    signature = recipient()
    assert client.get("/unsubscribe/not-a-token/").status_code == 400
    assert client.post("/unsubscribe/not-a-token/", {"List-Unsubscribe": "One-Click"}).status_code == 400
    withdraw_token = signature.make_token("withdraw")
    assert client.post(f"/unsubscribe/{withdraw_token}/").status_code == 400
    old = token_made_days_ago(signature, "unsubscribe", settings.UNSUBSCRIBE_LINK_MAX_AGE_DAYS + 1)
    response = client.post(f"/unsubscribe/{old}/")
    assert response.status_code == 410 and "expired" in response.content.decode()
    # Still well within its long life a year on.
    year_old = token_made_days_ago(signature, "unsubscribe", 365)
    assert client.post(f"/unsubscribe/{year_old}/").status_code == 200
    signature.refresh_from_db()
    assert signature.unsubscribed_at is not None


def test_withdrawing_still_erases_everything_and_deletes_the_update_records(smtp_inbox):
    signature = recipient()
    send_everything(make_update())
    assert UpdateDelivery.objects.filter(signature=signature).count() == 1
    signature.withdraw()
    assert not UpdateDelivery.objects.filter(signature=signature).exists()
    signature.refresh_from_db()
    assert (signature.email, signature.full_name) == (None, "")


def test_sending_twice_sends_nothing_twice(smtp_inbox):
    for _ in range(7):
        recipient()
    update = make_update()
    send_everything(update)
    assert not update.start_sending(by=None)  # a second click
    # Even a worker walking the recipients again from the start adds nobody twice.
    Update.objects.filter(pk=update.pk).update(status=Update.Status.SENDING, queued_at=None, queued_through=0)
    while any(updates.work_on_updates(limit=50)):
        pass
    assert len(smtp_inbox.messages) == 7
    assert len({m["To"] for m in smtp_inbox.messages}) == 7
    assert UpdateDelivery.objects.count() == 7


def test_queuing_walks_the_recipients_in_chunks(smtp_inbox):
    for _ in range(12):
        recipient()
    update = make_update()
    update.start_sending(by=None)
    assert updates.queue_recipients(chunk=5) == 5
    update.refresh_from_db()
    assert update.queued_at is None and UpdateDelivery.objects.count() == 5
    assert updates.queue_recipients(chunk=5) == 5
    assert updates.queue_recipients(chunk=5) == 2
    update.refresh_from_db()
    assert update.queued_at is not None and UpdateDelivery.objects.count() == 12
    assert updates.queue_recipients(chunk=5) == 0


def test_who_unsubscribes_or_is_rejected_after_queuing_is_not_sent_it(smtp_inbox):
    staying, leaving, rejected = recipient(), recipient(), recipient(status=S.APPROVED)
    update = make_update()
    update.start_sending(by=None)
    updates.queue_recipients()
    leaving.unsubscribe()
    rejected.reject(by=None)
    while any(updates.work_on_updates(limit=50)):
        pass
    assert [m["To"] for m in smtp_inbox.messages] == [staying.email]
    update.refresh_from_db()
    assert update.status == Update.Status.SENT


def test_refused_addresses_fail_and_the_rest_still_go(smtp_inbox):
    good, bad = recipient(email="good@example.com"), recipient(email="bad@example.com")
    smtp_inbox.refuse[bad.email] = "550 no such mailbox"
    update = make_update()
    send_everything(update)
    assert [m["To"] for m in smtp_inbox.messages] == [good.email]
    figures = update.figures()
    assert (figures["sent"], figures["failed"]) == (1, 1)
    assert "550" in UpdateDelivery.objects.get(signature=bad).last_error


def test_unsubscribed_since_counts_recipients_who_left_after_the_update(smtp_inbox):
    first, _ = recipient(), recipient()
    update = make_update()
    send_everything(update)
    assert update.figures()["unsubscribed_since"] == 0
    first.unsubscribe()
    assert update.figures()["unsubscribed_since"] == 1


def test_figures_survive_the_retention_purge(smtp_inbox, settings):
    for _ in range(3):
        recipient()
    update = make_update()
    send_everything(update)
    UpdateDelivery.objects.update(sent_at=timezone.now() - timedelta(days=settings.OUTBOX_RETENTION_DAYS + 1))
    fresh = make_update(subject="Fresh")
    fresh.start_sending(by=None)
    updates.queue_recipients()

    call_command("purge_unconfirmed", verbosity=0)

    assert not UpdateDelivery.objects.filter(update=update).exists()
    assert UpdateDelivery.objects.filter(update=fresh).count() == 3  # not yet sent: kept
    update.refresh_from_db()
    assert (update.figures()["queued"], update.figures()["sent"]) == (3, 3)


def test_privacy_page_says_why_updates_come_and_how_to_stop_them(client):
    html = client.get("/privacy/").content.decode()
    assert "News about the campaign" in html
    assert "link to stop them" in html and "keeps your signature" in html


# The admin


@pytest.fixture
def staff_client(client) -> Client:
    user = User.objects.create_superuser(
        "boss", "boss@coalition.example", "a-long-password-2", first_name="Bo"
    )
    client.force_login(user)
    return client


def test_moderators_cannot_send_updates():
    moderators = Group.objects.get(name="Moderators")
    assert not moderators.permissions.filter(codename="send_update").exists()
    assert Permission.objects.filter(codename="send_update", content_type__app_label="pledges").exists()


def test_admin_page_previews_the_email_as_html_and_text(staff_client):
    update = make_update(body="## News\n\nWe met the **studio**.\n\n<img src=x onerror=alert(1)>")
    page = staff_client.get(f"/admin/pledges/update/{update.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Preview, as a signer gets it" in html and "We met the **studio**." in html  # the text part
    assert f'src="/admin/pledges/update/{update.pk}/preview.html"' in html and "sandbox" in html

    preview = staff_client.get(f"/admin/pledges/update/{update.pk}/preview.html")
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "<h2>News</h2>" in body and "<strong>studio</strong>" in body
    assert "onerror" not in body and "Stop these emails" in body
    assert "style-src 'unsafe-inline'" in preview["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in preview["Content-Security-Policy"]
    assert preview["X-Frame-Options"] == "SAMEORIGIN"


def test_send_a_test_to_myself_goes_through_the_outbox(staff_client, smtp_inbox):
    update = make_update()
    response = staff_client.post(f"/admin/pledges/update/{update.pk}/send-test/", follow=True)
    assert "A test is on its way to boss@coalition.example" in response.content.decode()
    assert smtp_inbox.messages == []  # the worker sends it, not the request
    assert deliver_due() == 1
    [message] = smtp_inbox.messages
    assert message["To"] == "boss@coalition.example"
    assert message["Subject"] == "[Test] The letter was delivered"
    assert "Hello Bo" in message.get_body(("plain",)).get_content()
    update.refresh_from_db()
    assert update.status == Update.Status.DRAFT and not UpdateDelivery.objects.exists()


def test_send_asks_for_confirmation_with_the_number_of_recipients(staff_client, smtp_inbox):
    for _ in range(3):
        recipient()
    recipient(status=S.PENDING)
    update = make_update()
    confirm = staff_client.get(f"/admin/pledges/update/{update.pk}/send/")
    assert confirm.status_code == 200
    text = re.sub(r"\s+", " ", confirm.content.decode())
    assert "will go to <strong>3</strong> signers" in text and "Yes, send to 3 signers" in text
    update.refresh_from_db()
    assert update.status == Update.Status.DRAFT  # asking sent nothing

    response = staff_client.post(f"/admin/pledges/update/{update.pk}/send/", follow=True)
    assert "Sending: the worker is delivering the update" in response.content.decode()
    update.refresh_from_db()
    assert update.status == Update.Status.SENDING and update.send_started_by.username == "boss"
    assert smtp_inbox.messages == [] and not UpdateDelivery.objects.exists()  # all left to the worker

    again = staff_client.post(f"/admin/pledges/update/{update.pk}/send/", follow=True)
    assert "already been sent" in again.content.decode()
    while any(updates.work_on_updates(limit=50)):
        pass
    page = staff_client.get(f"/admin/pledges/update/{update.pk}/change/").content.decode()
    assert re.search(r"<dt>Sent</dt><dd>3</dd>", page) and "Finished" in page
    assert 'name="subject"' not in page  # what went out stays as it went out
    edit = staff_client.post(
        f"/admin/pledges/update/{update.pk}/change/", {"subject": "Changed", "body": "x"}
    )
    assert edit.status_code == 403
    update.refresh_from_db()
    assert update.subject == "The letter was delivered"


def test_staff_without_the_send_permission_cannot_send(client):
    writer = User.objects.create_user("writer", "w@coalition.example", "a-long-password-3", is_staff=True)
    writer.user_permissions.set(
        Permission.objects.filter(codename__in=["view_update", "add_update", "change_update"])
    )
    client.force_login(writer)
    update = make_update()
    assert client.get(f"/admin/pledges/update/{update.pk}/change/").status_code == 200
    assert client.get(f"/admin/pledges/update/{update.pk}/send/").status_code == 403
    assert client.post(f"/admin/pledges/update/{update.pk}/send/").status_code == 403
    update.refresh_from_db()
    assert update.status == Update.Status.DRAFT
    assert client.post(f"/admin/pledges/update/{update.pk}/send-test/").status_code == 302
    assert OutgoingEmail.objects.filter(to="w@coalition.example", kind="update-test").exists()


def test_admin_update_pages_answer_4xx_for_unknown_updates(staff_client):
    assert staff_client.get("/admin/pledges/update/999999/preview.html").status_code == 404
    assert staff_client.post("/admin/pledges/update/nope/send/").status_code == 404


def test_mail_server_down_postpones_and_nothing_is_lost(smtp_port, settings):
    settings.EMAIL_RETRY_BASE_SECONDS = 60
    first, second = recipient(), recipient()
    update = make_update()
    update.start_sending(by=None)
    updates.queue_recipients()
    # Nothing listens on smtp_port: the first email fails for now, the rest of the batch waits.
    assert updates.deliver_batch(limit=50) == 0
    rows = {row.signature_id: row for row in UpdateDelivery.objects.all()}
    assert rows[first.pk].attempts == 1 and "Error" in rows[first.pk].last_error
    assert rows[first.pk].send_after > timezone.now()  # backs off
    assert (rows[second.pk].attempts, rows[second.pk].sent_at) == (0, None)
    assert not any(row.failed_at for row in rows.values())
