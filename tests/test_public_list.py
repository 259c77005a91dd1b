import csv
import io
import re
from html import unescape
from urllib.parse import unquote

import pytest

from pledges import views
from pledges.models import PublicListKey, Signature
from tests.utils import link_href, make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status
PUBLIC_URLS = [
    "/",
    "/signatories/",
    "/signatories/?q=leak",
    "/signatories/?guild=wga",
    "/signatories/?profession=writer",
    "/signatories.csv",
    "/signatories.csv?q=leak",
    "/api/count/",
    "/api/history/",
    "/press/",
    "/badge.svg",
    "/privacy/",
    "/about/",
]


def names_on(html: str) -> list[str]:
    return [unescape(name) for name in re.findall(r'class="signatory-name">([^<]+)<', html)]


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_nothing_that_could_leak_appears_on_any_public_page_file_or_api(client, settings):
    settings.COUNT_MAX_AGE_SECONDS = 0
    leaky = [
        make_signature(status=S.PENDING, full_name="Leak Unconfirmed", guilds=["wga"]),
        make_signature(status=S.CONFIRMED, full_name="Leak Unmoderated", guilds=["wga"]),
        make_signature(status=S.REJECTED, full_name="Leak Rejected", guilds=["wga"]),
        make_signature(status=S.APPROVED, full_name="Leak Private", show_publicly=False, guilds=["wga"]),
        make_signature(status=S.CONFIRMED, full_name="Leak Flagged", flags=["watchlist"], guilds=["wga"]),
    ]
    withdrawn = make_signature(
        status=S.APPROVED, full_name="Leak Withdrawn", credit="Leak Credit", guilds=["wga"]
    )
    withdrawn_email = withdrawn.email
    withdrawn.withdraw()
    shown = make_signature(
        status=S.APPROVED,
        full_name="Shown Leakproof",
        email="shown@example.com",
        ip_hash="f" * 64,
        guilds=["wga"],
    )
    secrets = [s.email for s in leaky] + [
        withdrawn_email,
        "shown@example.com",
        "f" * 64,
        shown.code.hex,
        str(shown.code),
    ]
    for url in PUBLIC_URLS:
        response = client.get(url)
        assert response.status_code == 200, url
        text = body(response)
        assert "Leak " not in text, url
        for secret in secrets:
            assert secret not in text, (url, secret)
    assert names_on(client.get("/signatories/?q=leak").content.decode()) == ["Shown Leakproof"]
    assert [row["name"] for row in csv_rows(client.get("/signatories.csv"))] == ["Shown Leakproof"]


def test_internal_ids_never_appear_in_public_links(client, monkeypatch):
    monkeypatch.setattr(views, "SIGNATORIES_PER_PAGE", 1)
    first = make_signature(status=S.APPROVED, full_name="Alpha Person")
    make_signature(status=S.APPROVED, full_name="Beta Person")
    html = client.get("/signatories/").content.decode()
    after = unquote(re.search(r'href="/signatories/\?after=([^"]+)"', html).group(1))
    # The page key holds (encrypted) the name as sorted and the signing time, and no id of any kind.
    assert PublicListKey.decode(after) == (False, "alpha person", first.created_at)
    assert first.code.hex not in html and str(first.code) not in html


def test_featured_first_then_by_name_ignoring_accents_and_case(client):
    for name in ["bob Brown", "Émile Zola", "Zed Featured", "Ada Adams", "Eve Early"]:
        make_signature(
            status=S.APPROVED,
            full_name=name,
            featured=name == "Zed Featured",
            verified=name == "Zed Featured",
        )
    assert names_on(client.get("/signatories/").content.decode()) == [
        "Zed Featured",
        "Ada Adams",
        "bob Brown",
        "Émile Zola",
        "Eve Early",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zoe", ["Zoë O'Brien"]),
        ("ZOË", ["Zoë O'Brien"]),
        ("obri", ["Zoë O'Brien"]),
        ("o'brien zo", ["Zoë O'Brien"]),
        ("saldana", ["José Saldaña"]),
        ("jose", ["José Saldaña"]),
        ("nobody", []),
        ("%", []),
        ("' OR 1=1 --", []),
    ],
)
def test_search_ignores_case_and_accents(client, query, expected):
    make_signature(status=S.APPROVED, full_name="Zoë O'Brien")
    make_signature(status=S.APPROVED, full_name="José Saldaña")
    response = client.get("/signatories/", {"q": query})
    assert response.status_code == 200
    assert names_on(response.content.decode()) == expected


