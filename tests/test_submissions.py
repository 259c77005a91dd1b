"""The worker's side of signing: what the sign request stored becomes a signature, reviewed
before its confirmation email is queued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from pledges import signing
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


def test_a_submission_the_worker_cannot_sign_is_kept_aside_and_the_others_are_signed(
    client, valid_form_data, monkeypatch, caplog
):
    for name in ["Ada Lovelace", "Broken Row", "Grace Hopper"]:
        post(client, valid_form_data, full_name=name, email=f"{name.split()[0].lower()}@example.com")
    real_sign = signing.sign

    def sign_failing_on_one(**details):
        if details["full_name"] == "Broken Row":
            raise ValueError("something no one foresaw")
        return real_sign(**details)

    monkeypatch.setattr(signing, "sign", sign_failing_on_one)
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
        post(client, valid_form_data, email=f"crash{number}@example.com")

    def database_gone(**details):
        from django.db import OperationalError

        raise OperationalError("server closed the connection unexpectedly")

    real_sign = signing.sign
    monkeypatch.setattr(signing, "sign", database_gone)
    with pytest.raises(Exception, match="server closed the connection"):
        process_submissions()
    assert Submission.objects.waiting().count() == 3 and not Signature.objects.exists()
    assert not OutgoingEmail.objects.exists()
    monkeypatch.setattr(signing, "sign", real_sign)
    assert process_submissions() == 3
    assert Signature.objects.count() == 3 and not Submission.objects.exists()


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
