"""The findings of the outside attack review (issue 11), each reproduced as the reviewer did it."""

import base64
import binascii
import csv
import io
import re
import socket
import threading
import time
import urllib.request
from urllib.parse import quote, unquote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from pledges.models import OutgoingEmail, PublicListKey, Signature, Submission
from pledges.signing import process_submissions
from tests import requires
from tests.servers import free_port
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status
HIDDEN_FORMULA_NAME = "Bob;=cmd|' /C calc'!A;Smith"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# 1. Spreadsheet formulas hidden behind a separator


def cells_as_a_spreadsheet_reads_them(text: str) -> list[str]:
    """Every cell a spreadsheet could see in a CSV file: read with either separator a locale
    uses, and, for readers that trim, with leading spaces removed."""
    cells = []
    for delimiter in (",", ";", "\t"):
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            cells += row
    return cells + [cell.lstrip(" ") for cell in cells]


def assert_no_cell_is_a_formula(text: str) -> None:
    formulas = [cell for cell in cells_as_a_spreadsheet_reads_them(text) if cell.startswith(FORMULA_TRIGGERS)]
    assert formulas == [], formulas


def test_a_formula_behind_a_semicolon_in_a_name_is_neutralised_in_the_public_csv(client):
    # Stored as an older rule, an import or a staff edit may have let it in.
    make_signature(full_name=HIDDEN_FORMULA_NAME, status=S.APPROVED, credit="Films; =HYPERLINK(1)")
    text = b"".join(client.get("/signatories.csv").streaming_content).decode()
    assert "cmd|' /C calc'!A" in text  # the name is still there, to read
    assert_no_cell_is_a_formula(text)


def test_a_formula_behind_a_separator_is_neutralised_in_the_admin_export(client, settings):
    make_signature(full_name=HIDDEN_FORMULA_NAME, status=S.APPROVED)
    make_signature(full_name="Eve\t=1+1, -2\n@SUM(A1)", status=S.APPROVED)
    admin = User.objects.create_superuser("boss", "boss@example.org", "a-long-staff-password")
    client.force_login(admin)
    response = client.get(f"/{settings.ADMIN_URL}pledges/signature/export/")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "cmd|' /C calc'!A" in text
    assert_no_cell_is_a_formula(text)


def test_the_sign_form_refuses_semicolons_and_bars_in_names(client, valid_form_data):
    for name in (HIDDEN_FORMULA_NAME, "Ann | Bee", "Ann; Bee"):
        response = client.post("/sign/", {**valid_form_data, "full_name": name})
        assert response.status_code == 400
        assert "cannot contain ; or |" in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0


# 3. The withdraw page tells the truth


def test_an_old_withdraw_link_says_plainly_it_no_longer_applies_and_leaves_the_new_signature(
    client, valid_form_data
):
    assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    first = Signature.objects.get()
    old_link = f"/withdraw/{first.make_token('withdraw')}/"
    assert client.post(old_link).status_code == 200
    assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    second = Signature.objects.exclude(status=S.WITHDRAWN).get()
    assert second.pk != first.pk
    response = client.post(old_link)
    html = response.content.decode()
    assert "Your signature is withdrawn" not in html
    assert "This link no longer applies" in html
    assert "not affected" in html
    second.refresh_from_db()
    assert second.status == S.PENDING and second.email == "ada@example.com"


# 4. A confirmation link confirms what was sent


def test_the_owners_first_link_does_not_confirm_a_strangers_details(client, valid_form_data):
    assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    owners_link = f"/verify/{Signature.objects.get().make_token('verify')}/"
    stranger = {**valid_form_data, "full_name": "Not Ada At All", "credit": "Spam"}
    assert client.post("/sign/", stranger).status_code == 302
    process_submissions()
    for method in (client.get, client.post):
        response = method(owners_link)
        html = response.content.decode()
        assert response.status_code == 409
        assert "details changed" in html and "newer email" in html
        assert "Not Ada At All" not in html
    signature = Signature.objects.get()
    assert signature.status == S.PENDING and signature.full_name == "Not Ada At All"
    # The newest email's link confirms what that email showed.
    newest = OutgoingEmail.objects.filter(kind="confirmation").latest("pk")
    assert "Not Ada At All" in newest.body_text
    newest_link = re.search(r"https?://\S+(/verify/[^/\s]+/)", newest.body_text).group(1)
    assert client.post(newest_link).status_code == 200
    assert Signature.objects.get().status == S.CONFIRMED


def test_signing_again_with_the_same_details_keeps_the_first_link_working(client, valid_form_data):
    assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    first_link = f"/verify/{Signature.objects.get().make_token('verify')}/"
    assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    assert client.post(first_link).status_code == 200
    assert Signature.objects.get().status == S.CONFIRMED


