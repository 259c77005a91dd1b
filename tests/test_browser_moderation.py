"""A moderator in real Chromium: tick the header box of a full queue page (100 rows) and
approve, then "Select all" across pages, which becomes a background job with a progress page."""

import shutil

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections

from pledges import bulk
from pledges.models import BulkModerationJob, Signature
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_bulk_moderation import seed_confirmed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which("chromium"), reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]


@pytest.fixture
def desk(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        browser.close()
        connections.close_all()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_moderator_approves_a_full_page_then_selects_all_as_a_job(desk, live_server, settings):
    settings.BULK_IN_REQUEST_MAX = 150
    # The live server serves static files through the finders, which know only unhashed names;
    # the admin's JavaScript (the header box, "select all") must load for this test.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    user = User.objects.create_user("mo", password="a-long-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
    seed_confirmed(400)
    page = desk
    page.goto(live_server.url + "/admin/login/?next=/admin/pledges/queuedsignature/")
    page.fill("#id_username", "mo")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")

    page.check("#action-toggle")  # the header box: all 100 rows of the page
    assert page.locator(".action-counter").inner_text() == "100 of 100 selected"
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    assert "Approved 100 of 100 signatures." in page.locator(".messagelist").inner_text()
    assert Signature.objects.filter(status=Signature.Status.APPROVED).count() == 100

    page.check("#action-toggle")
    page.click(".question a")  # "Select all 300 signatures in this list"
    assert "All 300 signatures in this list selected" in page.locator(".all").inner_text()
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    # Locators wait for the page, which refreshes itself every 3 s while the job is unfinished.
    assert page.locator(".job-progress strong").inner_text() == "Waiting for the worker"
    assert BulkModerationJob.objects.get().state == "queued"
    bulk.run_all()
    page.reload()
    assert page.locator(".job-progress strong").inner_text() == "Done"
    assert "300 of 300 looked at, 300 changed" in page.locator(".field-progress").inner_text()
    assert Signature.objects.filter(status=Signature.Status.APPROVED).count() == 400
