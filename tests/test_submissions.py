"""The worker's side of signing: what the sign request stored becomes a signature, reviewed
before its confirmation email is queued."""

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pledges import emails
from pledges.models import OutgoingEmail, Signature, Submission, WatchedName
from pledges.signing import process_submissions

pytestmark = pytest.mark.django_db


def post(client, valid_form_data, **fields):
    response = client.post("/sign/", {**valid_form_data, **fields})
    assert response.status_code == 302
    return response


def test_the_signature_keeps_the_time_it_was_signed_not_when_the_worker_ran(client, valid_form_data):
    post(client, valid_form_data)
    earlier = timezone.now() - timedelta(minutes=7)
    Submission.objects.update(received_at=earlier)  # a backlog: the worker ran 7 minutes later
    process_submissions()
    assert Signature.objects.get().created_at == earlier


def test_a_name_watched_after_the_form_was_sent_but_before_the_worker_ran_is_held(client, valid_form_data):
    post(client, valid_form_data, full_name="Natalie Portman")
    WatchedName.objects.create(name="Natalie Portman", note="actor")
    process_submissions()
    signature = Signature.objects.get()
    assert Signature.Flag.WATCHLIST in signature.flags and signature.watchlist_match.name == "Natalie Portman"
    assert OutgoingEmail.objects.get().kind == "confirmation"  # mailed, but it counts only once approved
    signature.confirm()
    assert signature not in Signature.objects.counted()


def fail_to_email(monkeypatch, name: str, error: Exception):
    """The confirmation email of `name` raises `error`: in the batch path and the one-by-one alike."""
    real_confirmation = emails.confirmation

    def confirmation_failing_on_one(signature, **kwargs):
        if signature.full_name == name:
            raise error
        return real_confirmation(signature, **kwargs)

    monkeypatch.setattr(emails, "confirmation", confirmation_failing_on_one)


def test_a_submission_the_worker_cannot_sign_is_kept_aside_and_the_others_are_signed(
    client, valid_form_data, monkeypatch, caplog
):
    for name in ["Ada Lovelace", "Broken Row", "Grace Hopper"]:
        post(client, valid_form_data, full_name=name, email=f"{name.split()[0].lower()}@example.com")
    fail_to_email(monkeypatch, "Broken Row", ValueError("something no one foresaw"))
    assert process_submissions() == 3
    assert sorted(Signature.objects.values_list("full_name", flat=True)) == ["Ada Lovelace", "Grace Hopper"]
    assert OutgoingEmail.objects.count() == 2
    kept = Submission.objects.get()
    assert kept.full_name == "Broken Row" and kept.error == "ValueError: something no one foresaw"
    assert "could not be signed" in caplog.text and "something no one foresaw" in caplog.text
    # It waits for a person: the worker does not try it again and again.
    assert not Submission.objects.waiting().exists()
    assert process_submissions() == 0


def test_a_batch_rolls_back_whole_so_a_crash_leaves_every_submission_to_sign_again(
    client, valid_form_data, monkeypatch
):
    for number in range(3):
        post(
            client,
            valid_form_data,
            email=f"crash{number}@example.com",
            full_name=f"Crash Number{'s' * number}",
        )
    with monkeypatch.context() as patch:
        fail_to_email(patch, "Crash Numbers", OperationalError("server closed the connection unexpectedly"))
        with pytest.raises(OperationalError, match="server closed the connection"):
            process_submissions()
    assert Submission.objects.waiting().count() == 3 and not Signature.objects.exists()
    assert not OutgoingEmail.objects.exists()
    assert process_submissions() == 3
    assert Signature.objects.count() == 3 and not Submission.objects.exists()


