import pytest

from pledges.models import Signature
from tests.test_browser import phone  # noqa: F401 (the fixture)
from tests.test_browser import pytestmark as browser_marks
from tests.utils import make_signature

pytestmark = browser_marks


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_search_and_page_the_public_list_on_a_phone_without_javascript(phone, live_server, monkeypatch):  # noqa: F811
    from pledges import views

    monkeypatch.setattr(views, "SIGNATORIES_PER_PAGE", 2)
    for name in ["Zoë Saldaña", "Zoe Kazan", "Zoey Deutch", "Ada Adams"]:
        make_signature(status=Signature.Status.APPROVED, full_name=name, credit="A very long credit " * 4)
    page = phone
    page.goto(live_server.url + "/signatories/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    page.get_by_label("Search names").fill("ZOE")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    names = page.locator(".signatory-name").all_inner_texts()
    with page.expect_navigation():
        page.get_by_role("link", name="Next page").click()
    names += page.locator(".signatory-name").all_inner_texts()
    assert names == ["Zoe Kazan", "Zoë Saldaña", "Zoey Deutch"]
    assert page.get_by_label("Search names").input_value() == "ZOE"
