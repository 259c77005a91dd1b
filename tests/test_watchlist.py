"""The watchlist matches the way people forge: look-alike letters, word order, initials, titles,
parentheticals, joined and hyphenated forms; a name mixing scripts in a word is flagged anyway."""

import re

import pytest
from django.urls import reverse

from pledges.lib.watchlist import mixes_scripts
from pledges.models import ModerationEvent, Signature, Submission, WatchedName
from pledges.signing import process_submissions, review_flags
from tests.test_review import REAL_NAMES
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S, F = Signature.Status, Signature.Flag
CHANGELIST = "/admin/pledges/signature/"

# Forged spellings of "Natalie Portman", each named for the trick it uses.
FORGED_PORTMAN = {
    "exact": "Natalie Portman",
    "case": "NATALIE portman",
    "spacing": "  Natalie    Portman ",
    "accents": "Natálie Pörtman",
    "combining marks": "Nata\u0301lie\u0308 Portman\u0327",
    "word order": "Portman Natalie",
    "word order with a comma": "Portman, Natalie",
    "added initial": "Natalie J. Portman",
    "initial before": "N. Natalie Portman",
    "title": "Dr. Natalie Portman",
    "titles and suffixes": "Ms Natalie Portman Jr",
    "roman numeral": "Natalie Portman III",
    "parenthetical": "Natalie Portman (actor)",
    "bracketed": "Natalie Portman [official]",
    "joined": "NataliePortman",
    "joined in reverse": "PortmanNatalie",
    "hyphenated": "Natalie-Portman",
    "split inside a word": "Natalie Port-man",
    "underscore": "natalie_portman",
    "dots": "Natalie.Portman",
    "Cyrillic a, e, o": "N\u0430t\u0430li\u0435 P\u043ertm\u0430n",
    "all-Cyrillic look-alikes": "\u041d\u0410\u0422\u0410LI\u0415 \u0420\u041eR\u0422M\u0410N".replace(
        "\u041d", "N"
    ),
    "Greek capitals": "\u039d\u0391\u03a4\u0391LI\u0395 \u03a1\u039fR\u03a4\u039c\u0391\u039d",
    "Coptic N": "\u2c9aatalie Portman",
    "fullwidth": "\uff2e\uff41\uff54\uff41\uff4c\uff49\uff45 Portman",
    "digit one for l": "Nata1ie Portman",
    "capital I for l": "NataIie Portman",
    "rn for m": "Natalie Portrnan",
    "mathematical letters": "\U0001d40d\U0001d41a\U0001d42d\U0001d41a\U0001d425\U0001d422\U0001d41e Portman",
}
NOT_PORTMAN = [
    "Natalia Portman",
    "Natalie Portmann",
    "Natalie Porter",
    "Nat Portman",
    "Natalie Portman Smith",
]

# Watched names in other scripts, and their forged spellings.
OTHER_SCRIPTS = [
    (
        "Александр Пушкин",
        ["Пушкин Александр", "Пушкин, Александр", "Aлександр Пушкин", "А. С. Пушкин Александр"],
    ),
    ("Γιώργος Σεφέρης", ["Σεφέρης Γιώργος", "ΓΙΩΡΓΟΣ ΣΕΦΕΡΗΣ", "Γιωργος Σεφερης"]),
    ("宮崎駿", ["宮崎 駿", "宮崎・駿", "宮崎駿 (監督)"]),
    ("محمد علي", ["علي محمد", "محمد  علي"]),
    ("김연아", ["김연아 (선수)"]),
]
FAMOUS = ["Natalie Portman", "Tom Hanks", "Zoë Saldaña", "Meryl Streep", "Keanu Reeves", "Idris Elba"]


def watch(*names: str) -> None:
    for name in names:
        WatchedName.objects.create(name=name)


def held(name: str) -> bool:
    return F.WATCHLIST in review_flags(full_name=name, email="x@example.com", ip_hash="")


@pytest.mark.parametrize("forged", FORGED_PORTMAN.values(), ids=FORGED_PORTMAN.keys())
def test_forged_spellings_of_a_watched_name_are_held(forged):
    watch(*FAMOUS)
    assert held(forged)


@pytest.mark.parametrize("other", NOT_PORTMAN)
def test_other_names_near_a_watched_one_are_not_held(other):
    watch(*FAMOUS)
    assert not held(other)


@pytest.mark.parametrize(("watched", "forgeries"), OTHER_SCRIPTS, ids=[w for w, _ in OTHER_SCRIPTS])
def test_watched_names_in_other_scripts_are_matched_reordered_and_spaced(watched, forgeries):
    watch(watched)
    assert held(watched)
    for forged in forgeries:
        assert held(forged), forged


