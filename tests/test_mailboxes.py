"""One mailbox, one signature: every spelling of one inbox is one signer."""

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.test import Client

from pledges.forms import clean_email
from pledges.lib.mailboxes import InvalidAddress, canonical_mailbox
from pledges.models import Guild, OutgoingEmail, Profession, Signature, Submission
from pledges.signing import process_submissions, sign
from tests.utils import at_once, make_signature

# Each group: spellings that deliver to one inbox (the first is the canonical form).
SAME_MAILBOX = [
    [
        "name@gmail.com",
        "Name@Gmail.com",
        "n.ame@gmail.com",
        "n.a.m.e@gmail.com",
        "name+1@gmail.com",
        "name+news@googlemail.com",
        "N.Ame@GoogleMail.com",
        '"name"@gmail.com',
        '"n.ame+x"@gmail.com',
    ],
    ["ada@example.org", "ADA@EXAMPLE.ORG", "ada+letter@example.org", '"ada"@example.org'],
    ["x@xn--bcher-kva.example", "x@bücher.example", "X@BÜCHER.example", "x+tag@bücher.example"],
    ["steve@icloud.com", "steve@me.com", "Steve@Mac.com", "steve+apple@icloud.com"],
]
# Addresses that look alike but can belong to different people.
DIFFERENT_MAILBOXES = [
    ("name@hotmail.com", "name@outlook.com"),  # separate Microsoft namespaces
    ("n.ame@outlook.com", "name@outlook.com"),  # Outlook keeps dots
    ("n.ame@example.org", "name@example.org"),  # an unknown provider keeps dots
    ("name@yahoo.com", "name-news@yahoo.com"),  # a Yahoo base name is not the account name
    ("name@gmail.com", "name@gmail.co"),
]


@pytest.mark.parametrize("group", SAME_MAILBOX, ids=lambda group: group[0])
def test_every_spelling_of_one_inbox_has_one_canonical_form(group):
    assert {canonical_mailbox(address) for address in group} == {canonical_mailbox(group[0])}


def test_the_canonical_form_is_case_folded_untagged_and_in_idna():
    assert canonical_mailbox("N.Ame+news@GoogleMail.com") == "name@gmail.com"
    assert canonical_mailbox("X+tag@Bücher.Example") == "x@xn--bcher-kva.example"
    assert canonical_mailbox('"Ada"@Example.org') == "ada@example.org"


@pytest.mark.parametrize(("first", "second"), DIFFERENT_MAILBOXES)
def test_addresses_of_possibly_different_people_stay_apart(first, second):
    assert canonical_mailbox(first) != canonical_mailbox(second)


@pytest.mark.parametrize(
    "address", ["", "no-at-sign", "a@b", "a@@example.org", "a b@example.org", "@example.org"]
)
def test_a_non_address_has_no_canonical_form(address):
    with pytest.raises(InvalidAddress):
        canonical_mailbox(address)


def sign_as(email: str, name: str = "Ada Lovelace") -> Signature:
    """Sign as the form does: the address as the form cleans it (lower case, otherwise as typed)."""
    return sign(
        full_name=name,
        email=clean_email(email),
        profession=Profession.objects.get(slug="writer"),
        guilds=Guild.objects.none(),
    )


@pytest.mark.django_db
def test_signing_in_every_spelling_leaves_one_signature_mailed_as_typed(settings):
    settings.EMAILS_PER_ADDRESS_PER_DAY = 100
    for address in SAME_MAILBOX[0]:
        sign_as(address)
    signature = Signature.objects.get()
    assert signature.mailbox == "name@gmail.com"
    # The latest spelling of a still unconfirmed signature is where its mail goes, as typed.
    assert signature.email == '"n.ame+x"@gmail.com'
    assert OutgoingEmail.objects.first().to == "name@gmail.com"
    assert OutgoingEmail.objects.last().to == '"n.ame+x"@gmail.com'
    signature.confirm()
    sign_as("NAME+again@googlemail.com")
    assert Signature.objects.count() == 1 and Signature.objects.counted().count() == 1
    assert OutgoingEmail.objects.last().kind == "already-signed"


@pytest.mark.django_db
def test_the_database_refuses_a_second_row_for_one_mailbox():
    make_signature(email="name@gmail.com")
    with pytest.raises(IntegrityError, match="signature_mailbox_unique"), transaction.atomic():
        make_signature(email="n.a.me+2@googlemail.com")


@pytest.mark.django_db
def test_the_daily_email_limit_counts_the_mailbox_in_every_spelling_first_signatures_included():
    limit = settings.EMAILS_PER_ADDRESS_PER_DAY
    for address in SAME_MAILBOX[0]:
        sign_as(address)
    assert OutgoingEmail.objects.filter(mailbox="name@gmail.com").count() == limit


@pytest.mark.django_db
def test_a_first_signature_gets_no_mail_once_its_mailbox_had_the_days_limit(settings):
    # E.g. a pending signature purged, then signed again: its mailbox's earlier mail still counts.
    settings.EMAILS_PER_ADDRESS_PER_DAY = 2
    OutgoingEmail.objects.create(
        to="ab+old@gmail.com", mailbox="ab@gmail.com", kind="x", subject="s", body_text="b"
    )
    assert sign_as("a.b@gmail.com").status == Signature.Status.PENDING
    Signature.objects.all().delete()  # as purge_unconfirmed does; the outbox keeps its record
    signature = sign_as("AB@googlemail.com")
    assert signature.status == Signature.Status.PENDING
    assert not OutgoingEmail.objects.filter(to="ab@googlemail.com").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_mailbox_signed_concurrently_in_many_spellings_leaves_one_row(valid_form_data):
    spellings = [
        "race@gmail.com",
        "r.ace@gmail.com",
        "RACE+1@googlemail.com",
        "ra.ce+2@gmail.com",
        '"race"@gmail.com',
        "Race@GoogleMail.com",
        "r.a.c.e@gmail.com",
        "race+x@gmail.com",
    ]
    statuses = at_once(
        lambda email: Client().post("/sign/", {**valid_form_data, "email": email}).status_code, spellings
    )
    assert statuses == [302] * len(spellings)
    # The requests stored the forms; as many workers at once sign them, each its own.
    assert Submission.objects.count() == len(spellings)
    assert sum(at_once(lambda _: process_submissions(limit=1), spellings)) == len(spellings)
    assert Signature.objects.count() == 1
    assert Signature.objects.get().mailbox == "race@gmail.com"
    # Exactly the daily limit, however the submissions raced.
    assert (
        OutgoingEmail.objects.filter(mailbox="race@gmail.com").count() == settings.EMAILS_PER_ADDRESS_PER_DAY
    )


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["a@b", "john..doe@example.org", "x@-example.org"])
def test_the_form_refuses_what_is_not_an_address_with_a_message_and_stores_nothing(
    client, valid_form_data, address
):
    response = client.post("/sign/", {**valid_form_data, "email": address})
    assert response.status_code == 400
    assert "Please enter a valid email address." in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0 and OutgoingEmail.objects.count() == 0


@pytest.mark.django_db
def test_staff_find_a_signature_by_any_spelling_of_its_mailbox(admin_client):
    make_signature(email="n.ame+x@gmail.com", full_name="Found Person")
    make_signature(email="other@gmail.com", full_name="Other Person")
    html = admin_client.get("/admin/pledges/signature/", {"q": "NAME@googlemail.com"}).content.decode()
    assert "Found Person" in html and "Other Person" not in html
    assert admin_client.get("/admin/pledges/signature/", {"q": "not@an@address"}).status_code == 200
