import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pledges.models import OutgoingEmail, Signature, Submission
from pledges.signing import process_submissions
from tests.utils import make_signature, token_made_days_ago

pytestmark = pytest.mark.django_db

S = Signature.Status
FORM_FIELDS = [
    "full_name",
    "email",
    "profession",
    "guilds",
    "credit",
    "country",
    "show_publicly",
    "updates_opt_in",
]


def assert_nothing_stored():
    assert Submission.objects.count() == 0
    assert Signature.objects.count() == 0
    assert OutgoingEmail.objects.count() == 0


def test_letter_page_shows_the_letter_count_and_the_form(client):
    make_signature(status=S.CONFIRMED)
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "An open letter on AI and creative work" in html
    assert re.search(r'class="count-number">1<', html)
    for name in FORM_FIELDS:
        assert f'name="{name}"' in html
    assert 'name="updates_opt_in"' in html and re.search(r'name="updates_opt_in"[^>]*checked', html) is None
    assert "http://" not in re.sub(
        r'href="http://testserver[^"]*"', "", html.split("<body>")[1].split("</footer>")[0]
    )


def test_every_input_has_a_label(client):
    html = client.get("/").content.decode()
    ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    assert ids and ids <= labelled


def test_valid_signature_is_stored_with_its_email_and_redirects(client, valid_form_data):
    response = client.post(
        "/sign/", {**valid_form_data, "email": "  Ada@Example.COM "}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 302 and response["Location"] == "/sign/thanks/"
    # The request stored the form; the worker reviews it and makes the signature and its email.
    assert Submission.objects.count() == 1 and not Signature.objects.exists()
    assert process_submissions() == 1 and not Submission.objects.exists()
    signature = Signature.objects.get()
    assert signature.email == "ada@example.com"
    assert signature.status == S.PENDING
    assert sorted(signature.guilds.values_list("slug", flat=True)) == ["sag-aftra", "wga"]
    assert signature.show_publicly is True and signature.updates_opt_in is False
    assert signature.letter_version.title.startswith("An open letter")
    assert signature.ip_hash and "203.0.113.9" not in signature.ip_hash
    message = OutgoingEmail.objects.get()
    assert (message.to, message.kind, message.sent_at) == ("ada@example.com", "confirmation", None)
    assert client.get("/sign/thanks/").status_code == 200


BAD_INPUTS = {
    "empty name": {"full_name": ""},
    "blank name": {"full_name": "   \t "},
    "name with a NUL byte": {"full_name": "Ada\x00Lovelace"},
    "10,000-character name": {"full_name": "A" * 10_000},
    "10,000-character credit": {"credit": "c" * 10_000},
    "10,000-character email": {"email": "a" * 9_990 + "@example.com"},
    "right-to-left override in name": {"full_name": "Ada \u202eecalevol"},
    "zero-width characters in name": {"full_name": "Ada\u200b\u200bLovelace"},
    "replacement character from broken encoding": {"full_name": "Ada \ufffd"},
    "name of digits only": {"full_name": "12345"},
    "formula in name": {"full_name": '=HYPERLINK("http://x")'},
    "web address in name": {"full_name": "Visit https://spam.example now"},
    "missing email": {"email": ""},
    "malformed email": {"email": "not-an-address"},
    "email with a NUL byte": {"email": "ada\x00@example.com"},
    "unknown profession": {"profession": "astronaut"},
    "missing profession": {"profession": ""},
    "unknown guild": {"guilds": ["wga", "teamsters-local-0"]},
    "unknown country": {"country": "XX"},
}


@pytest.mark.parametrize("overrides", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_gets_a_400_with_field_errors_and_stores_nothing(client, valid_form_data, overrides):
    response = client.post("/sign/", {**valid_form_data, **overrides})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error"' in html and "There is a problem" in html and "<title>Error: " in html
    # The summary at the top of the form links each problem to the control to fix it in ...
    targets = re.findall(r'<li><a href="#([^"]+)">', html)
    assert targets and all(f'id="{target}"' in html for target in targets)
    # ... and the error is tied to its field for assistive technology, with Django's own ids.
    described = [id_ for ids in re.findall(r'aria-describedby="([^"]+)"', html) for id_ in ids.split()]
    assert any(id_.endswith("_error") for id_ in described)
    assert all(f'id="{id_}"' in html for id_ in described)
    assert_nothing_stored()


def test_an_error_keeps_the_link_to_the_help_text_and_the_form_opens_at_itself(client, valid_form_data):
    response = client.post("/sign/", {**valid_form_data, "email": "not-an-address"})
    html = response.content.decode()
    assert 'aria-describedby="id_email_helptext id_email_error"' in html
    assert 'id="id_email_helptext"' in html and 'id="id_email_error"' in html
    assert re.search(r'<input type="email" name="email"[^>]*aria-invalid="true"', html)
    assert 'action="/sign/#sign"' in html and '<li><a href="#id_email">' in html
    # Only the field with the problem is marked invalid.
    assert not re.search(r'<input type="text" name="full_name"[^>]*aria-invalid', html)


def test_an_error_in_an_optional_detail_opens_the_details(client, valid_form_data):
    closed = client.post("/sign/", {**valid_form_data, "email": ""}).content.decode()
    assert '<details class="optional-details">' in closed
    opened = client.post("/sign/", {**valid_form_data, "credit": "=SUM(A1)"}).content.decode()
    assert '<details class="optional-details" open>' in opened
    assert '<li><a href="#id_credit">A credit cannot start with' in opened


def test_invalid_utf8_in_the_body_is_refused(client, valid_form_data):
    from urllib.parse import urlencode

    body = urlencode({**valid_form_data, "guilds": "wga"}).replace("full_name=Ada", "full_name=Ada%ED%B3%BF")
    response = client.post("/sign/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert_nothing_stored()


def test_wrong_types_and_odd_bodies_get_4xx_not_500(client, valid_form_data):
    too_many_fields = {f"f{i}": "x" for i in range(200)}
    responses = [
        client.post("/sign/", {**valid_form_data, **too_many_fields}),
        client.post("/sign/", b"\xff\xfe\x00garbage", content_type="application/x-www-form-urlencoded"),
        client.post("/sign/", json.dumps(valid_form_data), content_type="application/json"),
        client.post("/sign/", {**valid_form_data, "full_name": "x" * 70_000}),
        client.post(
            "/sign/", {**valid_form_data, "profession": ["writer", "actor"], "email": ["a@x.org", "b"]}
        ),
        client.get("/sign/"),
        client.put("/sign/", valid_form_data),
    ]
    # JSON is no form (415); a 70 kB name makes the body larger than any form (413).
    assert [r.status_code for r in responses] == [400, 400, 415, 413, 400, 405, 405]
    assert_nothing_stored()


def test_missing_csrf_token_is_refused_with_a_friendly_403(valid_form_data):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/sign/", valid_form_data)
    assert response.status_code == 403
    assert "Please try again" in response.content.decode()
    assert_nothing_stored()


def test_form_with_the_csrf_token_from_the_page_is_accepted(valid_form_data):
    client = Client(enforce_csrf_checks=True)
    html = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post("/sign/", {**valid_form_data, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    process_submissions()
    assert Signature.objects.count() == 1


def test_honeypot_looks_like_success_and_stores_nothing(client, valid_form_data):
    response = client.post("/sign/", {**valid_form_data, "website": "http://spam.example"})
    assert response.status_code == 302 and response["Location"] == "/sign/thanks/"
    assert_nothing_stored()


def test_signing_again_unconfirmed_shows_the_same_page_and_mails_a_fresh_link(client, valid_form_data):
    first = client.post("/sign/", valid_form_data)
    second = client.post("/sign/", {**valid_form_data, "email": "ADA@example.com", "full_name": "Ada King"})
    assert (first.status_code, first["Location"]) == (second.status_code, second["Location"])
    assert process_submissions() == 2
    signature = Signature.objects.get()
    assert signature.full_name == "Ada King"  # the latest submission is what the person means
    assert list(OutgoingEmail.objects.values_list("kind", flat=True)) == ["confirmation", "confirmation"]


def test_signing_again_when_confirmed_never_reveals_it_but_emails_a_withdraw_link(client, valid_form_data):
    make_signature(email="ada@example.com", status=S.APPROVED, full_name="Ada Lovelace")
    fresh = client.post("/sign/", {**valid_form_data, "email": "someone-new@example.com"})
    again = client.post("/sign/", {**valid_form_data, "full_name": "Impostor"})
    assert (fresh.status_code, fresh["Location"]) == (again.status_code, again["Location"])
    process_submissions()
    assert Signature.objects.get(email="ada@example.com").full_name == "Ada Lovelace"
    message = OutgoingEmail.objects.get(to="ada@example.com")
    assert message.kind == "already-signed"
    assert "/withdraw/" in message.body_text and "/verify/" not in message.body_text


def test_the_sign_request_does_the_same_work_for_a_new_a_pending_and_a_confirmed_address(
    client, valid_form_data
):
    """So that neither the answer nor its timing tells anyone whether an address has signed."""
    make_signature(email="pending@example.com")
    make_signature(email="confirmed@example.com", status=S.CONFIRMED)
    client.post("/sign/", {**valid_form_data, "email": "first@example.com"})  # loads the process's copies
    work = {}
    for number, address in enumerate(["new@example.com", "pending@example.com", "confirmed@example.com"]):
        with CaptureQueriesContext(connection) as queries:  # each from a first-time IP, as for the limits
            response = client.post(
                "/sign/", {**valid_form_data, "email": address}, REMOTE_ADDR=f"192.0.2.{number}"
            )
        assert (response.status_code, response["Location"]) == (302, "/sign/thanks/")
        # The statements, with the values that differ (addresses, ids, times, savepoints) left out.
        work[address] = [re.sub(r"'[^']*'|\b\d+\b|\"s[\d_x]+\"", "?", query["sql"]) for query in queries]
    assert work["new@example.com"] == work["pending@example.com"] == work["confirmed@example.com"]
    ours = [sql for sql in work["new@example.com"] if "pledges_" in sql]
    assert len(ours) == 1 and ours[0].startswith('INSERT INTO "pledges_submission"')


def test_verify_get_changes_nothing_and_post_confirms(client):
    signature = make_signature()
    url = f"/verify/{signature.make_token('verify')}/"
    response = client.get(url)
    assert response.status_code == 200 and "Confirm my signature" in response.content.decode()
    signature.refresh_from_db()
    assert signature.status == S.PENDING and signature.confirmed_at is None
    response = client.post(url)
    assert response.status_code == 200 and "confirmed" in response.content.decode()
    signature.refresh_from_db()
    assert signature.status == S.CONFIRMED
    assert "already confirmed" in client.get(url).content.decode()
    assert client.post(url).status_code == 200  # a second press is harmless


def test_withdraw_get_asks_and_post_erases(client):
    signature = make_signature(status=S.APPROVED, full_name="Grace Hopper")
    url = f"/withdraw/{signature.make_token('withdraw')}/"
    response = client.get(url)
    assert response.status_code == 200 and "Grace Hopper" in response.content.decode()
    assert Signature.objects.get(pk=signature.pk).status == S.APPROVED
    response = client.post(url)
    assert response.status_code == 200 and "withdrawn" in response.content.decode()
    signature.refresh_from_db()
    assert signature.status == S.WITHDRAWN and signature.full_name == "" and signature.email is None
    assert "already withdrawn" in client.get(url).content.decode()


@pytest.mark.parametrize("purpose", ["verify", "withdraw"])
def test_tampered_links_get_a_friendly_page_and_change_nothing(client, purpose):
    signature = make_signature()
    token = signature.make_token(purpose)
    for bad in [token[:-3] + "xyz", "garbage", signature.code.hex, f"{signature.code.hex}:1abc:zzz", "%00"]:
        for method in (client.get, client.post):
            response = method(f"/{purpose}/{bad}/")
            assert response.status_code == 400, bad
            assert "This link does not work" in response.content.decode()
    assert Signature.objects.get(pk=signature.pk).status == S.PENDING


def test_a_verify_link_cannot_withdraw(client):
    signature = make_signature()
    response = client.post(f"/withdraw/{signature.make_token('verify')}/")
    assert response.status_code == 400
    assert Signature.objects.get(pk=signature.pk).status == S.PENDING


def test_expired_verify_link_gets_a_friendly_page(client):
    signature = make_signature()
    token = token_made_days_ago(signature, "verify", 8)
    response = client.post(f"/verify/{token}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert Signature.objects.get(pk=signature.pk).status == S.PENDING


def test_api_count_json_and_headers(client, settings):
    settings.COUNT_MAX_AGE_SECONDS = 0
    make_signature(status=S.CONFIRMED, guilds=["dga"])
    make_signature(status=S.APPROVED)
    make_signature(status=S.PENDING)
    response = client.get("/api/count/")
    data = response.json()
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in response["Cache-Control"]
    assert (data["count"], data["published"]) == (2, 1)
    assert data["by_guild"] == [{"slug": "dga", "name": "DGA", "count": 1}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["as_of"])


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_privacy_page_explains_retention_and_withdrawal(client):
    html = client.get("/privacy/").content.decode()
    assert "withdraw" in html.lower() and "14 days" in html
    assert "Counters of recent requests" in html and "expire on their own within a day" in html
    assert "at most 3 emails a day" in html
    # The sign request stores the form as it was sent, until the worker has made the signature.
    assert "The form as you sent it is kept only until our server has checked it" in html


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()
