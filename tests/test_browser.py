import re
import shutil

import pytest
from django.db import connections

from pledges.emails import deliver_due
from pledges.models import Signature, Submission
from pledges.signing import process_submissions
from tests.utils import link_in

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which("chromium"), reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]


@pytest.fixture
def phone(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous, as Django's docs allow for this case.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # A 360 px phone with JavaScript off: the whole flow must work without it.
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, java_script_enabled=False
        )
        yield context.new_page()
        browser.close()
        # The ORM calls made while Playwright's loop ran used their own connection: close it here.
        connections.close_all()


def shown_count(page) -> int:
    return int(page.locator(".count-number").first.inner_text().replace(",", ""))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sign_on_a_phone_confirm_by_email_and_see_the_count_go_up(phone, live_server, settings, smtp_inbox):
    settings.SITE_URL = live_server.url
    settings.COUNT_MAX_AGE_SECONDS = 0
    page = phone
    page.goto(live_server.url + "/")
    before = shown_count(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling

    page.get_by_label("Full name").fill("Octavia Butler")
    page.get_by_label("Email address").fill("Octavia@Example.com")
    page.get_by_label("Profession").select_option(label="Writer")
    page.get_by_text("Add details (optional)").click()  # a <details>: no JavaScript needed
    page.get_by_label("WGA").check()
    page.get_by_label("Notable credit, company or channel").fill("Kindred")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign the letter").click()
    page.wait_for_url(re.compile(r"/sign/thanks/(#sign)?$"))  # a redirect keeps the form's #sign
    assert page.get_by_role("heading", name="Check your email").is_visible()

    assert process_submissions() == 1  # the worker signs, then mails
    assert deliver_due() == 1
    [message] = smtp_inbox.to("octavia@example.com")
    page.goto(link_in(message, "verify"))
    assert Signature.objects.get().status == Signature.Status.PENDING  # opening the link is not enough
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm my signature").click()
    assert page.get_by_role("heading", name=re.compile("your signature is confirmed")).is_visible()

    page.goto(live_server.url + "/")
    assert shown_count(page) == before + 1
    assert Signature.objects.get().status == Signature.Status.CONFIRMED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_errors_are_shown_next_to_fields_and_the_form_works_by_keyboard(phone, live_server):
    page = phone
    page.goto(live_server.url + "/")
    page.get_by_label("Full name").focus()
    page.keyboard.type("Ann")
    page.keyboard.press("Tab")
    page.keyboard.type("not-an-email")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the form from the keyboard
    email = page.get_by_label("Email address")
    assert email.get_attribute("aria-invalid") == "true"
    help_id, error_id = email.get_attribute("aria-describedby").split()
    assert "valid email" in page.locator(f"#{error_id}").inner_text()
    assert "confirm your signature" in page.locator(f"#{help_id}").inner_text()
    assert page.get_by_label("Full name").input_value() == "Ann"  # what was typed is kept
    assert Submission.objects.count() == Signature.objects.count() == 0


@pytest.fixture
def other_site():
    """A plain HTML page served from another origin, that embeds the badge as any blog would."""
    import http.server
    import threading

    from tests.utils import free_port

    class Page(http.server.BaseHTTPRequestHandler):
        html = b""

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(self.html)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, Page
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_badge_embeds_and_the_count_api_reads_from_another_site(live_server, other_site, monkeypatch):
    from playwright.sync_api import sync_playwright

    from tests.utils import make_signature

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    for _ in range(3):
        make_signature(status=Signature.Status.CONFIRMED)
    server, page_class = other_site
    page_class.html = (
        f'<!doctype html><title>A blog</title><img id="badge" src="{live_server.url}/badge.svg">'.encode()
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.wait_for_load_state("load")
        assert page.evaluate("document.getElementById('badge').naturalWidth") > 100
        data = page.evaluate(
            "url => fetch(url).then(response => response.json())", f"{live_server.url}/api/count/"
        )
        history = page.evaluate(
            "url => fetch(url).then(response => response.json())", f"{live_server.url}/api/history/"
        )
        browser.close()
    connections.close_all()
    assert data["count"] == 3 and history[-1]["total"] == 3