def test_guild_and_profession_filters(client):
    from pledges.models import Profession

    make_signature(status=S.APPROVED, full_name="Wga Writer", guilds=["wga"])
    make_signature(
        status=S.APPROVED,
        full_name="Dga Actor",
        guilds=["dga"],
        profession=Profession.objects.get(slug="actor"),
    )
    assert names_on(client.get("/signatories/?guild=wga").content.decode()) == ["Wga Writer"]
    assert names_on(client.get("/signatories/?profession=actor").content.decode()) == ["Dga Actor"]
    assert names_on(client.get("/signatories/?profession=actor&guild=wga").content.decode()) == []
    rows = csv_rows(client.get("/signatories.csv?guild=dga"))
    assert rows == [
        {
            "name": "Dga Actor",
            "profession": "Actor / performer",
            "guilds": "DGA",
            "credit": "",
            "featured": "no",
            "verified": "no",
        }
    ]


def test_keyset_pages_walk_every_name_once_in_order(client, monkeypatch):
    monkeypatch.setattr(views, "SIGNATORIES_PER_PAGE", 2)
    expected = ["Featured Five"] + [f"Person {i}" for i in range(5)]
    for name in expected:
        make_signature(
            status=S.APPROVED,
            full_name=name,
            featured=name == "Featured Five",
            verified=name == "Featured Five",
            guilds=["wga"],
        )
    make_signature(status=S.APPROVED, full_name="Person 2", guilds=["wga"])  # a namesake, signed later
    make_signature(status=S.APPROVED, full_name="Person 1")  # not in the guild
    expected.insert(4, "Person 2")
    seen, url = [], "/signatories/?guild=wga"
    while url:
        html = client.get(url).content.decode()
        seen += names_on(html)
        match = re.search(r'href="([^"]+)" rel="next"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert seen == expected


BAD_QUERIES = {
    "unknown guild": {"guild": "teamsters"},
    "unknown profession": {"profession": "astronaut"},
    "tampered page key": {"after": "garbage:abc"},
    "NUL in search": {"q": "ada\x00"},
    "huge search": {"q": "a" * 10_000},
    "control characters": {"q": "ada\u202e"},
}


@pytest.mark.parametrize("params", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_query_strings_get_a_clear_400(client, params):
    make_signature(status=S.APPROVED, full_name="Someone Listed")
    response = client.get("/signatories/", params)
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert client.get("/signatories.csv", params).status_code == 400


def test_csv_neutralises_spreadsheet_formulas(client):
    make_signature(status=S.APPROVED, full_name="@SUM(A1)", credit="x")
    make_signature(status=S.APPROVED, full_name="Plain Name")
    response = client.get("/signatories.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert [row["name"] for row in csv_rows(response)] == ["Plain Name", "'@SUM(A1)"]


def test_list_queries_do_not_grow_with_rows(client, django_assert_num_queries, settings):
    settings.COUNT_MAX_AGE_SECONDS = 60

    def load(n):
        Signature.objects.all().delete()
        for i in range(n):
            make_signature(status=S.APPROVED, full_name=f"Person {i}", guilds=["wga", "dga"])
        client.get("/signatories/")  # fills the cached count
        # The ?guild= lookup, guild and profession choices for the filter form, the page, the
        # page's guilds. The count, fresh in this process's copy of the shared snapshot, costs none.
        # A filtered list also counts its matches (up to a cap): one more query, however many rows.
        with django_assert_num_queries(6):
            assert names_on(client.get("/signatories/?guild=wga").content.decode())[:1] == ["Person 0"]
        # The rows and their guilds, per chunk of 2,000.
        with django_assert_num_queries(2):
            assert len(csv_rows(client.get("/signatories.csv"))) == n

    load(1)
    load(3)


def test_letter_page_links_to_the_public_list(client):
    assert link_href(client.get("/").content.decode(), "Signatories") == "/signatories/"


def test_press_page_public_list_link_leads_to_the_public_list(client):
    make_signature(status=Signature.Status.APPROVED)
    assert link_href(client.get("/press/").content.decode(), "public list") == "/signatories/"