EXTRA_REAL_NAMES = [
    "宮崎あおい",  # Han and Hiragana in one word: a Japanese name
    "山田タロウ",
    "김연아",
    "毛泽东",
    "محمد علي",
    "שלמה ארצי",
    "Ólafur Arnalds",
    "Chimamanda Ngozi Adichie",
    "Natalie Morales",
    "Tom Hardy",
    "Ana de Armas",
    "Sir Ian McKellen",
    "Jean-Luc Godard",
    "Ai Weiwei",
    "Mary-Kate O'Brien",
    "Dr. Ruth Westheimer",
    "Nnamdi Asomugha",
    "Gugu Mbatha-Raw",
    "Oyelowo David",
]


@pytest.mark.parametrize("name", REAL_NAMES + EXTRA_REAL_NAMES)
def test_real_names_of_many_cultures_are_neither_held_nor_mixed_script(name):
    watch(*FAMOUS, "Лев Толстой", "宮崎駿", "Γιώργος Σεφέρης", "محمد صلاح")
    flags = review_flags(full_name=name, email="x@example.com", ip_hash="")
    assert F.WATCHLIST not in flags and F.MIXED_SCRIPT not in flags


@pytest.mark.parametrize(
    "name",
    ["J\u043ehn Smith", "Ma\u0440ia Garcia", "\u0391lex Kim", "Anna \u041fetrova", "Smith\u0430"],
)
def test_a_name_mixing_scripts_inside_a_word_is_flagged_by_itself(name):
    assert mixes_scripts(name)
    assert F.MIXED_SCRIPT in review_flags(full_name=name, email="x@example.com", ip_hash="")


def test_scripts_mixed_across_words_are_not_flagged():
    assert not mixes_scripts("Anna Петрова")
    assert not mixes_scripts("John 李")


FILLER_NAMES = {
    "Hangul filler": "\u3164",
    "Hangul fillers with a space": "\u3164 \u3164",
    "Hangul choseong filler": "\u115f\u115f",
    "Hangul jungseong filler": "\u1160",
    "halfwidth Hangul filler": "\uffa0\uffa0",
    "braille blank": "\u2800\u2800\u2800",
    "mixed fillers": "\u3164\u2800\u115f \uffa0",
}


@pytest.mark.parametrize("name", FILLER_NAMES.values(), ids=FILLER_NAMES.keys())
def test_a_name_of_only_invisible_fillers_is_refused_with_a_clear_message(client, valid_form_data, name):
    response = client.post("/sign/", {**valid_form_data, "full_name": name})
    assert response.status_code == 400
    assert "made only of blank or invisible characters" in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0


@pytest.mark.parametrize("name", ["\u200b\u200b", "Natalie\u200bPortman", "\u2060Tom Hanks"])
def test_a_name_with_zero_width_characters_is_refused(client, valid_form_data, name):
    response = client.post("/sign/", {**valid_form_data, "full_name": name})
    assert response.status_code == 400 and Submission.objects.count() == Signature.objects.count() == 0


def test_a_filler_between_words_becomes_a_space_and_the_watchlist_sees_through_it(client, valid_form_data):
    watch("Natalie Portman")
    assert client.post("/sign/", {**valid_form_data, "full_name": "Natalie\u3164Portman"}).status_code == 302
    process_submissions()
    signature = Signature.objects.get()
    assert signature.full_name == "Natalie Portman" and F.WATCHLIST in signature.flags


def test_a_signature_records_which_watched_name_it_matched_and_does_not_count(client, valid_form_data):
    watch("Tom Hanks", "Natalie Portman")
    client.post("/sign/", {**valid_form_data, "full_name": "Portman, N\u0430talie (actor)"})
    process_submissions()
    signature = Signature.objects.get()
    assert signature.watchlist_match.name == "Natalie Portman"
    assert set(signature.flags) == {F.WATCHLIST, F.MIXED_SCRIPT}
    signature.confirm()
    assert not Signature.objects.counted().exists()


def test_the_same_person_cannot_be_watched_twice(admin_client):
    admin_client.post("/admin/pledges/watchedname/add/", {"name": "Natalie Portman"})
    response = admin_client.post("/admin/pledges/watchedname/add/", {"name": "Portman, Natalie"})
    assert response.status_code == 200 and "already exists on the watchlist" in response.content.decode()
    assert WatchedName.objects.count() == 1


