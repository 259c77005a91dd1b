"""A search of the public list first walks the list in its order (Signature.objects.first_matches);
whatever it returns must be exactly the page that sorting every match gives."""

import random
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from pledges import views
from pledges.models import PublicListKey, Signature, public_list
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status
FIRST = ["Ana", "Bea", "Carl", "Dora", "Émile", "Zoë", "Maria", "Garcia"]
LAST = ["García", "Garcia-Lopez", "O'Brien", "Smith", "Marian", "Ng"]


def sorted_page(q: str, after: PublicListKey | None, limit: int) -> list[int]:
    rows = Signature.objects.public_list(q=q)
    if after is not None:
        rows = rows.after(after)
    return list(rows.values_list("pk", flat=True)[:limit])


@pytest.fixture
def names():
    chance = random.Random(13)
    for i in range(60):
        make_signature(
            full_name=f"{chance.choice(FIRST)} {chance.choice(LAST)}",
            email=f"walk{i}@example.com",
            status=chance.choice([S.APPROVED, S.APPROVED, S.APPROVED, S.CONFIRMED, S.PENDING]),
            show_publicly=chance.random() < 0.85,
        )
    listed = Signature.objects.published()
    for signature in listed.order_by("?")[:6]:
        Signature.objects.filter(pk=signature.pk).update(
            featured=True,
            credit="A credit",
            verified_at=timezone.now(),
            verification_method=Signature.VerificationMethod.OTHER,
        )


@pytest.mark.parametrize("q", ["garcia", "mari", "smith", "lopez", "ng"])
@pytest.mark.parametrize("walk_rows", [5000, 7])
def test_a_walked_page_is_the_sorted_page(names, monkeypatch, q, walk_rows):
    monkeypatch.setattr(public_list, "SEARCH_WALK_ROWS", walk_rows)
    walked_any = False
    after = None
    for _ in range(20):  # page through every match, 4 at a time
        expected = sorted_page(q, after, 5)
        walked = Signature.objects.first_matches(q, after=after, limit=5)
        if walked is not None:
            walked_any = True
            assert walked == expected
        if len(expected) < 5:
            break
        after = Signature.objects.get(pk=expected[3]).public_list_key()
    if walk_rows == 5000 and q == "garcia":
        assert walked_any  # common names are found by walking


def test_the_walk_gives_up_beyond_its_window(monkeypatch):
    monkeypatch.setattr(public_list, "SEARCH_WALK_ROWS", 10)
    for i in range(12):
        make_signature(status=S.APPROVED, full_name=f"Aaron Filler{i}", email=f"f{i}@example.com")
    for i in range(3):
        make_signature(status=S.APPROVED, full_name=f"Zed Rare{i}", email=f"r{i}@example.com")
    assert Signature.objects.first_matches("zed", limit=3) is None
    monkeypatch.setattr(public_list, "SEARCH_WALK_ROWS", 100)
    assert Signature.objects.first_matches("zed", limit=3) == sorted_page("zed", None, 3)


def test_odd_searches_walk_safely(names):
    for q in ["%", "_", "a_b", "50%", "\\", "o'brien", "garcia%"]:
        walked = Signature.objects.first_matches(q, limit=3)
        assert walked is None or walked == sorted_page(q, None, 3), q
    assert Signature.objects.first_matches("  ", limit=3) == []  # no words match nothing
    assert Signature.objects.first_matches("zoe obrien", limit=3) is None  # left to sorting


@pytest.mark.parametrize("cap", [1000, 3])
def test_a_search_pages_as_sorting_every_match(client, names, monkeypatch, cap):
    """A search's page comes from the ids its count read (when no more than the cap match) or
    from sorting again (when more do): either way, every match once, in the list's order."""
    monkeypatch.setattr(views, "SIGNATORIES_PER_PAGE", 4)
    monkeypatch.setattr(views, "MATCH_COUNT_CAP", cap)
    for q in ["maria garcia", "garcia", "zoe o'brien", "mari", "nobody"]:
        expected = list(Signature.objects.public_list(q=q).values_list("pk", flat=True))
        response = client.get(f"/signatories/?{urlencode({'q': q})}")
        assert response.context["match_count"] == min(len(expected), cap + 1), q
        shown = []
        while True:
            shown += [signature.pk for signature in response.context["signatures"]]
            if not response.context["next_url"]:
                break
            response = client.get(response.context["next_url"])
        assert shown == expected, q


def test_an_admin_search_counts_only_as_far_as_anyone_reads(client, monkeypatch):
    from django.contrib.auth.models import Group, User

    from pledges.admin import signatures

    moderator = User.objects.create_user("mod", password="x", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    client.force_login(moderator)
    monkeypatch.setattr(signatures, "SEARCH_COUNT_CAP", 2)
    for i in range(3):
        make_signature(full_name=f"Maria Garcia{i}", email=f"m{i}@example.com")
    make_signature(full_name="Ana Smith", email="ana@example.com")
    html = client.get("/admin/pledges/signature/?q=maria").content.decode()
    assert "More than 2 signatures" in html and html.count("Maria Garcia") >= 3
    html = client.get("/admin/pledges/signature/").content.decode()
    assert "4 signatures" in html  # without a search, the usual cap
    monkeypatch.setattr(signatures, "SEARCH_COUNT_CAP", 1000)
    assert "3 signatures" in client.get("/admin/pledges/signature/?q=maria").content.decode()
