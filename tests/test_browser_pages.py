"""Issue 12's points on a 360 x 740 phone, in Chromium: the ask above the fold, errors a person can
act on, the shorter form, who is behind the letter, figures a journalist can quote, no dead ends;
and axe-core finding no serious or critical accessibility problem on any public page."""

import re
import time

import pytest
from django.db import connections

from pledges.models import AboutPage, Signature
from pledges.signing import process_submissions
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_browser import pytestmark as browser_marks
from tests.utils import make_signature

pytestmark = browser_marks

S = Signature.Status
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


def wait_until(condition, attempts: int = 100) -> None:
    """Poll (page.wait_for_function would evaluate a string, which our CSP forbids)."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    assert condition()


def phone_page(browser, *, javascript: bool):
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=javascript
    )
    return context.new_page()


def in_first_screen(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_ask_and_the_button_are_on_the_first_screen_of_a_phone(browser, live_server):
    page = phone_page(browser, javascript=False)
    page.goto(live_server.url + "/")
    summary = page.locator(".letter-summary")
    assert summary.inner_text().startswith("We ask lawmakers, studios")
    assert in_first_screen(summary)
    button = page.get_by_role("link", name="Sign the letter")
    assert in_first_screen(button)
    assert page.get_by_role("heading", name="2. Job protection and transition planning").count() == 1
    button.click()
    page.wait_for_url(re.compile(r"#sign$"))
    assert in_first_screen(page.get_by_label("Full name"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_mistake_lands_at_the_form_with_the_problems_listed_and_focused(browser, live_server):
    page = phone_page(browser, javascript=True)
    page.goto(live_server.url + "/")
    page.get_by_label("Full name").fill("Ann")
    page.get_by_label("Email address").fill("not-an-email")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign the letter").click()
    assert page.title().startswith("Error: ")
    assert page.url.endswith("/sign/#sign")
    summary = page.locator("#error-summary")
    wait_until(lambda: page.evaluate("document.activeElement.id") == "error-summary")
    assert in_first_screen(summary)
    problems = summary.get_by_role("link").all_inner_texts()
    assert problems == ["Please enter a valid email address.", "Please choose your profession."]
    summary.get_by_role("link", name="Please choose your profession.").click()
    assert page.evaluate("document.activeElement.id") == "id_profession"
    assert in_first_screen(page.get_by_label("Profession"))
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_label("Profession").select_option(label="Writer")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign the letter").click()
    # The redirect keeps the form's #sign, which the thanks page ignores.
    page.wait_for_url(re.compile(r"/sign/thanks/(#sign)?$"))
    assert process_submissions() == 1
    assert Signature.objects.get().full_name == "Ann"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_javascript_a_mistake_still_opens_at_the_summary_and_its_links_work(browser, live_server):
    page = phone_page(browser, javascript=False)
    page.goto(live_server.url + "/")
    page.get_by_label("Full name").fill("Ann")
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_label("Profession").select_option(label="Writer")
    page.get_by_text("Add details (optional)").click()
    page.get_by_label("Notable credit, company or channel").fill("=SUM(A1)")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign the letter").click()
    assert page.title().startswith("Error: ")
    summary = page.locator("#error-summary")
    assert in_first_screen(summary)
    # The field with the problem is in the optional details, which open by themselves.
    assert page.locator("details.optional-details").get_attribute("open") is not None
    summary.get_by_role("link").click()
    assert page.url.endswith("#id_credit")
    assert in_first_screen(page.locator("#id_credit"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_short_form_asks_only_what_it_needs_first(browser, live_server):
    page = phone_page(browser, javascript=False)
    page.goto(live_server.url + "/#sign")
    for label in [
        "Full name",
        "Email address",
        "Profession",
        "Show my name on the public list of signatories",
    ]:
        assert page.get_by_label(label).is_visible(), label
    assert page.get_by_role("button", name="Sign the letter").is_visible()
    # Guilds, credit and country wait behind "Add details (optional)", which opens without JavaScript.
    for label in ["WGA", "Notable credit, company or channel", "Country"]:
        assert not page.get_by_label(label).is_visible(), label
    page.get_by_text("Add details (optional)").click()
    for label in ["WGA", "Notable credit, company or channel", "Country"]:
        assert page.get_by_label(label).is_visible(), label
    # The required part of the form and its button fit on one phone screen.
    top = page.get_by_label("Full name").bounding_box()["y"]
    bottom = page.get_by_role("button", name="Sign the letter").bounding_box()
    assert bottom["y"] + bottom["height"] - top < PHONE["height"] * 1.5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_who_is_behind_the_letter_is_one_tap_from_every_page(browser, live_server):
    about = AboutPage.current()
    about.press_contact = "Pat Press, communications"
    about.save()
    page = phone_page(browser, javascript=False)
    for path in ["/", "/press/", "/privacy/", "/signatories/"]:
        page.goto(live_server.url + path)
        with page.expect_navigation():
            page.locator("footer").get_by_role("link", name="About us").click()
        assert page.get_by_role("heading", name="Who is behind the letter").is_visible()
    assert page.get_by_text("Pat Press, communications").is_visible()
    assert page.get_by_role("link", name=about.contact_email).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto(live_server.url + "/privacy/")
    assert page.get_by_role("heading", name="Who holds your data").is_visible()
    page.goto(live_server.url + "/press/")
    assert page.get_by_role("link", name=about.press_email).is_visible()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_journalist_reads_the_figures_the_chart_and_quotable_names_on_a_phone(browser, live_server):
    make_signature(
        status=S.APPROVED, full_name="Octavia Butler", featured=True, credit="Kindred", verified=True
    )
    for _ in range(3):
        make_signature(status=S.APPROVED)
    page = phone_page(browser, javascript=False)
    page.goto(live_server.url + "/press/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # Chart labels stay at least 10 CSS pixels tall once the chart shrinks to the phone's width.
    heights = page.evaluate(
        "[...document.querySelectorAll('.chart-labels text')].map(t => t.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 10, heights
    featured = page.locator(".featured li", has_text="Octavia Butler")
    assert "Kindred" in featured.inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="public list").first.click()
    assert page.url.endswith("/signatories/")
    page.get_by_label("Search names").fill("octavia")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.get_by_text("1 name matches “octavia”.").is_visible()
    assert "Kindred" in page.locator(".signatory-list li").first.inner_text()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_opening_the_email_link_again_offers_the_share_links(browser, live_server):
    signature = make_signature(status=S.CONFIRMED)
    page = phone_page(browser, javascript=False)
    page.goto(f"{live_server.url}/verify/{signature.make_token('verify')}/")
    assert page.get_by_role("heading", name="Your signature is already confirmed").is_visible()
    assert page.get_by_role("link", name="Bluesky").is_visible()
    assert page.get_by_label("Or copy the link:").input_value().endswith("/")


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_axe_finds_no_serious_problem_on_any_public_page(browser, live_server):
    make_signature(
        status=S.APPROVED, full_name="Octavia Butler", featured=True, credit="Kindred", verified=True
    )
    pending = make_signature(email="pending@example.com")
    confirmed = make_signature(email="confirmed@example.com")
    to_withdraw = make_signature(status=S.APPROVED, email="withdraw@example.com")
    page = phone_page(browser, javascript=True)
    found = {}

    def check(label: str) -> None:
        found[label] = serious_violations(page)

    for path in ["/", "/sign/thanks/", "/signatories/", "/signatories/?q=octavia", "/signatories/?q=nobody"]:
        page.goto(live_server.url + path)
        check(path)
    for path in ["/press/", "/privacy/", "/about/", "/no-such-page/", "/verify/not-a-token/"]:
        page.goto(live_server.url + path)
        check(path)
    page.goto(live_server.url + "/")
    page.get_by_label("Email address").fill("not-an-email")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign the letter").click()
    check("/ with errors")
    page.goto(f"{live_server.url}/verify/{pending.make_token('verify')}/")
    check("verify")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm my signature").click()
    check("confirmed")
    page.goto(f"{live_server.url}/verify/{confirmed.make_token('verify')}/")
    page.goto(f"{live_server.url}/verify/{pending.make_token('verify')}/")
    check("already confirmed")
    page.goto(f"{live_server.url}/withdraw/{to_withdraw.make_token('withdraw')}/")
    check("withdraw")
    with page.expect_navigation():
        page.get_by_role("button", name="Withdraw my signature").click()
    check("withdrawn")
    assert len(found) == 16
    assert {label: problems for label, problems in found.items() if problems} == {}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_axe_can_fail(browser, live_server):
    # The check above is live: a page with an unlabelled field and an image without a text is caught.
    page = phone_page(browser, javascript=True)
    page.goto(live_server.url + "/about/")
    assert serious_violations(page) == []
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<input type=text><img src=\"/badge.svg\">')"
    )
    problems = " ".join(serious_violations(page))
    assert "label (critical)" in problems and "image-alt (critical)" in problems
