import pytest
from django.conf import settings
from django.test import Client

from pledges.models import OutgoingEmail, Signature, Submission
from pledges.signing import process_submissions
from tests.utils import at_once


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_address_signed_concurrently_in_different_cases_leaves_one_row(valid_form_data):
    spellings = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM"] * 2
    statuses = at_once(
        lambda email: Client().post("/sign/", {**valid_form_data, "email": email}).status_code, spellings
    )
    assert statuses == [302] * len(spellings)
    # The requests stored the forms; as many workers at once sign them, each its own.
    assert Submission.objects.count() == len(spellings)
    assert sum(at_once(lambda _: process_submissions(limit=1), spellings)) == len(spellings)
    assert Signature.objects.count() == 1
    assert Signature.objects.get().email == "race@example.com"
    # Each submission is told what happened by email, up to the per-address daily limit, which
    # holds exactly even when the submissions race.
    assert OutgoingEmail.objects.filter(to="race@example.com").count() == settings.EMAILS_PER_ADDRESS_PER_DAY
