"""The pages as a first-time visitor and a journalist meet them: the ask first, the letter's
Markdown, who is behind the letter, how many names a search finds, and no dead ends."""

import re

import pytest

from pledges import views
from pledges.lib.markdown import render_markdown
from pledges.models import AboutPage, LetterVersion, Signature
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status


def test_the_first_letter_has_its_summary_and_the_priorities_as_headed_sections(client):
    letter = LetterVersion.objects.current()
    assert letter.summary.startswith("We ask lawmakers, studios, platforms and AI companies")
    html = client.get("/").content.decode()
    title, summary, count = (
        html.index(marker) for marker in ("<h1>", 'class="letter-summary"', "count-number")
    )
    assert title < summary < count  # the ask comes straight under the title, before the count
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings[:4] == [
        "1. Transparency, consent and compensation for data and content",
        "2. Job protection and transition planning",
        "3. Safeguards against misuse and deepfakes",
        "4. Preserving human authorship",
    ]


def test_the_letter_migration_leaves_a_letter_staff_have_changed_alone():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("pledges.migrations.0008_letter_summary_about_page")
    edited = LetterVersion.objects.create(
        title="An open letter on AI and creative work", body="Our own words."
    )
    migration.add_summary_headings_and_about(apps, None)
    edited.refresh_from_db()
    assert (edited.body, edited.summary) == ("Our own words.", "")


def test_markdown_is_rendered_and_sanitised():
    html = render_markdown(
        "# Title\n\nSome *emphasis*, **bold** and [a link](https://example.org).\n\n"
        "- one\n- two\n\n<script>alert(1)</script>\n\n[bad](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert "<h2>Title</h2>" in html  # the page's own title is the only <h1>
    assert "<em>emphasis</em>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">a link</a>' in html
    assert "<ul>\n<li>one</li>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html


def test_a_new_version_in_markdown_shows_on_the_letter_page(client):
    LetterVersion.objects.current().revise(
        title="A revised letter",
        summary="We ask everyone for one thing.",
        body="## A section\n\nWith *words*.",
    )
    html = client.get("/").content.decode()
    assert "We ask everyone for one thing." in html
    assert "<h2>A section</h2>" in html and "<em>words</em>" in html


def test_about_page_says_who_is_behind_the_letter_and_how_to_reach_them(client):
    about = AboutPage.current()
    about.organisers = "Run by **Jane Organiser** and the steering group."
    about.press_email = "press@coalition.example"
    about.save()
    html = client.get("/about/").content.decode()
    assert "<strong>Jane Organiser</strong>" in html
    assert 'href="mailto:press@coalition.example"' in html
    assert f'href="mailto:{about.contact_email}"' in html
    for page in ("/", "/press/", "/signatories/", "/privacy/", "/about/"):
        assert 'href="/about/"' in client.get(page).content.decode()


def test_privacy_names_who_holds_the_data_and_press_shows_the_press_contact(client):
    about = AboutPage.current()
    about.data_controller = "Coalition Trust Ltd, the data controller"
    about.contact_email = "privacy@coalition.example"
    about.press_contact = "Sam Press, communications lead"
    about.press_phone = "+1 555 0100"
    about.save()
    privacy = client.get("/privacy/").content.decode()
    assert "Coalition Trust Ltd, the data controller" in privacy
    assert 'href="mailto:privacy@coalition.example"' in privacy
    press = client.get("/press/").content.decode()
    assert "Sam Press, communications lead" in press and 'href="tel:+15550100"' in press


def test_the_about_page_is_a_single_row():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError, match="about_page_single_row"), transaction.atomic():
        AboutPage.objects.create(pk=2, **{f: "x@example.org" for f in ("contact_email", "press_email")})


def test_opening_the_link_again_after_confirming_offers_the_share_links(client):
    signature = make_signature(status=S.CONFIRMED)
    url = f"/verify/{signature.make_token('verify')}/"
    for response in (client.get(url), client.post(url)):
        html = response.content.decode()
        assert "already confirmed" in html
        assert "https://bsky.app/intent/compose" in html and 'id="letter-link"' in html


@pytest.mark.parametrize(
    ("matching", "expected"),
    [(0, "No names match"), (1, "1 name matches"), (3, "3 names match"), (6, "More than 5 names match")],
)
def test_a_search_says_how_many_names_match(client, monkeypatch, matching, expected):
    monkeypatch.setattr(views, "MATCH_COUNT_CAP", 5)
    for i in range(matching):
        make_signature(status=S.APPROVED, full_name=f"Maria Number{i}")
    make_signature(status=S.APPROVED, full_name="Someone Else")
    make_signature(status=S.CONFIRMED, full_name="Maria Unreviewed")  # not on the list: not counted
    html = client.get("/signatories/?q=maria").content.decode()
    assert f"{expected} “maria”." in html
    assert "names match" not in client.get("/signatories/").content.decode()  # unfiltered: no count


def test_a_name_cannot_be_featured_without_a_credit():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError, match="signature_featured_has_credit"), transaction.atomic():
        make_signature(status=S.APPROVED, featured=True, credit="", verified=True)
    uncredited = make_signature(status=S.APPROVED, credit="")
    assert uncredited.feature(None) is False
    credited = make_signature(status=S.APPROVED, credit="Kindred", verified=True)
    assert credited.feature(None) is True


def test_featured_names_show_their_credit_on_every_page_that_lists_them(client):
    make_signature(
        status=S.APPROVED, full_name="Octavia Butler", featured=True, credit="Kindred", verified=True
    )
    for page in ("/", "/press/", "/signatories/"):
        html = client.get(page).content.decode()
        assert re.search(r"Octavia Butler</span>.*?Kindred", html, re.S), page


def test_press_and_the_api_say_how_much_of_the_count_is_reviewed(client):
    make_signature(status=S.APPROVED)  # counted and published
    make_signature(status=S.CONFIRMED)  # counted, awaiting review
    make_signature(status=S.CONFIRMED, show_publicly=False)  # counted, never to be listed: not waiting
    make_signature(status=S.CONFIRMED, flags=["watchlist"])  # held: not counted
    make_signature(status=S.CONFIRMED, flags=["ip_burst"], show_publicly=False)  # held too
    make_signature(status=S.APPROVED, flags=["watchlist"], namesake=True)  # approved as a namesake: counted
    make_signature(status=S.PENDING)  # nothing yet
    data = client.get("/api/count/").json()
    assert (data["count"], data["published"], data["awaiting_review"], data["held"]) == (4, 2, 1, 2)
    html = client.get("/press/").content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert "1 awaiting review" in text and "no one has reviewed the name yet" in text
    assert "2 held" in text and "not in the count until our staff decide" in text
    assert "2 on the public list" in text and 'href="/signatories/">public list</a>' in html