def test_past_the_daily_email_limit_a_resubmission_changes_nothing(client, valid_form_data, settings):
    settings.EMAILS_PER_ADDRESS_PER_DAY = 1
    assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    link = f"/verify/{Signature.objects.get().make_token('verify')}/"
    assert client.post("/sign/", {**valid_form_data, "full_name": "Not Ada"}).status_code == 302
    process_submissions()
    # No email could tell the owner about new details, so the details they were sent stand.
    assert Signature.objects.get().full_name == "Ada Lovelace"
    assert client.post(link).status_code == 200


# 6. The public list's page key


def base64_parts(token: str) -> list[bytes]:
    """What every base64 run in a token decodes to (a signed token is base64 joined by colons)."""
    parts = []
    for part in re.split(r"[^A-Za-z0-9_-]+", token):
        try:
            parts.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except binascii.Error:
            continue
    return parts


def test_the_page_key_reveals_neither_the_name_nor_the_signing_time(client):
    for n in range(51):
        make_signature(full_name=f"Zelda Quartermaine {n:02}", status=S.APPROVED)
    html = client.get("/signatories/").content.decode()
    token = unquote(re.search(r"after=([^\"&]+)", html).group(1))
    last_on_page = Signature.objects.published().order_by("search_name")[49]
    raw = token.encode()
    decoded = b"".join(base64_parts(token))
    stamp = last_on_page.created_at
    for secret in (
        b"zelda",
        b"quartermaine",
        str(stamp.year).encode(),
        f"{stamp.microsecond:06}".encode(),
        str(int(stamp.timestamp())).encode(),
    ):
        assert secret not in raw.lower() and secret not in decoded.lower()
    # And it still works as a page key.
    page_two = client.get(f"/signatories/?after={quote(token)}").content.decode()
    assert "Zelda Quartermaine 50" in page_two and "Zelda Quartermaine 49" not in page_two


def test_a_tampered_page_key_is_refused_plainly(client):
    key = PublicListKey(False, "zelda", make_signature().created_at).encode()
    tampered = key[:-3] + ("AAA" if key[-3:] != "AAA" else "BBB")
    response = client.get(f"/signatories/?after={tampered}")
    assert response.status_code == 400 and "start again from the first page" in response.content.decode()


# 5. Bodies are refused before they are read


@pytest.fixture(scope="module")
def app_server(django_db_setup, django_db_blocker):
    """One gunicorn process (production settings, one sync worker) on the test database."""
    from django.db import connection

    from tests.servers import app_env, database_url, start_gunicorn, stop

    with django_db_blocker.unblock():
        env = app_env(
            DATABASE_URL=database_url(connection.settings_dict), CONN_MAX_AGE=0, GUNICORN_TIMEOUT=60
        )
    port = free_port()
    process = start_gunicorn(env, port, workers=1)
    try:
        yield port
    finally:
        stop(process)


MEGABYTE = 1024 * 1024


