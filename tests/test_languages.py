"""English, Spanish and French: the pages, the form's errors, the emails, the letter's translations,
and the checks that keep every string a visitor reads translatable and translated."""

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.template import Template
from django.template.base import Lexer, TokenType
from django.template.loader import render_to_string
from django.urls import resolve, reverse
from django.utils import translation

from pledges.emails import deliver_due
from pledges.languages import LANGUAGE_FREE_URL_NAMES
from pledges.models import LetterTranslation, LetterVersion, OutgoingEmail, Profession, Signature, Submission
from pledges.signing import process_submissions
from tests.utils import link_in, make_signature

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
LANGUAGES = [code for code, _ in settings.LANGUAGES]
FIRST_TITLES = {
    "en": "An open letter on AI and creative work",
    "es": "Carta abierta sobre la IA y el trabajo creativo",
    "fr": "Lettre ouverte sur l\u2019IA et le travail créatif",
}
# One phrase of each language's interface, to tell which language a page speaks.
SIGN_BUTTON = {"en": "Sign the letter", "es": "Firmar la carta", "fr": "Signer la lettre"}
NAME_REQUIRED = {"en": "Please enter your name.", "es": "Escribe tu nombre.", "fr": "Saisissez votre nom."}
CONFIRM_SUBJECT = {
    "en": "Confirm your signature on the open letter",
    "es": "Confirma tu firma en la carta abierta",
    "fr": "Confirmez votre signature de la lettre ouverte",
}
ALREADY_SIGNED_SUBJECT = {
    "en": "You have already signed the open letter",
    "es": "Ya has firmado la carta abierta",
    "fr": "Vous avez déjà signé la lettre ouverte",
}


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


