import re

import pytest
from django.db import connections

from pledges.emails import deliver_due
from pledges.models import Signature
from pledges.signing import process_submissions
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_browser import pytestmark as browser_marks
from tests.utils import link_in

pytestmark = browser_marks


@pytest.fixture
def spanish_phone(monkeypatch):
    """A 360 px phone with JavaScript off whose browser prefers Spanish (Accept-Language: es-ES)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 360, "height": 740},
            is_mobile=True,
            has_touch=True,
            java_script_enabled=False,
            locale="es-ES",
        )
        yield context.new_page()
        browser.close()
        connections.close_all()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_spanish_reader_signs_and_confirms_in_spanish_on_a_phone(
    spanish_phone, live_server, settings, smtp_inbox
):
    settings.SITE_URL = live_server.url
    page = spanish_phone
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert (
        page.get_by_role("heading", level=1).inner_text() == "Carta abierta sobre la IA y el trabajo creativo"
    )
    assert page.get_by_text("Esta es una traducción.").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling

    page.get_by_label("Nombre completo").fill("Gabriel García")
    page.get_by_label("Correo electrónico").fill("gabo@example.com")
    page.get_by_label("Profesión").select_option(label="Guionista / escritor")
    page.get_by_text("Añadir datos (opcional)").click()  # a <details>: opens without JavaScript
    page.get_by_label("WGA").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Firmar la carta").click()
    page.wait_for_url(re.compile(r"/sign/thanks/(#sign)?$"))
    assert page.get_by_role("heading", name="Revisa tu correo").is_visible()

    assert process_submissions() == 1
    assert Signature.objects.get().language == "es"
    assert deliver_due() == 1
    [message] = smtp_inbox.to("gabo@example.com")
    assert message["Subject"] == "Confirma tu firma en la carta abierta"
    assert "Gracias por firmar" in message.get_body(("plain",)).get_content()
    page.goto(link_in(message, "verify"))
    assert page.get_by_role("heading", name="Confirma tu firma").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Confirmar mi firma").click()
    assert page.get_by_role("heading", name="Gracias, tu firma está confirmada").is_visible()
    assert Signature.objects.get().status == Signature.Status.CONFIRMED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_language_switch_works_without_javascript(spanish_phone, live_server):
    page = spanish_phone
    page.goto(live_server.url + "/press/")
    with page.expect_navigation():
        page.get_by_role("button", name="Français").click()
    assert page.url == live_server.url + "/press/"
    assert page.locator("html").get_attribute("lang") == "fr"
    assert (
        page.get_by_role("heading", level=1).inner_text().replace("\xa0", " ")
        == "Presse : la lettre en chiffres"
    )
    page.goto(live_server.url + "/")  # the choice stays, whatever the browser prefers
    assert page.get_by_role("button", name="Signer la lettre").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "An open letter on AI and creative work"