def test_a_newly_watched_name_holds_unmoderated_signatures_and_lists_approved_ones_to_recheck(mod_client):
    pending = make_signature(status=S.PENDING, full_name="Meryl Streep")
    confirmed = make_signature(status=S.CONFIRMED, full_name="Streep, Meryl")
    approved = make_signature(status=S.APPROVED, full_name="MERYL STREEP (actor)")
    verified = make_signature(status=S.APPROVED, full_name="Meryl Streep", verified=True)
    rejected = make_signature(status=S.REJECTED, full_name="Meryl Streep")
    other = make_signature(status=S.CONFIRMED, full_name="Meryl Streeper")
    assert Signature.objects.counted().count() == 4

    response = mod_client.post("/admin/pledges/watchedname/add/", {"name": "Meryl Streep"}, follow=True)
    assert "2 held for review, 1 approved ones" in response.content.decode()
    for signature in (pending, confirmed, approved, verified, rejected, other):
        signature.refresh_from_db()
    watched = WatchedName.objects.get()
    assert F.WATCHLIST in pending.flags and F.WATCHLIST in confirmed.flags
    assert pending.watchlist_match == confirmed.watchlist_match == approved.watchlist_match == watched
    assert approved.watchlist_recheck and approved.status == S.APPROVED
    assert not verified.watchlist_recheck and verified.flags == []
    assert rejected.flags == [] and other.flags == [] and other.watchlist_match is None
    assert set(Signature.objects.counted()) == {approved, verified, other}

    html = mod_client.get(f"{CHANGELIST}?watchlist=recheck").content.decode()
    assert "MERYL STREEP (actor)" in html and "Streep, Meryl" not in html
    html = mod_client.get(f"{CHANGELIST}?watchlist=held").content.decode()
    # The matched watched name, shown as the reason it waits.
    assert "Streep, Meryl" in html and "Matches the watched name “Meryl Streep”" in html


def act(client, action: str, signatures):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [s.pk for s in signatures], "index": 0},
        follow=True,
    )


def test_a_routine_bulk_approve_publishes_only_signatures_without_flags(mod_client):
    plain = make_signature(status=S.CONFIRMED, full_name="Plain Person")
    burst = make_signature(status=S.CONFIRMED, full_name="Burst Person", flags=["ip_burst"])
    watched = make_signature(status=S.CONFIRMED, full_name="Famous Person", flags=["watchlist"])
    response = act(mod_client, "approve", [plain, burst, watched])
    assert "Approved 1 of 3 signatures." in response.content.decode()
    assert list(Signature.objects.published()) == [plain]
    assert set(Signature.objects.routinely_approvable()) == set()


def test_approve_and_clear_flags_clears_all_but_watchlist_holds_and_duplicate_mailboxes(mod_client):
    burst = make_signature(status=S.CONFIRMED, full_name="Burst Person", flags=["ip_burst", "machine_name"])
    watched = make_signature(status=S.CONFIRMED, full_name="Famous Person", flags=["watchlist", "ip_burst"])
    duplicate = make_signature(
        status=S.CONFIRMED, full_name="Twice Signed", flags=["duplicate_mailbox"], mailbox=None
    )
    assert set(Signature.objects.flags_clearable()) == {burst}
    response = act(mod_client, "approve_clearing_flags", [burst, watched, duplicate])
    assert "Approved, clearing their flags, 1 of 3 signatures." in response.content.decode()
    burst.refresh_from_db()
    assert burst.status == S.APPROVED and burst.flags == []
    event = ModerationEvent.objects.get(signature=burst)
    assert event.action == "approve_clearing_flags" and "ip_burst" in event.note
    assert list(Signature.objects.published()) == [burst]
    assert list(Signature.objects.watchlist_held()) == [watched]


def test_the_database_refuses_a_watchlist_hold_published_without_a_decision():
    from django.db import IntegrityError, transaction

    with (
        pytest.raises(IntegrityError, match="signature_watchlist_approved_by_decision"),
        transaction.atomic(),
    ):
        make_signature(status=S.APPROVED, flags=["watchlist"])
    signature = make_signature(status=S.CONFIRMED, flags=["watchlist"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.filter(pk=signature.pk).update(status=S.APPROVED)


def test_a_namesake_is_listed_without_the_mark_with_profession_and_credit(mod_client, client):
    watch("Tom Hanks")
    namesake = make_signature(
        status=S.CONFIRMED, full_name="Tom Hanks", credit="Plumber, Ohio", flags=["watchlist"]
    )
    url = reverse("admin:pledges_signature_verify", args=[namesake.pk])
    page = mod_client.get(url).content.decode()
    assert "Approve as a namesake" in page
    response = mod_client.post(url, {"namesake": "1", "namesake_note": "Lives in Ohio; not the actor."})
    assert response.status_code == 302
    namesake.refresh_from_db()
    assert namesake.namesake and namesake.status == S.APPROVED and not namesake.is_verified
    event = ModerationEvent.objects.get(signature=namesake)
    assert (event.action, event.note) == ("approve_namesake", "Lives in Ohio; not the actor.")
    html = client.get("/signatories/").content.decode()
    item = re.search(r"<li>.*?Tom Hanks.*?</li>", html, re.S).group(0)
    assert "Verified" not in item and "Writer" in item and "Plumber, Ohio" in item


def test_only_a_watchlist_match_can_be_approved_as_a_namesake(moderator):
    plain = make_signature(status=S.CONFIRMED, flags=["ip_burst"])
    assert plain.approve_as_namesake(moderator) is False
    assert Signature.objects.get(pk=plain.pk).status == S.CONFIRMED
