"""Verified signatories: staff verify a signature as the person named, and every public surface
shows it."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import reverse

from pledges.models import ModerationEvent, Signature
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status


def verify_url(signature: Signature) -> str:
    return reverse("admin:pledges_signature_verify", args=[signature.pk])


def test_the_verify_page_has_its_documented_address(settings):
    assert verify_url(Signature(pk=42)) == "/admin/pledges/signature/42/verify/"


def test_a_moderator_verifies_with_a_method_and_note_logged_with_who_and_when(mod_client, moderator):
    signature = make_signature(status=S.CONFIRMED, full_name="Meryl Streep", flags=["watchlist"])
    change_page = mod_client.get(f"/admin/pledges/signature/{signature.pk}/change/").content.decode()
    assert verify_url(signature) in change_page
    page = mod_client.get(verify_url(signature))
    assert page.status_code == 200 and "Through their agent or manager" in page.content.decode()
    response = mod_client.post(
        verify_url(signature), {"method": "agent", "note": "Call with her agent, 3 May"}
    )
    assert response.status_code == 302
    signature.refresh_from_db()
    assert signature.status == S.APPROVED and signature.is_verified and signature.verified_by == moderator
    assert (signature.verification_method, signature.verification_note) == (
        "agent",
        "Call with her agent, 3 May",
    )
    event = ModerationEvent.objects.get(signature=signature)
    assert (event.action, event.actor) == ("verify", moderator)
    assert event.note == "Through their agent or manager: Call with her agent, 3 May"
    assert signature in Signature.objects.counted() and signature in Signature.objects.published()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"method": "psychic"},
        {"method": "agent", "note": "x" * 501},
        {"method": "agent", "note": "a\x00b"},
    ],
)
def test_a_bad_verification_gets_a_form_error_and_changes_nothing(mod_client, data):
    signature = make_signature(status=S.CONFIRMED)
    response = mod_client.post(verify_url(signature), data)
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    signature.refresh_from_db()
    assert not signature.is_verified and signature.status == S.CONFIRMED
    assert not ModerationEvent.objects.exists()


def test_only_moderators_may_verify(client):
    signature = make_signature(status=S.CONFIRMED)
    viewer = User.objects.create_user("viewer", password="a-long-password-3", is_staff=True)
    client.force_login(viewer)
    assert client.post(verify_url(signature), {"method": "agent"}).status_code == 403
    assert not Signature.objects.get(pk=signature.pk).is_verified


def test_a_pending_or_duplicate_signature_cannot_be_verified(mod_client, moderator):
    pending = make_signature(status=S.PENDING)
    duplicate = make_signature(status=S.CONFIRMED, flags=["duplicate_mailbox"], mailbox=None)
    assert pending.verify(moderator, "agent") is False and duplicate.verify(moderator, "guild") is False
    with pytest.raises(ValueError):
        make_signature(status=S.CONFIRMED).verify(moderator, "a rumour")
    assert not Signature.objects.verified().exists()


def test_only_a_verified_signature_can_be_featured(moderator):
    with pytest.raises(IntegrityError, match="signature_featured_is_verified"), transaction.atomic():
        make_signature(status=S.APPROVED, featured=True)
    unverified = make_signature(status=S.APPROVED)
    assert unverified.feature(moderator) is False
    verified = make_signature(status=S.CONFIRMED, credit="Kindred")
    verified.verify(moderator, "social", "Blue tick account posted the link")
    assert verified.feature(moderator) is True


def test_the_public_list_marks_verified_names_and_filters_them(client, moderator):
    make_signature(status=S.APPROVED, full_name="Verified Star", verified=True, featured=True)
    make_signature(status=S.APPROVED, full_name="Plain Person")
    make_signature(status=S.CONFIRMED, full_name="Unmoderated Person")
    html = client.get("/signatories/").content.decode()
    items = dict(re.findall(r'class="signatory-name">([^<]+)</span>(.*?)</li>', html, re.S))
    assert "verified-mark" in items["Verified Star"] and "Verified" in items["Verified Star"]
    assert "Verified" not in items["Plain Person"]
    filtered = client.get("/signatories/?verified=1").content.decode()
    assert "Verified Star" in filtered and "Plain Person" not in filtered
    assert client.get("/signatories/?verified=yes-please").status_code == 400


def test_the_csv_has_credit_and_verified_columns_and_filters(client):
    make_signature(
        status=S.APPROVED, full_name="Verified Star", credit="Big Film", verified=True, featured=True
    )
    make_signature(status=S.APPROVED, full_name="Plain Person")
    rows = list(csv.reader(io.StringIO(b"".join(client.get("/signatories.csv").streaming_content).decode())))
    assert rows[0] == ["name", "profession", "guilds", "credit", "featured", "verified"]
    assert rows[1] == ["Verified Star", "Writer", "", "Big Film", "yes", "yes"]
    assert rows[2] == ["Plain Person", "Writer", "", "", "no", "no"]
    only = b"".join(client.get("/signatories.csv?verified=1").streaming_content).decode()
    assert "Verified Star" in only and "Plain Person" not in only


def test_press_and_letter_featured_names_carry_the_mark(client):
    make_signature(status=S.APPROVED, full_name="Verified Star", verified=True, featured=True)
    for url in ("/press/", "/"):
        html = client.get(url).content.decode()
        item = re.search(r'<li><span class="signatory-name">Verified Star</span>(.*?)</li>', html, re.S)
        assert item and "verified-mark" in item.group(1), url


def test_api_count_says_how_many_counted_signatures_are_verified(client):
    make_signature(status=S.APPROVED, verified=True)
    make_signature(status=S.APPROVED, verified=True, show_publicly=False)
    make_signature(status=S.APPROVED)
    make_signature(status=S.CONFIRMED)
    data = client.get("/api/count/").json()
    assert (data["count"], data["verified"]) == (4, 2)


def test_rejecting_a_verified_signature_clears_the_verification_but_the_log_keeps_it(moderator):
    signature = make_signature(status=S.CONFIRMED, credit="Kindred")
    signature.verify(moderator, "in_person", "Met at the launch")
    signature.feature(moderator)
    assert signature.reject(moderator) is True
    signature.refresh_from_db()
    assert not signature.is_verified and not signature.featured and signature.verification_note == ""
    assert list(ModerationEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        "verify",
        "feature",
        "reject",
    ]


def test_withdrawal_erases_the_verification_note(moderator):
    signature = make_signature(status=S.CONFIRMED)
    signature.verify(moderator, "other", "Her sister's phone number is 555-0100")
    assert signature.withdraw() is True
    signature.refresh_from_db()
    assert signature.verification_note == "" and not signature.is_verified and signature.mailbox is None