def post_streaming(
    port: int, path: str, headers: dict, body_bytes: int, start: bytes = b""
) -> tuple[int | None, str, int]:
    """POST `body_bytes` (`start`, then zeros) with the given headers, sending them only as fast as
    the server takes them in. Returns the status (None if no answer came within 20 s), the page, and how many
    body bytes had been handed to the connection when the answer came."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(head.encode())
    answered, sent = threading.Event(), [0]

    def send_body():
        chunk = b"0" * (256 * 1024)
        try:
            sock.sendall(start)
            while sent[0] < body_bytes and not answered.is_set():
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # the server closed the connection

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    response = b""
    try:
        while b"\r\n\r\n" not in response or len(response) < response.find(b"\r\n\r\n") + 200:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    except TimeoutError:
        return None, "", sent[0]
    finally:
        answered.set()
        sent_when_answered = sent[0]
        sock.close()
        sender.join(5)
    status = int(response.split(b" ", 2)[1]) if response else None
    return status, response.decode(errors="replace"), sent_when_answered


def test_a_200_megabyte_file_part_is_refused_before_it_is_read(app_server):
    # A CSRF cookie but no token in the form: Django's CSRF check reads the form to look for it.
    headers = {
        "Content-Type": "multipart/form-data; boundary=xyz",
        "Content-Length": 200 * MEGABYTE,
        "Cookie": "csrftoken=" + "a" * 32,
    }
    file_part = (
        b'--xyz\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    started = time.monotonic()
    status, page, taken = post_streaming(app_server, "/sign/", headers, 200 * MEGABYTE, file_part)
    assert status == 413, (taken, page[:200])
    assert "too large" in page
    # At most what the kernel's socket buffers hold, not the 200 MB declared.
    assert taken < 20 * MEGABYTE, taken
    assert time.monotonic() - started < 10


def test_a_chunked_body_without_a_length_is_refused_before_it_is_read(app_server):
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"}
    status, page, taken = post_streaming(app_server, "/sign/", headers, 200 * MEGABYTE)
    assert status == 411 and "size" in page
    assert taken < 20 * MEGABYTE, taken


@requires.haproxy
def test_the_documented_haproxy_refuses_large_and_chunked_bodies_itself(app_server, tmp_path):
    from tests.servers import haproxy

    with haproxy([app_server], tmp_path) as port:
        for headers in (
            {"Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": 200 * MEGABYTE},
            {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"},
        ):
            status, page, taken = post_streaming(port, "/sign/", headers, 200 * MEGABYTE)
            assert status == 413 and "Server: gunicorn" not in page  # haproxy answered
            assert taken < 20 * MEGABYTE, taken
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).status == 200


@pytest.mark.parametrize("path", ["/sign/", "/verify/abc/", "/withdraw/abc/"])
def test_public_endpoints_take_only_forms(client, path):
    response = client.generic("POST", path, b'{"full_name": "x"}', content_type="application/json")
    assert response.status_code == 415
    assert "takes a form" in response.content.decode()
    response = client.generic("POST", path, b"<x/>", content_type="text/xml")
    assert response.status_code == 415


def test_a_declared_length_over_the_limit_is_refused_in_process_too(client, settings):
    response = client.generic(
        "POST",
        "/sign/",
        b"full_name=x",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
    )
    assert response.status_code == 413
    assert "Content-Security-Policy" in response
    assert Submission.objects.count() == Signature.objects.count() == 0


def test_a_form_with_a_small_file_part_signs_and_the_file_is_dropped(client, valid_form_data):
    upload = io.BytesIO(b"not a picture")
    upload.name = "photo.jpg"
    response = client.post("/sign/", {**valid_form_data, "photo": upload})
    assert response.status_code == 302
    process_submissions()
    assert Signature.objects.get().full_name == "Ada Lovelace"


# 2. Admin lockout by strangers

STAFF_PASSWORD = "a-long-staff-password"


@pytest.fixture
def staff():
    return User.objects.create_superuser("staff", "staff@example.org", STAFF_PASSWORD)


def login_url(settings) -> str:
    return f"/{settings.ADMIN_URL}login/"


def log_in(client, settings, password: str, address: str, username: str = "staff") -> int:
    return client.post(
        login_url(settings), {"username": username, "password": password}, REMOTE_ADDR=address
    ).status_code


def test_twenty_bad_passwords_from_five_addresses_do_not_lock_the_owner_out(client, settings, staff):
    statuses = [log_in(client, settings, f"guess{n}", f"192.0.2.{n % 5 + 1}") for n in range(20)]
    assert statuses == [200] * 20  # each address is under both its limits
    assert log_in(Client(), settings, STAFF_PASSWORD, "198.51.100.7") == 302


def test_a_guesser_from_one_address_is_stopped_even_with_the_right_password(client, settings, staff):
    # Room under the per-address limit, so that what stops the guesser is the failure count.
    settings.RATELIMIT_ADMIN_LOGIN_IP = "100/h"
    limit = settings.AXES_FAILURE_LIMIT
    guesses = [log_in(client, settings, f"guess{n}", "192.0.2.66") for n in range(limit)]
    assert guesses == [200] * (limit - 1) + [429]  # the failure that reaches the limit locks
    response = client.post(
        login_url(settings), {"username": "staff", "password": STAFF_PASSWORD}, REMOTE_ADDR="192.0.2.66"
    )
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()
    assert "Content-Security-Policy" in response
    # Other accounts from that address, and this account from anywhere else, are unaffected.
    assert log_in(Client(), settings, STAFF_PASSWORD, "192.0.2.67") == 302


def test_only_failures_count_and_a_success_starts_again(client, settings, staff):
    settings.RATELIMIT_ADMIN_LOGIN_IP = "100/h"
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(2):
        assert [log_in(client, settings, "wrong", "192.0.2.8") for _ in range(limit - 1)] == [200] * (
            limit - 1
        )
        assert log_in(client, settings, STAFF_PASSWORD, "192.0.2.8") == 302
        client.logout()


def test_the_lockout_uses_the_proxy_aware_client_address(client, settings, staff):
    settings.RATELIMIT_ADMIN_LOGIN_IP = "100/h"
    settings.TRUSTED_PROXY_COUNT = 1

    def via_proxy(password: str, client_address: str, forged: str = "") -> int:
        forwarded = f"{forged}, {client_address}" if forged else client_address
        return client.post(
            login_url(settings),
            {"username": "staff", "password": password},
            REMOTE_ADDR="10.0.0.1",  # the proxy: every request comes from it
            HTTP_X_FORWARDED_FOR=forwarded,
        ).status_code

    limit = settings.AXES_FAILURE_LIMIT
    guesses = [via_proxy("wrong", "203.0.113.9", forged=f"198.51.100.{n}") for n in range(limit)]
    assert guesses == [200] * (limit - 1) + [429]
    assert via_proxy(STAFF_PASSWORD, "203.0.113.9", forged="198.51.100.200") == 429
    assert via_proxy(STAFF_PASSWORD, "203.0.113.10") == 302
