"""A real browser, with JavaScript on, reports no Content Security Policy violation on our pages
or in the admin: the policy allows no inline script or style, and nothing needs one."""

import shutil

import pytest
from django.contrib.auth.models import User
from django.db import connections

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which("chromium"), reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        console = []
        page.on("console", lambda message: console.append(message.text))
        page.console_messages = console
        yield page
        browser.close()
        connections.close_all()


def violations(page) -> list[str]:
    found = page.evaluate("window.cspViolations")
    return found + [text for text in page.console_messages if "Content Security Policy" in text]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_csp_violation_on_our_pages_or_in_the_admin(browser_page, live_server, settings):
    User.objects.create_superuser("staff", "staff@example.org", "a-long-staff-password")
    page = browser_page
    for path in ["/", "/privacy/", "/sign/thanks/", "/verify/not-a-token/"]:
        page.goto(live_server.url + path)
        assert violations(page) == [], path

    page.goto(f"{live_server.url}/{settings.ADMIN_URL}login/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("a-long-staff-password")
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("heading", name="Site administration").is_visible()
    assert violations(page) == []
    for path in ["auth/user/", "auth/user/add/", "auth/group/add/"]:
        page.goto(f"{live_server.url}/{settings.ADMIN_URL}{path}")
        # The admin's own JavaScript ran (it is blocked if the policy is wrong).
        assert page.evaluate("typeof window.django === 'object' || typeof window.jQuery !== 'undefined'"), (
            path
        )
        assert violations(page) == [], path


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_violation_detector_sees_an_inline_script(browser_page, live_server, client):
    # The test above can fail: a page served with our policy and an inline script is caught.
    policy = client.get("/")["Content-Security-Policy"]
    page = browser_page
    page.route(
        live_server.url + "/probe",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/html", "Content-Security-Policy": policy},
            body="<!doctype html><p style='color:red'>x</p><script>document.title='ran'</script>",
        ),
    )
    page.goto(live_server.url + "/probe")
    assert page.title() != "ran"
    assert any("script-src" in v for v in violations(page))
