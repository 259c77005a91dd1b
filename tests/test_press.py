import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from pledges import snapshots
from pledges.models import LetterVersion, Profession, Signature
from tests.utils import link_href, make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status
SVG = "{http://www.w3.org/2000/svg}"
OPEN_TO_OTHER_SITES = ["/api/count/", "/api/history/", "/badge.svg"]


def days_ago(days: int, hour: int = 12):
    return (timezone.now() - timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def signatures_in_every_state():
    """Four that count (two approved, one of them unlisted; one confirmed; one approved after a
    flag) and five that do not (pending, rejected, withdrawn, held by a flag, pending in a guild)."""
    make_signature(
        status=S.APPROVED, guilds=["wga", "sag-aftra"], profession=Profession.objects.get(slug="actor")
    )
    make_signature(status=S.APPROVED, show_publicly=False, guilds=["wga"])
    make_signature(status=S.CONFIRMED, guilds=["dga"])
    make_signature(status=S.APPROVED, flags=["watchlist"], namesake=True)
    make_signature(status=S.PENDING, guilds=["wga"])
    make_signature(status=S.REJECTED, guilds=["wga"])
    make_signature(status=S.WITHDRAWN, confirmed_at=timezone.now())
    make_signature(status=S.CONFIRMED, flags=["ip_soft_limit"], guilds=["wga"])
    make_signature(status=S.PENDING)


def bulk_counted(number: int, confirmed_at=None) -> None:
    letter = LetterVersion.objects.current()
    writer = Profession.objects.get(slug="writer")
    stamp = timezone.now().timestamp()
    Signature.objects.bulk_create(
        Signature(
            full_name=f"Bulk {i}",
            email=f"bulk{i}-{stamp}@example.com",
            mailbox=f"bulk{i}-{stamp}@example.com",  # bulk_create skips save(), which derives it
            profession=writer,
            letter_version=letter,
            status=S.CONFIRMED,
            confirmed_at=confirmed_at or timezone.now(),
        )
        for i in range(number)
    )


def parse_xml(text: str | bytes) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own server's output, in a test)


def chart_in(html: str) -> ET.Element:
    match = re.search(r'<svg[^>]*class="history-chart".*?</svg>', html, re.S)
    assert match, "no chart on the page"
    return parse_xml(match.group(0))


def test_api_count_follows_the_counting_rules_in_every_state(client):
    signatures_in_every_state()
    response = client.get("/api/count/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {
        "count",
        "published",
        "verified",
        "awaiting_review",
        "held",
        "by_guild",
        "by_profession",
        "as_of",
    }
    assert (data["count"], data["published"]) == (4, 2)
    # The confirmed one in DGA waits for review; the confirmed one with a flag is held.
    assert (data["awaiting_review"], data["held"]) == (1, 1)
    assert data["by_guild"] == [
        {"slug": "wga", "name": "WGA", "count": 2},
        {"slug": "dga", "name": "DGA", "count": 1},
        {"slug": "sag-aftra", "name": "SAG-AFTRA", "count": 1},
    ]
    assert data["by_profession"] == [
        {"slug": "writer", "name": "Writer", "count": 3},
        {"slug": "actor", "name": "Actor / performer", "count": 1},
    ]
    as_of = timezone.datetime.fromisoformat(data["as_of"].replace("Z", "+00:00"))
    assert abs((timezone.now() - as_of).total_seconds()) < 5


def test_api_history_counts_each_signature_on_the_day_it_was_confirmed(client):
    # Signed three days ago but confirmed two days ago: it belongs to two days ago.
    make_signature(status=S.CONFIRMED, created_at=days_ago(3), confirmed_at=days_ago(2))
    make_signature(status=S.APPROVED, created_at=days_ago(2), confirmed_at=days_ago(2, hour=23))
    make_signature(status=S.APPROVED, confirmed_at=days_ago(0, hour=0))
    # Never in the history: they do not count.
    make_signature(status=S.PENDING, created_at=days_ago(4))
    make_signature(status=S.REJECTED, confirmed_at=days_ago(4))
    make_signature(status=S.WITHDRAWN, confirmed_at=days_ago(4))
    make_signature(status=S.CONFIRMED, flags=["watchlist"], confirmed_at=days_ago(1))
    response = client.get("/api/history/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    today = timezone.localdate()
    assert response.json() == [
        {"date": str(today - timedelta(days=2)), "new": 2, "total": 2},
        {"date": str(today - timedelta(days=1)), "new": 0, "total": 2},
        {"date": str(today), "new": 1, "total": 3},
    ]
    assert client.get("/api/count/").json()["count"] == 3


def test_api_history_is_empty_before_anyone_signs(client):
    assert client.get("/api/history/").json() == []


def test_api_history_runs_to_today(client):
    make_signature(status=S.CONFIRMED, confirmed_at=days_ago(2))
    history = client.get("/api/history/").json()
    assert [day["new"] for day in history] == [1, 0, 0]
    assert history[-1] == {"date": str(timezone.localdate()), "new": 0, "total": 1}


@pytest.mark.parametrize("path", OPEN_TO_OTHER_SITES)
def test_api_and_badge_are_open_to_other_sites_and_briefly_cacheable(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    cache_control = dict(part.strip().partition("=")[::2] for part in response["Cache-Control"].split(","))
    assert "public" in cache_control
    max_age, stale = int(cache_control["max-age"]), int(cache_control["stale-while-revalidate"])
    assert 0 < max_age <= 50 and stale == 10
    # A copy kept by a browser or CDN, even served stale, is never older than the bound.
    assert max_age + stale <= django_settings.COUNT_MAX_AGE_SECONDS


def test_http_max_age_shrinks_as_the_figures_age(client, monkeypatch):
    # The clock stands still while the figures are computed, so that a slow machine cannot age them.
    now = snapshots.clock()
    monkeypatch.setattr(snapshots, "clock", lambda: now)
    client.get("/api/count/")
    monkeypatch.setattr(snapshots, "clock", lambda: now + 30)
    assert "max-age=20," in client.get("/api/count/")["Cache-Control"]
    monkeypatch.setattr(snapshots, "clock", lambda: now + 49.5)
    assert "max-age=0," in client.get("/badge.svg")["Cache-Control"]


@pytest.mark.parametrize("path", [*OPEN_TO_OTHER_SITES, "/press/"])
@pytest.mark.parametrize("query", ["?x=%00", "?count=-1&count=abc", "?%ff%fe=%c0", "?" + "a" * 5000])
def test_odd_query_strings_are_ignored(client, path, query):
    assert client.get(path + query).status_code == 200


@pytest.mark.parametrize("path", [*OPEN_TO_OTHER_SITES, "/press/"])
def test_read_only_endpoints_refuse_writes_and_answer_head(client, path):
    assert client.post(path).status_code == 405
    assert client.head(path).status_code == 200


def test_badge_is_valid_svg_with_the_count_formatted_for_people(client):
    bulk_counted(1234)
    make_signature(status=S.PENDING)
    response = client.get("/badge.svg")
    assert response["Content-Type"] == "image/svg+xml"
    svg = parse_xml(response.content)
    assert svg.tag == f"{SVG}svg" and float(svg.get("width")) > 0 and float(svg.get("height")) > 0
    assert svg.find(f"{SVG}title").text == "Creators Coalition on AI: 1,234 signatures"
    texts = [text.text for text in svg.iter(f"{SVG}text")]
    assert "1,234 signatures" in texts
    assert "<script" not in response.content.decode()


def test_badge_says_one_signature_in_the_singular(client):
    make_signature(status=S.CONFIRMED)
    svg = parse_xml(client.get("/badge.svg").content)
    assert [text.text for text in svg.iter(f"{SVG}text")][-1] == "1 signature"


def test_press_page_shows_count_breakdowns_chart_table_embed_and_featured(client):
    signatures_in_every_state()
    make_signature(
        status=S.APPROVED, full_name="Famous Writer", featured=True, verified=True, credit="A Big Show"
    )
    make_signature(status=S.APPROVED, full_name="Unfeatured Person")
    make_signature(status=S.CONFIRMED, confirmed_at=days_ago(3))
    response = client.get("/press/")
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'class="count-number">7<', html)
    assert '<th scope="row">SAG-AFTRA</th><td>1</td>' in html
    assert '<th scope="row">Actor / performer</th><td>1</td>' in html

    chart = chart_in(html)
    assert chart.find(f"{SVG}title").text == "Signatures per day"
    assert "7 in total" in chart.find(f"{SVG}desc").text
    bars = chart.findall(f".//{SVG}rect")
    assert [int(bar.get("data-new")) for bar in bars] == [1, 0, 0, 6]
    assert bars[-1].get("data-total") == "7"
    assert float(bars[-1].get("height")) > float(bars[0].get("height")) > 0
    # The same figures as a table, for screen readers and people who prefer numbers.
    assert re.search(rf'<time datetime="{timezone.localdate()}">[^<]*</time></th><td>6</td><td>7</td>', html)

    assert f"{django_settings.SITE_URL}/badge.svg" in unquote(html.replace("&quot;", '"'))
    assert 'src="/badge.svg"' in html
    assert "Famous Writer" in html and "A Big Show" in html
    assert "Unfeatured Person" not in html


def test_press_page_works_before_anyone_signs(client):
    html = client.get("/press/").content.decode()
    chart = chart_in(html)
    assert chart.find(f"{SVG}desc").text == "No signatures yet."
    assert re.search(r'class="count-number">0<', html)


def test_press_page_needs_no_script_or_inline_style(client):
    make_signature(status=S.CONFIRMED)
    html = client.get("/press/").content.decode()
    assert "<script" not in html and "style=" not in html
    assert 'href="http' not in html.split("<main")[1].split("</main>")[0].replace(
        f'href="{django_settings.SITE_URL}', ""
    )


@pytest.mark.parametrize("path", ["/", "/press/"])
def test_pages_carry_open_graph_and_twitter_tags_with_the_count(client, path):
    bulk_counted(1500)
    html = client.get(path).content.decode()
    meta = dict(re.findall(r'<meta (?:property|name)="((?:og|twitter):[^"]+)" content="([^"]*)"', html))
    assert meta["og:title"] and meta["twitter:title"] == meta["og:title"]
    assert "1,500 creators have signed" in meta["og:description"]
    assert meta["twitter:description"] == meta["og:description"]
    assert meta["og:url"] == django_settings.SITE_URL + path
    assert meta["twitter:card"] == "summary_large_image"
    image = meta["og:image"]
    assert image.startswith(django_settings.SITE_URL + "/static/img/share.") and image.endswith(".png")
    assert meta["twitter:image"] == image
    served = Path(django_settings.STATIC_ROOT) / image.removeprefix(django_settings.SITE_URL + "/static/")
    assert served.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confirming_shows_plain_share_links(client):
    signature = make_signature()
    html = client.post(f"/verify/{signature.make_token('verify')}/").content.decode()
    assert "your signature is confirmed" in html
    letter_url = django_settings.SITE_URL + "/"
    links = re.findall(r'<a href="([^"]+)" rel="noopener noreferrer">', html)
    hosts = {re.match(r"(mailto:|https://[^/]+)", link).group(1) for link in links}
    assert {"mailto:", "https://bsky.app", "https://twitter.com", "https://www.facebook.com"} <= hosts
    assert all(letter_url in unquote(link.replace("&amp;", "&")) for link in links)
    assert "<script" not in html and "<iframe" not in html


def test_press_page_lists_a_bounded_number_of_featured_names_and_links_to_all(client, monkeypatch):
    from pledges import views

    monkeypatch.setattr(views, "PRESS_FEATURED_LIMIT", 2)
    for name in ["Cara Zee", "Abe Ames", "Bea Bell"]:
        make_signature(status=Signature.Status.APPROVED, featured=True, verified=True, full_name=name)
    html = client.get("/press/").content.decode()
    assert re.findall(r'class="signatory-name">([^<]+)<', html) == ["Abe Ames", "Bea Bell"]
    assert link_href(html, "the public list of signatories") == "/signatories/"