@pytest.mark.parametrize("language", LANGUAGES)
def test_letter_page_speaks_the_browsers_language(client, language):
    response = client.get("/", headers={"accept-language": f"{language},en;q=0.5"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html_lang(html) == language and response["Content-Language"] == language
    assert "Accept-Language" in response["Vary"]
    assert f"<h1>{FIRST_TITLES[language]}</h1>" in html
    assert SIGN_BUTTON[language] in html
    if language == "en":
        assert "letter-language" not in html
    else:
        # The translation says it is one, and offers the original, marked as English.
        assert 'class="letter-language"' in html and '<div lang="en"><h2>An open letter' in html


def test_a_browser_preferring_an_unknown_language_reads_english(client):
    html = client.get("/", headers={"accept-language": "de-DE,de;q=0.9,ja;q=0.5"}).content.decode()
    assert html_lang(html) == "en" and FIRST_TITLES["en"] in html


def test_regional_variants_read_their_language(client):
    html = client.get("/", headers={"accept-language": "es-MX,es;q=0.9"}).content.decode()
    assert html_lang(html) == "es" and FIRST_TITLES["es"] in html


def test_a_letter_version_without_a_translation_shows_the_english_and_says_so(client):
    current = LetterVersion.objects.current()
    revised = current.revise(title="A revised letter", body="New words.")
    assert revised.pk != current.pk and not revised.translations.exists()
    response = client.get("/", headers={"accept-language": "es"})
    html = response.content.decode()
    assert response.status_code == 200 and html_lang(html) == "es"
    assert '<h1 lang="en">A revised letter</h1>' in html and '<div class="letter-body" lang="en">' in html
    assert "La carta aún no está traducida a tu idioma" in html
    assert SIGN_BUTTON["es"] in html  # the rest of the page is still Spanish


def test_a_translation_staff_add_is_what_its_readers_see(client):
    letter = LetterVersion.objects.current()
    LetterTranslation.objects.filter(letter_version=letter, language="fr").update(
        title="Titre révisé", body="Premier paragraphe.\n\nSecond paragraphe."
    )
    html = client.get("/", headers={"accept-language": "fr"}).content.decode()
    assert "<h1>Titre révisé</h1>" in html and "<p>Second paragraphe.</p>" in html
    assert "C\u2019est l\u2019original en anglais qui fait foi." in html


def test_the_first_letter_ships_with_spanish(client):
    letter = LetterVersion.objects.current()
    spanish = letter.in_language("es")
    assert spanish.is_translation and spanish.language == "es"
    assert spanish.body.count("\n\n") == letter.body.count("\n\n")  # paragraph for paragraph
    assert letter.in_language("en") == letter


def test_the_answers_that_read_the_same_in_every_language_negotiate_none(client):
    for name in LANGUAGE_FREE_URL_NAMES:
        path = reverse(name)
        assert resolve(path).func.language_independent, name  # marked where it is defined too
        response = client.get(path, headers={"accept-language": "es"}, HTTP_COOKIE="django_language=fr")
        assert response.status_code == 200, path
        assert "Accept-Language" not in response.get("Vary", "") and "Content-Language" not in response
    # The page after it negotiates again, from scratch.
    html = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert '<html lang="es"' in html


def test_lang_parameter_names_the_language_and_keeps_it(client):
    response = client.get("/?lang=fr", headers={"accept-language": "es"})
    assert html_lang(response.content.decode()) == "fr"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    # The next page, without the parameter, stays in French.
    html = client.get("/press/", headers={"accept-language": "es"}).content.decode()
    assert html_lang(html) == "fr"


def test_unknown_lang_parameter_is_ignored(client):
    response = client.get("/?lang=xx-" + "y" * 500, headers={"accept-language": "es"})
    assert response.status_code == 200 and html_lang(response.content.decode()) == "es"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_switch_changes_the_language_without_javascript_or_a_csrf_token(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    html = strict.get("/signatories/?q=ada&lang=es").content.decode()
    # The switch is a plain form: a button per language, and the page to come back to without ?lang=.
    form = re.search(r'<form class="language-switch" method="post" action="([^"]+)".*?</form>', html, re.S)
    assert form and form.group(1) == "/i18n/setlang/"
    assert 'name="next" value="/signatories/?q=ada"' in form.group(0)
    assert '<button type="submit" name="language" value="fr" lang="fr">Français</button>' in form.group(0)
    assert 'aria-current="true">Español</span>' in form.group(0)
    response = strict.post("/i18n/setlang/", {"language": "fr", "next": "/signatories/?q=ada"})
    assert response.status_code == 302 and response["Location"] == "/signatories/?q=ada"
    assert html_lang(strict.get("/signatories/?q=ada").content.decode()) == "fr"


def test_switch_does_not_redirect_off_the_site(client):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_switch_on_a_rejected_form_comes_back_to_the_form(client, valid_form_data):
    response = client.post("/sign/", {**valid_form_data, "full_name": ""})
    assert response.status_code == 400
    assert 'name="next" value="/#sign"' in response.content.decode()


def test_every_page_carries_hreflang_alternates_from_site_url(client, settings):
    settings.SITE_URL = "https://letter.example.org"
    html = client.get("/signatories/?q=ada&lang=es").content.decode()
    alternates = dict(re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', html))
    assert alternates == {
        "en": "https://letter.example.org/signatories/?q=ada&amp;lang=en",
        "es": "https://letter.example.org/signatories/?q=ada&amp;lang=es",
        "fr": "https://letter.example.org/signatories/?q=ada&amp;lang=fr",
        "x-default": "https://letter.example.org/signatories/?q=ada",
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_form_errors_speak_the_visitors_language(client, valid_form_data, language):
    response = client.post(
        "/sign/",
        {**valid_form_data, "full_name": "", "email": "not an address", "profession": "nope"},
        headers={"accept-language": language},
    )
    html = response.content.decode()
    assert response.status_code == 400 and html_lang(html) == language
    assert NAME_REQUIRED[language] in html
    expected = {
        "en": ["<title>Error: An open letter", "There is a problem", "Please enter a valid email address."],
        "es": ["<title>Error: Carta abierta", "Hay un problema", "Escribe un correo electrónico válido."],
        "fr": [
            "<title>Erreur\u00a0: Lettre ouverte",
            "Il y a un problème",
            "Saisissez une adresse e-mail valide.",
        ],
    }[language]
    for text in expected:
        assert text in html
    assert not Submission.objects.exists() and not Signature.objects.exists()


def test_choices_are_named_in_the_readers_language_and_new_ones_as_typed(client):
    Profession.objects.create(slug="stunts", name="Stunt coordinator", position=1)
    html = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert '<option value="actor">Actor / intérprete</option>' in html
    assert '<option value="stunts">Stunt coordinator</option>' in html
    assert '<option value="FR">Francia</option>' in html  # django-countries' own Spanish names


@pytest.mark.parametrize("language", LANGUAGES)
def test_signing_records_the_language_and_every_email_speaks_it(
    client, smtp_inbox, valid_form_data, language
):
    client.post("/sign/", valid_form_data, headers={"accept-language": language})
    # The worker runs in no particular language; the message is made in the signer's.
    with translation.override("en"):
        assert process_submissions() == 1
        assert deliver_due() == 1
    signature = Signature.objects.get()
    assert signature.language == language
    [message] = smtp_inbox.messages
    assert message["Subject"] == CONFIRM_SUBJECT[language]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert link_in(message, "verify").endswith(f"/?lang={language}")
    assert f'<html lang="{language}">' in html
    greeting = {"en": "Hello Ada Lovelace,", "es": "Hola, Ada Lovelace:", "fr": "Bonjour Ada Lovelace,"}
    assert greeting[language] in text and greeting[language] in html
    button = {"en": "Confirm my signature", "es": "Confirmar mi firma", "fr": "Confirmer ma signature"}
    assert f">{button[language]}</a>" in html

    # Signing again from a browser in another language: the email still speaks the signer's.
    Signature.objects.filter(pk=signature.pk).update(
        status=Signature.Status.CONFIRMED, confirmed_at=signature.created_at
    )
    other = "fr" if language != "fr" else "es"
    client.post("/sign/", valid_form_data, headers={"accept-language": other})
    process_submissions()
    deliver_due()
    assert smtp_inbox.messages[-1]["Subject"] == ALREADY_SIGNED_SUBJECT[language]
    assert Signature.objects.get().language == language


def test_resent_confirmation_speaks_the_signers_language(settings):
    from django.contrib.auth.models import User

    from pledges.signing import resend_confirmation

    signature = make_signature(language="fr")
    boss = User.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    with translation.override("es"):
        assert resend_confirmation(signature, boss)
    assert OutgoingEmail.objects.get().subject == CONFIRM_SUBJECT["fr"]


def test_confirming_in_spanish(client):
    signature = make_signature(language="es")
    verify = signature.link("verify").removeprefix(settings.SITE_URL)
    page = client.get(verify).content.decode()
    assert html_lang(page) == "es" and "Confirmar mi firma" in page
    done = client.post(verify).content.decode()
    assert "Gracias, tu firma está confirmada" in done
    assert Signature.objects.get().status == Signature.Status.CONFIRMED


def test_the_database_refuses_a_language_the_site_does_not_speak():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        make_signature(language="de")


def test_count_api_reads_the_same_in_every_language(client):
    make_signature(status=Signature.Status.CONFIRMED, language="es")
    answers = [client.get("/api/count/", headers={"accept-language": language}) for language in LANGUAGES]
    assert len({answer.content for answer in answers}) == 1
    assert b'"name": "Writer"' in answers[1].content  # the contract's names, not the page's
    for answer in answers:
        assert "Accept-Language" not in answer.get("Vary", "") and "Content-Language" not in answer


def test_badge_speaks_the_language_it_is_asked_for(client):
    for number in range(2):
        make_signature(status=Signature.Status.CONFIRMED, email=f"b{number}@example.com")
    english = client.get("/badge.svg").content.decode()
    spanish = client.get("/badge.svg?lang=es").content.decode()
    assert "2 signatures" in english and "2 firmas" in spanish
    # An embedded image does not choose our site's language for its viewer.
    assert settings.LANGUAGE_COOKIE_NAME not in client.get("/badge.svg?lang=es").cookies


def test_press_embed_snippet_pins_the_badges_language(client):
    html = client.get("/press/", headers={"accept-language": "fr"}).content.decode()
    assert "/badge.svg?lang=fr" in html and "Presse : la lettre en chiffres" in html.replace("\xa0", " ")


@pytest.mark.parametrize(
    ("path", "status", "spanish"),
    [
        ("/no-such-page/", 404, "Página no encontrada"),
        ("/verify/not-a-token/", 400, "Este enlace no funciona"),
        ("/signatories/?guild=nope", 400, "Ese gremio no existe."),
    ],
)
def test_error_pages_speak_the_visitors_language(client, path, status, spanish):
    response = client.get(path, headers={"accept-language": "es"})
    assert response.status_code == status and spanish in response.content.decode()


@pytest.mark.parametrize(
    ("template", "spanish"), [("500.html", "Algo salió mal"), ("403_csrf.html", "Inténtalo de nuevo")]
)
def test_server_error_pages_render_in_the_active_language(rf, template, spanish):
    request = rf.get("/")
    with translation.override("es"):
        html = render_to_string(template, request=request)
    assert spanish in html and html_lang(html) == "es"


def test_english_dates_read_day_month_year(client):
    html = client.get("/").content.decode()
    created = LetterVersion.objects.current().created_at
    assert f"Letter version of {created.day} {created:%B %Y}." in html
    spanish = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert re.search(r"Versión de la carta del \d+ de \w+ de \d{4}\.", spanish)


# --- Every string translatable, every Spanish string translated ---------------------------------

# Words a template may show as they are: the coalition's name is a proper name.
UNTRANSLATED_ALLOWED = ["Creators Coalition on AI"]
# Attributes a person reads (or hears from a screen reader).
READ_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder"}
_TRANSLATING_BLOCKS = {
    "blocktranslate": "endblocktranslate",
    "blocktrans": "endblocktrans",
    "comment": "endcomment",
}


class _ReadableText(HTMLParser):
    """The text a person reads in an HTML fragment: data outside <code>, <pre>, <style> and
    <script>, and the attributes above."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("code", "pre", "style", "script"):
            self.skipping += 1
        self.texts.extend(value for name, value in attrs if name in READ_ATTRIBUTES and value)

    def handle_endtag(self, tag):
        if tag in ("code", "pre", "style", "script"):
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.texts.append(data)


def untranslatable_text(source: str) -> list[str]:
    """Words in a template that no {% translate %} or {% blocktranslate %} holds."""
    parts, closing = [], None
    for token in Lexer(source).tokenize():
        if closing:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == closing:
                closing = None
            continue
        if token.token_type == TokenType.BLOCK and token.contents.split()[0] in _TRANSLATING_BLOCKS:
            closing = _TRANSLATING_BLOCKS[token.contents.split()[0]]
            parts.append("0")
        elif token.token_type == TokenType.TEXT:
            parts.append(token.contents)
        elif token.token_type != TokenType.COMMENT:
            parts.append("0")  # a variable or a tag: no words of its own
    parser = _ReadableText()
    parser.feed("".join(parts))
    parser.close()
    words = []
    for text in parser.texts:
        for allowed in UNTRANSLATED_ALLOWED:
            text = text.replace(allowed, "")
        words += re.findall(r"[^\W\d_]{2,}", text)
    return words


def visitor_templates() -> list[Path]:
    # The admin's templates are for staff, who read the admin in English.
    templates = BASE_DIR / "templates"
    return sorted(path for path in templates.rglob("*.*") if "admin" not in path.relative_to(templates).parts)


def test_the_check_finds_text_left_out_of_translation():
    assert untranslatable_text('<p>{% translate "Fine" %}</p><p>Forgotten words</p>') == [
        "Forgotten",
        "words",
    ]
    assert untranslatable_text('<img alt="A picture" src="{{ x }}">') == ["picture"]
    assert untranslatable_text("{% blocktranslate %}All <b>held</b>{% endblocktranslate %} 12 · 3") == []
    assert untranslatable_text("<pre><code>&lt;img src=x&gt;</code></pre>Creators Coalition on AI") == []


@pytest.mark.parametrize("path", visitor_templates(), ids=lambda path: str(path.relative_to(BASE_DIR)))
def test_every_template_string_is_translatable(path):
    Template(path.read_text())  # it parses
    assert untranslatable_text(path.read_text()) == [], f"wrap these in {{% translate %}}: {path}"


@pytest.mark.skipif(
    not shutil.which("xgettext"), reason="makemessages needs GNU gettext (apt-get install gettext)"
)
def test_every_string_is_translated_into_spanish_and_french(tmp_path, settings, monkeypatch):
    """makemessages, run over a copy of the project, finds no string without its Spanish and French
    (a new string in a template or in Python code, untranslated, fails here)."""
    for folder in ("ccai", "pledges", "templates", "locale"):
        shutil.copytree(
            BASE_DIR / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.mo", "__pycache__")
        )
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command(
        "makemessages",
        locale=["es", "fr"],
        extensions=["html", "txt", "py", "svg"],
        no_obsolete=True,
        verbosity=0,
    )
    for language in ("es", "fr"):
        catalog = polib.pofile(str(tmp_path / "locale" / language / "LC_MESSAGES" / "django.po"))
        missing = [entry.msgid for entry in catalog.untranslated_entries() + catalog.fuzzy_entries()]
        assert missing == [], (
            f"translate into {language} (locale/{language}/LC_MESSAGES/django.po): {missing}"
        )


def test_the_compiled_catalogs_are_up_to_date(tmp_path):
    """The .mo files Django reads say what the .po files in the repository say."""
    from ccai.compile_messages import compile_messages

    shutil.copytree(BASE_DIR / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    compile_messages(tmp_path / "locale")

    def messages(path: Path) -> dict:
        return {(e.msgid, e.msgid_plural): (e.msgstr, e.msgstr_plural) for e in polib.mofile(str(path))}

    for language in ("es", "fr"):
        mo = Path(language) / "LC_MESSAGES" / "django.mo"
        assert messages(tmp_path / "locale" / mo) == messages(BASE_DIR / "locale" / mo), "run make install"


def test_translations_keep_every_placeholder_and_tag():
    """A translation that drops a %(name)s loses a value (or, with a stray one, breaks the page);
    one that drops a tag loses a link or the markup a test or a screen reader relies on."""

    def shape(text: str) -> tuple:
        return set(re.findall(r"%\(\w+\)s", text)), sorted(re.findall(r"</?\w+", text))

    for language in ("es", "fr"):
        catalog = polib.pofile(str(BASE_DIR / "locale" / language / "LC_MESSAGES" / "django.po"))
        for entry in catalog.translated_entries():
            translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
            for translated in translations:
                assert shape(translated) == shape(entry.msgid), (language, entry.msgid, translated)


@pytest.mark.parametrize("language", ["es", "fr"])
def test_drawings_keep_decimal_points_in_languages_that_write_decimal_commas(client, language):
    """Spanish and French write 237,6; an SVG coordinate must read 237.6 in every language."""
    from tests.test_press import parse_xml

    for number in range(3):
        make_signature(status=Signature.Status.CONFIRMED, email=f"c{number}@example.com")
    badge = parse_xml(client.get(f"/badge.svg?lang={language}").content)
    assert float(badge.get("width")) == float(badge.get("viewBox").split()[2]) > 100
    html = client.get("/press/", headers={"accept-language": language}).content.decode()
    chart = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" class="history-chart".*?</svg>', html, re.S)
    bars = re.findall(r'<rect x="([^"]+)" y="([^"]+)" width="([^"]+)" height="([^"]+)"', chart.group(0))
    assert bars and all(float(value) >= 0 for bar in bars for value in bar)


def test_a_missing_or_stale_compiled_catalog_stops_the_app_starting(tmp_path, monkeypatch):
    from ccai import compile_messages
    from pledges.apps import compiled_translations

    shutil.copytree(BASE_DIR / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(compile_messages, "LOCALE_DIR", tmp_path / "locale")
    errors = compiled_translations(None)
    assert [error.id for error in errors] == ["pledges.E001", "pledges.E001"]
    assert "django.mo for es is missing or older than django.po" in errors[0].msg
    assert len(compile_messages.compile_messages()) == 2
    assert compiled_translations(None) == []
    assert compile_messages.compile_messages() == []  # nothing changed, nothing written


def test_the_default_pause_message_speaks_the_readers_language_and_a_custom_one_as_written(client):
    from pledges.models import SigningStatus

    SigningStatus.objects.update_or_create(pk=1, defaults={"paused": True})
    html = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert "La recogida de firmas está en pausa por el momento." in html
    # As staff change it in the admin: saving shows at once (pages.py's bound).
    status = SigningStatus.objects.get(pk=1)
    status.message = "Back on Monday."
    status.save()
    html = client.get("/", headers={"accept-language": "es"}).content.decode()
    assert "Back on Monday." in html and 'id="sign">La recogida de firmas está en pausa</h2>' in html


def test_a_page_rendered_without_its_request_still_renders():
    with translation.override("fr"):
        html = render_to_string("404.html")
    assert "Page introuvable" in html and 'name="next" value="/"' in html and "hreflang" not in html


def test_a_shared_cache_tells_languages_apart(client):
    negotiated = client.get("/badge.svg")
    assert {"Accept-Language", "Cookie"} <= {part.strip() for part in negotiated["Vary"].split(",")}
    named = client.get("/badge.svg?lang=es")
    assert named["Content-Language"] == "es" and "Accept-Language" not in named.get("Vary", "")


def test_updates_reach_each_signer_in_their_language(smtp_inbox):
    """The words around an update (greeting, why it came, how to stop) speak the signer's
    language; the update itself is as staff wrote it."""
    from pledges import updates
    from pledges.models import Update

    for language in LANGUAGES:
        make_signature(
            email=f"{language}@example.com",
            full_name="Ada Lovelace",
            status=Signature.Status.CONFIRMED,
            updates_opt_in=True,
            language=language,
        )
    update = Update.objects.create(subject="The letter was delivered", body="We handed it over **today**.")
    assert update.start_sending(by=None)
    with translation.override("en"):  # the worker's own language does not matter
        while any(updates.work_on_updates(limit=50)):
            pass
    stop = {
        "en": "Stop these emails",
        "es": "Dejar de recibir estos correos",
        "fr": "Ne plus recevoir ces e-mails",
    }
    greeting = {"en": "Hello Ada Lovelace,", "es": "Hola, Ada Lovelace:", "fr": "Bonjour Ada Lovelace,"}
    for language in LANGUAGES:
        [message] = smtp_inbox.to(f"{language}@example.com")
        assert message["Subject"] == "The letter was delivered"
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert f'<html lang="{language}">' in html and "<strong>today</strong>" in html
        assert greeting[language] in text and stop[language] in html and stop[language] in text
        assert link_in(message, "unsubscribe").endswith(f"?lang={language}")


def test_the_unsubscribe_page_speaks_the_signers_language(client):
    signature = make_signature(status=Signature.Status.CONFIRMED, updates_opt_in=True, language="fr")
    html = client.get(signature.link("unsubscribe").removeprefix(settings.SITE_URL)).content.decode()
    assert html_lang(html) == "fr" and "Arrêter les nouvelles" in html