def test_a_batch_signs_new_mailboxes_together_and_the_rest_one_by_one_in_order(
    client, valid_form_data, settings
):
    """One batch: two new addresses, a second spelling of one of them, and an address whose
    signature is confirmed. The new ones are signed together; the second spelling updates the
    pending signature it shares a mailbox with (the latest details win, and a new link goes
    out); the confirmed signer is told they already signed."""
    settings.RATELIMIT_ENABLE = True
    post(client, valid_form_data, email="confirmed@example.com", full_name="Cora Firmed")
    process_submissions()
    Signature.objects.get().confirm()
    post(client, valid_form_data, email="ada@example.com", full_name="Ada Lovelace")
    post(client, valid_form_data, email="grace@example.com", full_name="Grace Hopper")
    post(client, valid_form_data, email="confirmed@example.com", full_name="Cora Firmed")
    post(client, valid_form_data, email="Ada+letter@example.com", full_name="Ada King")
    assert process_submissions() == 4 and not Submission.objects.exists()
    names = dict(Signature.objects.values_list("mailbox", "full_name"))
    assert names == {
        "ada@example.com": "Ada King",
        "grace@example.com": "Grace Hopper",
        "confirmed@example.com": "Cora Firmed",
    }
    kinds = list(OutgoingEmail.objects.order_by("pk").values_list("to", "kind"))
    assert kinds[1:] == [
        ("ada@example.com", "confirmation"),
        ("grace@example.com", "confirmation"),
        ("confirmed@example.com", "already-signed"),
        ("ada+letter@example.com", "confirmation"),
    ]


def test_a_batch_counts_its_own_earlier_signatures_towards_a_burst(client, valid_form_data, settings):
    """The review of a batch sees what the one-by-one review would: with a limit of 2 an hour
    from one IP, the third and fourth signature of a batch from one IP are held."""
    settings.BURST_IP_PER_HOUR = 2
    settings.BURST_DOMAIN_PER_HOUR = 3
    for number in range(4):
        post(
            client,
            valid_form_data,
            email=f"signer{number}@burst.example",
            full_name=f"Signer Number{'s' * number}",
        )
    process_submissions()
    flags = [set(flags) for flags in Signature.objects.order_by("pk").values_list("flags", flat=True)]
    assert [Signature.Flag.IP_BURST in found for found in flags] == [False, False, True, True]
    assert [Signature.Flag.DOMAIN_BURST in found for found in flags] == [False, False, False, True]


def test_signing_a_batch_of_new_addresses_costs_the_same_queries_at_any_size(client, valid_form_data):
    def queries_to_sign(count: int, prefix: str) -> int:
        for number in range(count):
            post(client, valid_form_data, email=f"{prefix}{number}@example.com", full_name=f"Signer {prefix}")
        with CaptureQueriesContext(connection) as queries:
            assert process_submissions(batch_size=50) == count
        return len(queries)

    assert queries_to_sign(3, "few") == queries_to_sign(30, "many")
    assert Signature.objects.count() == 33 and OutgoingEmail.objects.count() == 33
    assert Signature.guilds.through.objects.count() == 33 * len(valid_form_data["guilds"])


def test_staff_see_a_submission_the_worker_could_not_sign_and_have_it_tried_again(
    admin_client, client, valid_form_data
):
    post(client, valid_form_data)
    Submission.objects.update(error="ValueError: the profession table was locked")
    page = admin_client.get("/admin/pledges/submission/?state=failed").content.decode()
    assert "ada@example.com" in page and "the profession table was locked" in page
    submission = Submission.objects.get()
    response = admin_client.post(
        "/admin/pledges/submission/",
        {"action": "try_again", "_selected_action": [submission.pk]},
        follow=True,
    )
    assert "1 submission(s) will be signed by the worker on its next turn." in response.content.decode()
    assert process_submissions() == 1
    assert Signature.objects.get().email == "ada@example.com" and not Submission.objects.exists()


def test_moderators_do_not_see_submissions(mod_client):
    assert mod_client.get("/admin/pledges/submission/").status_code == 403


@pytest.mark.parametrize("command", ["worker", "deliver_emails"])
def test_the_worker_command_and_its_old_name_sign_and_mail_what_the_form_stored(
    client, valid_form_data, command, settings
):
    from io import StringIO

    from django.core.management import call_command

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    post(client, valid_form_data)
    out = StringIO()
    call_command(command, "--once", stdout=out)
    assert Signature.objects.get().email == valid_form_data["email"]
    assert OutgoingEmail.objects.get().sent_at is not None
    assert "signed 1" in out.getvalue() and "sent 1" in out.getvalue()
