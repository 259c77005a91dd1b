import io
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from pledges.emails import deliver_due
from pledges.lib.ip_hashing import hash_ip
from pledges.logfilters import REDACTED, redact_emails
from pledges.models import Signature
from pledges.signing import process_submissions
from tests.utils import Server, database_url, make_signature

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SITE_URL": "https://letter.example.org",
    "ALLOWED_HOSTS": "letter.example.org,127.0.0.1",
    "ADMIN_URL": "staff-entrance/",
    "TRUSTED_PROXY_COUNT": "1",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "SITE_URL")}
    # A DATABASE_URL keeps the child from starting the embedded server; the checks do not connect.
    clean["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_would_complain_about_a_plain_http_site():
    # The test above can fail: without https the deploy checks have plenty to say.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "SITE_URL": "http://x.example"}
    )
    assert result.returncode != 0 and "security.W004" in result.stderr + result.stdout


def csp_directives(response) -> dict:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.django_db
def test_pages_carry_the_security_headers(client):
    response = client.get("/")
    csp = csp_directives(response)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    # The refused and error pages too.
    assert "Content-Security-Policy" in client.get("/no-such-page/")


@pytest.mark.django_db
def test_our_templates_need_no_inline_script_or_style(client):
    signature = make_signature()
    pages = ["/", "/privacy/", "/sign/thanks/", f"/verify/{signature.make_token('verify')}/", "/verify/bad/"]
    for page in pages:
        html = client.get(page).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page
        assert "<style" not in html and "style=" not in html, page


@pytest.mark.django_db
def test_the_admin_works_under_the_csp_with_same_origin_assets(client, settings):
    admin = User.objects.create_superuser("staff", "staff@example.org", "a-long-staff-password")
    client.force_login(admin)
    for page in ["", "auth/user/", "auth/user/add/", f"auth/user/{admin.pk}/change/"]:
        response = client.get(f"/{settings.ADMIN_URL}{page}")
        assert response.status_code == 200, page
        html = response.content.decode()
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page
        assert "style=" not in html, page
        assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/") and not asset.startswith("//"), (
                asset
            )  # same origin: 'self' allows it
            assert client.get(asset).status_code == 200, asset


def test_production_responses_have_hsts_and_secure_httponly_cookies(django_db_setup):
    server = Server({**os.environ, **PRODUCTION, "DATABASE_URL": database_url(), "CONN_MAX_AGE": "0"})
    try:
        server.wait_until_up()  # /healthz answers over plain http: load balancers check it so
        status, headers, _ = server.request("GET", "/", client="192.0.2.1")
        assert status == 301 and headers["Location"] == "https://127.0.0.1/"
        # Through the trusted proxy, which says that the client used https; no cookie yet.
        https = {"X-Forwarded-Proto": "https", "Cookie": None}
        status, headers, _ = server.request("GET", "/", client="192.0.2.1", headers=https)
        assert status == 200
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        cookies = headers.get_all("Set-Cookie")
        assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies), cookies
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    finally:
        server.stop()


# Privacy


@pytest.mark.django_db
def test_emails_and_ip_hashes_appear_on_no_public_page(client, settings):
    settings.COUNT_MAX_AGE_SECONDS = 0
    email, ip_hash = "hidden.person@studio.example", hash_ip("192.0.2.44")
    signature = make_signature(
        email=email,
        ip_hash=ip_hash,
        status=Signature.Status.APPROVED,
        featured=True,
        verified=True,
        full_name="Hidden Person",
    )
    pages = [
        "/",
        "/privacy/",
        "/sign/thanks/",
        "/api/count/",
        f"/verify/{signature.make_token('verify')}/",
        f"/withdraw/{signature.make_token('withdraw')}/",
        # Built by other branches; checked here so that this holds once they land.
        "/signatories/",
        "/signatories/?q=Hidden",
        "/signatories.csv",
        "/press/",
        "/api/history/",
        "/badge.svg",
    ]
    seen_name = False
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
        seen_name |= "Hidden Person" in body
        assert email not in body and "studio.example" not in body and ip_hash not in body, page
    assert seen_name  # the pages did show the signature, just not its email or hash


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sent to ada@example.com ok", f"sent to {REDACTED} ok"),
        ("{'Ada.L+tag@Mail.Example.org': (550, b'no')}", f"{{'{REDACTED}': (550, b'no')}}"),
        ("<grace@example.co.uk>", f"<{REDACTED}>"),
        ("no address here, just @handles and a@b", "no address here, just @handles and a@b"),
    ],
)
def test_redact_emails(text, expected):
    assert redact_emails(text) == expected


@pytest.fixture
def console_log():
    """What the configured console handler (the one with the redacting filter) writes."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    stream = io.StringIO()
    old_stream = handler.setStream(stream)
    logger = logging.getLogger()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.setLevel(old_level)
    handler.setStream(old_stream)


@pytest.mark.django_db
def test_no_email_address_reaches_the_logs_in_a_sign_and_deliver_run(
    client, valid_form_data, smtp_inbox, console_log
):
    smtp_inbox.refuse["ada@example.com"] = "550 5.1.1 <ada@example.com>: no such user"
    client.post("/sign/", valid_form_data)
    client.post("/sign/", {**valid_form_data, "email": "not an address"})
    process_submissions()
    deliver_due()  # logs the refusal, whose text names the address
    try:
        raise ValueError("could not reach grace@example.org")
    except ValueError:
        logging.getLogger("pledges").exception("failed for ada@example.com")
    logging.getLogger("django.request").warning("Bad request from %s", "ada@example.com")
    output = console_log.getvalue()
    assert "failed for good" in output and "ValueError" in output  # the run did log
    assert REDACTED in output
    assert "@example." not in output, output
