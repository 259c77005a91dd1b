import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from pledges.models import OutgoingEmail, Signature


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_address_signed_concurrently_in_different_cases_leaves_one_row(valid_form_data):
    spellings = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM"] * 2
    start = threading.Barrier(len(spellings))
    statuses = []

    def submit(email):
        try:
            start.wait()
            statuses.append(Client().post("/sign/", {**valid_form_data, "email": email}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(email,)) for email in spellings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [302] * len(spellings)
    assert Signature.objects.count() == 1
    assert Signature.objects.get().email == "race@example.com"
    # Each submission is told what happened by email, up to the per-address daily limit, which
    # holds exactly even when the submissions race.
    assert OutgoingEmail.objects.filter(to="race@example.com").count() == settings.EMAILS_PER_ADDRESS_PER_DAY
