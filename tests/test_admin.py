import csv
import io
import re

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from pledges.models import (
    LetterVersion,
    ModerationEvent,
    OutgoingEmail,
    Signature,
    SigningStatus,
    Submission,
    WatchedName,
)
from pledges.signing import process_submissions
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status
CHANGELIST = "/admin/pledges/signature/"
QUEUE = "/admin/pledges/queuedsignature/"


def letter_form(letter: LetterVersion, translations: dict | None = None, **changes) -> dict:
    """The letter's admin form as a browser posts it: the letter's fields and its translations
    inline (each as it is, or as `translations` changes it; a new language adds a form)."""
    current = {t.language: t for t in letter.translations.all()}
    rows = [
        {"id": t.pk, "language": t.language, "title": t.title, "summary": t.summary, "body": t.body}
        for t in current.values()
    ]
    for language, fields in (translations or {}).items():
        row = next((row for row in rows if row["language"] == language), None)
        if row is None:
            rows.append(row := {"id": "", "language": language, "title": "", "summary": "", "body": ""})
        row.update(fields)
    data = {"title": letter.title, "summary": letter.summary, "body": letter.body, **changes}
    data.update(
        {
            "translations-TOTAL_FORMS": len(rows),
            "translations-INITIAL_FORMS": len(current),
            "translations-MIN_NUM_FORMS": 0,
            "translations-MAX_NUM_FORMS": 1000,
        }
    )
    for index, row in enumerate(rows):
        data.update({f"translations-{index}-{key}": value for key, value in row.items()})
        data[f"translations-{index}-letter_version"] = letter.pk
    return data


@pytest.fixture
def admin_client_(client):
    user = User.objects.create_superuser("boss", "boss@coalition.example", "a-long-password-2")
    client.force_login(user)
    return client


def act(client, action: str, signatures, url=CHANGELIST):
    return client.post(
        url, {"action": action, "_selected_action": [s.pk for s in signatures], "index": 0}, follow=True
    )


def test_moderators_group_has_just_the_permissions_moderation_needs():
    codenames = set(Group.objects.get(name="Moderators").permissions.values_list("codename", flat=True))
    assert {"view_signature", "moderate_signature", "export_signature", "add_watchedname"} <= codenames
    assert not codenames & {
        "change_signature",
        "delete_signature",
        "add_letterversion",
        "change_letterversion",
        "change_signingstatus",
        "add_user",
        "change_user",
    }


def test_the_moderation_queue_is_one_click_from_the_admin_index(mod_client):
    html = mod_client.get("/admin/").content.decode()
    assert f'href="{QUEUE}"' in html and "Moderation queue" in html
    assert "Letter versions" in html and "Signing status" not in html


def test_queue_shows_confirmed_signatures_oldest_first(mod_client):
    newer = make_signature(status=S.CONFIRMED, full_name="Newer Person")
    older = make_signature(status=S.CONFIRMED, full_name="Older Person")
    Signature.objects.filter(pk=older.pk).update(confirmed_at=newer.confirmed_at.replace(year=2020))
    make_signature(status=S.PENDING, full_name="Pending Person")
    make_signature(status=S.APPROVED, full_name="Approved Person")
    html = mod_client.get(QUEUE).content.decode()
    assert html.index("Older Person") < html.index("Newer Person")
    assert "Pending Person" not in html and "Approved Person" not in html


def test_approve_action_approves_logs_who_and_when_and_the_signature_page_shows_it(mod_client, moderator):
    signature = make_signature(status=S.CONFIRMED)
    response = act(mod_client, "approve", [signature], url=QUEUE)
    assert response.status_code == 200 and "Approved 1 of 1 signature." in response.content.decode()
    signature.refresh_from_db()
    assert signature.status == S.APPROVED and signature.moderated_at is not None
    event = ModerationEvent.objects.get(signature=signature)
    assert (event.action, event.actor) == ("approve", moderator)
    page = mod_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    assert "Moderation log" in page and "Approved" in page and ">mo<" in page


def test_approving_twice_changes_once_and_says_so(mod_client):
    signature = make_signature(status=S.CONFIRMED)
    act(mod_client, "approve", [signature])
    response = act(mod_client, "approve", [signature])
    assert "1 was flagged or not in a state that allows it" in response.content.decode()
    assert ModerationEvent.objects.filter(signature=signature).count() == 1


def test_actions_only_move_signatures_whose_state_allows_it(mod_client):
    pending = make_signature(status=S.PENDING)
    withdrawn = make_signature(status=S.WITHDRAWN)
    approved = make_signature(status=S.APPROVED, verified=True, credit="Kindred")
    unverified = make_signature(status=S.APPROVED, credit="Kindred")
    act(mod_client, "approve", [pending, withdrawn])
    act(mod_client, "feature", [approved, pending, unverified])
    statuses = dict(Signature.objects.values_list("pk", "status"))
    assert (statuses[pending.pk], statuses[withdrawn.pk]) == (S.PENDING, S.WITHDRAWN)
    assert list(Signature.objects.filter(featured=True)) == [approved]
    act(mod_client, "reject", [approved])
    approved.refresh_from_db()
    assert approved.status == S.REJECTED and approved.featured is False
    assert list(ModerationEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        "feature",
        "reject",
    ]


def test_featuring_a_name_without_a_credit_says_why_it_failed(mod_client):
    uncredited = make_signature(status=S.APPROVED, full_name="Nameless Credit", credit="", verified=True)
    credited = make_signature(status=S.APPROVED, full_name="Has Credit", credit="Kindred", verified=True)
    html = act(mod_client, "feature", [uncredited, credited]).content.decode()
    assert "a featured name must show a credit" in html and "Nameless Credit" in html
    assert "Featured 1 of 2 signatures." in html
    assert list(Signature.objects.filter(featured=True)) == [credited]


def test_unfeature(mod_client):
    signature = make_signature(status=S.APPROVED, featured=True, verified=True)
    act(mod_client, "unfeature", [signature])
    signature.refresh_from_db()
    assert signature.featured is False
    assert ModerationEvent.objects.get().action == "unfeature"


def test_resend_confirmation_queues_an_email_only_for_pending(mod_client):
    pending = make_signature(status=S.PENDING, email="waiting@example.com")
    confirmed = make_signature(status=S.CONFIRMED, email="done@example.com")
    response = act(mod_client, "resend_confirmation", [pending, confirmed])
    assert "Resent the confirmation email to 1 of 2" in response.content.decode()
    message = OutgoingEmail.objects.get()
    assert (message.to, message.kind) == ("waiting@example.com", "confirmation")
    assert "/verify/" in message.body_text


def test_a_bulk_approve_leaves_flagged_signatures_for_a_person_and_says_so(mod_client):
    clean = make_signature(status=S.CONFIRMED)
    flagged = make_signature(status=S.CONFIRMED, flags=["watchlist"])
    response = act(mod_client, "approve", [clean, flagged], url=QUEUE)
    assert "Approved 1 of 2 signatures." in response.content.decode()
    assert "1 was flagged or not in a state that allows it" in response.content.decode()
    clean.refresh_from_db(), flagged.refresh_from_db()
    assert (clean.status, flagged.status) == (S.APPROVED, S.CONFIRMED)


def test_staff_without_the_moderate_permission_cannot_act(client):
    viewer = User.objects.create_user("viewer", password="a-long-password-3", is_staff=True)
    viewer.user_permissions.add(
        *Group.objects.get(name="Moderators").permissions.exclude(codename="moderate_signature")
    )
    client.force_login(viewer)
    signature = make_signature(status=S.CONFIRMED)
    assert 'value="approve"' not in client.get(CHANGELIST).content.decode()
    act(client, "approve", [signature])
    assert Signature.objects.get(pk=signature.pk).status == S.CONFIRMED


def test_non_staff_are_sent_to_the_login_page(client):
    client.force_login(User.objects.create_user("fan", password="a-long-password-4"))
    for url in (CHANGELIST, QUEUE, f"{CHANGELIST}export/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_moderator_cannot_edit_signature_fields_or_the_letter(mod_client):
    signature = make_signature(status=S.CONFIRMED, full_name="Original Name")
    mod_client.post(f"{CHANGELIST}{signature.pk}/change/", {"full_name": "Changed", "status": "approved"})
    signature.refresh_from_db()
    assert (signature.full_name, signature.status) == ("Original Name", S.CONFIRMED)
    letter = LetterVersion.objects.current()
    response = mod_client.post(
        f"/admin/pledges/letterversion/{letter.pk}/change/", letter_form(letter, title="X", body="Y")
    )
    assert response.status_code == 403
    assert LetterVersion.objects.count() == 1


def test_signature_page_shows_tokens_and_hashes_read_only(mod_client):
    signature = make_signature(status=S.CONFIRMED, ip_hash="ab" * 32)
    html = mod_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    assert "ab" * 32 in html and str(signature.code) in html
    assert 'name="ip_hash"' not in html and 'name="code"' not in html


def test_search_by_email_and_by_name_ignoring_case_and_accents(mod_client):
    make_signature(full_name="Zoë Saldaña", email="zoe@example.com")
    make_signature(full_name="Someone Else", email="else@example.com")
    for term in ("ZOE@example.com", "zoe saldana", "SALDAÑA", "zo sal"):
        html = mod_client.get(CHANGELIST, {"q": term}).content.decode()
        assert "Zoë Saldaña" in html and "Someone Else" not in html, term
    assert "Zoë Saldaña" not in mod_client.get(CHANGELIST, {"q": "nobody"}).content.decode()


def test_filters_by_flag_guild_status_and_featured(mod_client):
    make_signature(status=S.CONFIRMED, full_name="Flagged One", flags=["ip_burst"])
    make_signature(
        status=S.APPROVED, full_name="Guild One", guilds=["dga", "wga"], featured=True, verified=True
    )
    make_signature(status=S.PENDING, full_name="Plain One")
    cases = {
        "flag=any": {"Flagged One"},
        "flag=ip_burst": {"Flagged One"},
        "flag=watchlist": set(),
        "guild=dga": {"Guild One"},
        "status__exact=pending": {"Plain One"},
        "featured__exact=1": {"Guild One"},
    }
    for query, expected in cases.items():
        html = mod_client.get(f"{CHANGELIST}?{query}").content.decode()
        shown = {name for name in ("Flagged One", "Guild One", "Plain One") if name in html}
        assert shown == expected, query


def test_bad_filter_values_do_not_500(mod_client):
    for query in (
        "status__exact=nonsense",
        "created_at__gte=not-a-date",
        "profession__id__exact=abc",
        "guild=\x00",
    ):
        response = mod_client.get(f"{CHANGELIST}?{query}")
        assert response.status_code in (200, 302, 400), query
    response = mod_client.get(f"{CHANGELIST}export/?created_at__gte=not-a-date")
    assert response.status_code == 400


def test_export_honours_filters_and_neutralises_formulas(mod_client):
    make_signature(status=S.APPROVED, full_name="=HYPERLINK(1)", credit="+44 555", email="f@example.com")
    make_signature(status=S.PENDING, full_name="Not Exported")
    html = mod_client.get(f"{CHANGELIST}?status__exact=approved").content.decode()
    export_url = re.search(r'href="([^"]+/export/\?[^"]+)"', html).group(1).replace("&amp;", "&")
    response = mod_client.get(export_url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["name"], row["credit"], row["email"]) for row in rows] == [
        ("'=HYPERLINK(1)", "'+44 555", "f@example.com")
    ]


def test_export_needs_the_export_permission(client):
    viewer = User.objects.create_user("viewer", password="a-long-password-3", is_staff=True)
    viewer.user_permissions.add(
        *Group.objects.get(name="Moderators").permissions.exclude(codename="export_signature")
    )
    client.force_login(viewer)
    make_signature(status=S.APPROVED)
    assert "export/" not in client.get(CHANGELIST).content.decode()
    assert client.get(f"{CHANGELIST}export/").status_code == 403


@pytest.mark.parametrize("url", [CHANGELIST, QUEUE])
def test_changelist_queries_do_not_grow_with_rows(mod_client, django_assert_num_queries, url):
    def load(n):
        Signature.objects.all().delete()
        for i in range(n):
            make_signature(status=S.CONFIRMED, full_name=f"Person {i}", guilds=["wga", "dga"])
        with django_assert_num_queries(QUERIES[url]):
            assert mod_client.get(url).status_code == 200

    load(1)
    load(3)


# Session, user, two for permissions, the filters' guilds and professions, the capped count,
# the page, the page's guilds: the same for 1 row as for 3, so nothing is fetched per row.
QUERIES = {CHANGELIST: 9, QUEUE: 9}


def test_changelist_never_counts_the_whole_table(mod_client, django_assert_max_num_queries):
    make_signature(status=S.CONFIRMED)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        mod_client.get(CHANGELIST)
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 10001" in sql for sql in counts), counts


def test_watchlisted_name_is_flagged_held_and_shown_only_after_approval(mod_client, client, valid_form_data):
    response = mod_client.post("/admin/pledges/watchedname/add/", {"name": "Zoë Saldaña", "note": "actor"})
    assert response.status_code == 302 and WatchedName.objects.get().normalised_name == "zoe saldana"
    client.post("/sign/", {**valid_form_data, "full_name": "ZOE  saldana", "email": "fake@example.com"})
    client.post("/sign/", {**valid_form_data, "full_name": "Ada Lovelace", "email": "ada@example.com"})
    process_submissions()
    forged = Signature.objects.get(email="fake@example.com")
    assert forged.flags == [Signature.Flag.WATCHLIST]
    assert Signature.objects.get(email="ada@example.com").flags == []
    forged.confirm()
    assert forged not in Signature.objects.counted()
    html = mod_client.get(f"{CHANGELIST}?flag=watchlist").content.decode()
    assert "ZOE saldana" in html
    act(mod_client, "approve", [forged])
    assert forged not in Signature.objects.published()  # a routine bulk approve leaves it
    act(mod_client, "approve_clearing_flags", [forged])
    assert forged not in Signature.objects.published()  # a watchlist hold needs a person's decision
    response = mod_client.post(
        reverse("admin:pledges_signature_verify", args=[forged.pk]),
        {"namesake": "1", "namesake_note": "A student"},
    )
    assert response.status_code == 302
    forged.refresh_from_db()
    assert forged in Signature.objects.published() and forged.namesake and not forged.is_verified


def test_watchlist_refuses_the_same_name_twice_with_a_form_error(mod_client):
    mod_client.post("/admin/pledges/watchedname/add/", {"name": "Tom Hanks"})
    response = mod_client.post("/admin/pledges/watchedname/add/", {"name": "TOM  HANKS"})
    assert response.status_code == 200 and "already exists" in response.content.decode()
    assert WatchedName.objects.count() == 1


@pytest.mark.parametrize("name", ["!!!", "", "Ada\x00Lovelace", "x" * 500])
def test_bad_watchlist_names_get_a_form_error_and_store_nothing(mod_client, name):
    response = mod_client.post("/admin/pledges/watchedname/add/", {"name": name})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert WatchedName.objects.count() == 0


def test_bad_letter_edits_get_a_form_error_and_make_no_version(admin_client_):
    letter = LetterVersion.objects.current()
    for data in (
        {"title": "", "body": "x"},
        {"title": "T\x00", "body": "x"},
        {"title": "x" * 300, "body": "b"},
    ):
        response = admin_client_.post(
            f"/admin/pledges/letterversion/{letter.pk}/change/", letter_form(letter, **data)
        )
        assert response.status_code == 200 and "errornote" in response.content.decode()
    assert LetterVersion.objects.count() == 1


def test_editing_the_letter_makes_a_new_version_and_signatures_keep_theirs(admin_client_):
    old = LetterVersion.objects.current()
    signature = make_signature(status=S.CONFIRMED)
    response = admin_client_.post(
        f"/admin/pledges/letterversion/{old.pk}/change/", letter_form(old, body=old.body + "\n\nP.S.")
    )
    assert response.status_code == 302
    new = LetterVersion.objects.current()
    assert new.pk != old.pk and new.body.endswith("P.S.") and new.created_by.username == "boss"
    old.refresh_from_db()
    assert not old.body.endswith("P.S.")
    signature.refresh_from_db()
    assert signature.letter_version == old
    assert "P.S." in admin_client_.get("/").content.decode()


def test_staff_edit_who_is_behind_the_letter_in_the_admin(admin_client_, client):
    from pledges.models import AboutPage

    about = AboutPage.current()
    data = {
        "coalition": "A *new* coalition.",
        "organisers": "Jo Organiser",
        "contact_email": "hello@coalition.example",
        "press_contact": "Pat Press",
        "press_email": "press@coalition.example",
        "press_phone": "",
        "data_controller": "Coalition Ltd",
        "postal_address": "",
    }
    response = admin_client_.post(f"/admin/pledges/aboutpage/{about.pk}/change/", data)
    assert response.status_code == 302
    html = client.get("/about/").content.decode()
    assert "<em>new</em>" in html and "Jo Organiser" in html and "hello@coalition.example" in html
    assert AboutPage.current().changed_by.username == "boss"
    bad = admin_client_.post(f"/admin/pledges/aboutpage/{about.pk}/change/", {**data, "press_email": "nope"})
    assert bad.status_code == 200 and AboutPage.current().press_email == "press@coalition.example"


def test_pausing_signing_in_the_admin_stops_signing_with_a_clear_message(
    admin_client_, client, valid_form_data
):
    response = admin_client_.post(
        "/admin/pledges/signingstatus/1/change/",
        {"paused": "on", "message": "Back on Monday.", "publication": "moderated"},
    )
    assert response.status_code == 302 and SigningStatus.current().paused
    html = client.get("/").content.decode()
    assert "Back on Monday." in html and 'name="full_name"' not in html
    response = client.post("/sign/", valid_form_data)
    assert response.status_code == 403 and "Back on Monday." in response.content.decode()
    assert Submission.objects.count() == Signature.objects.count() == 0 and OutgoingEmail.objects.count() == 0
    admin_client_.post(
        "/admin/pledges/signingstatus/1/change/", {"message": "Back on Monday.", "publication": "moderated"}
    )
    assert client.post("/sign/", valid_form_data).status_code == 302


def test_a_moderator_clears_a_mixed_queue_and_the_public_list_shows_exactly_the_approved_consenting(
    mod_client, client
):
    keep = make_signature(status=S.CONFIRMED, full_name="Keeps Public")
    private = make_signature(status=S.CONFIRMED, full_name="Keeps Private", show_publicly=False)
    forged = make_signature(status=S.CONFIRMED, full_name="Forged Famous", flags=["watchlist"])
    make_signature(status=S.PENDING, full_name="Never Confirmed")
    act(mod_client, "approve", [keep, private], url=QUEUE)
    act(mod_client, "reject", [forged], url=QUEUE)
    assert "0 signatures" in mod_client.get(QUEUE).content.decode()
    html = client.get("/signatories/").content.decode()
    names = re.findall(r'class="signatory-name">([^<]+)<', html)
    assert names == ["Keeps Public"]


def test_signatures_show_and_filter_by_the_language_they_were_signed_in(mod_client):
    make_signature(full_name="Ana Español", language="es")
    make_signature(full_name="Anne Français", language="fr")
    make_signature(full_name="Ann English")
    html = mod_client.get(CHANGELIST).content.decode()
    assert "column-language" in html and "Spanish" in html
    spanish = mod_client.get(CHANGELIST + "?language__exact=es").content.decode()
    assert "Ana Español" in spanish and "Anne Français" not in spanish and "Ann English" not in spanish
    page = mod_client.get(f"{CHANGELIST}{Signature.objects.get(language='fr').pk}/change/").content.decode()
    assert "French" in page and 'name="language"' not in page  # shown, not editable


def test_staff_add_a_translation_to_the_current_letter_version(admin_client_, client):
    letter = LetterVersion.objects.current()
    letter.translations.filter(language="fr").delete()
    response = admin_client_.post(
        f"/admin/pledges/letterversion/{letter.pk}/change/",
        letter_form(
            letter, {"fr": {"title": "Une lettre", "summary": "Un résumé.", "body": "Un paragraphe."}}
        ),
    )
    assert response.status_code == 302
    assert LetterVersion.objects.count() == 1  # the English did not change: no new version
    assert letter.translations.get(language="fr").title == "Une lettre"
    assert "<h1>Une lettre</h1>" in client.get("/", headers={"accept-language": "fr"}).content.decode()


def test_a_second_translation_into_one_language_is_refused(admin_client_):
    letter = LetterVersion.objects.current()
    data = letter_form(letter)
    data.update(
        {
            "translations-TOTAL_FORMS": 3,
            "translations-2-language": "es",
            "translations-2-title": "Otra",
            "translations-2-body": "Otro texto.",
            "translations-2-letter_version": letter.pk,
        }
    )
    response = admin_client_.post(f"/admin/pledges/letterversion/{letter.pk}/change/", data)
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert letter.translations.filter(language="es").count() == 1


def test_a_new_version_takes_the_translations_edited_with_it_and_leaves_the_others(admin_client_):
    old = LetterVersion.objects.current()
    old_spanish = old.translations.get(language="es").body
    response = admin_client_.post(
        f"/admin/pledges/letterversion/{old.pk}/change/",
        letter_form(old, {"es": {"body": old_spanish + "\n\nP.D."}}, body=old.body + "\n\nP.S."),
        follow=True,
    )
    new = LetterVersion.objects.current()
    assert new.pk != old.pk
    assert [t.language for t in new.translations.all()] == ["es"]
    assert new.translations.get().body.endswith("P.D.")
    # The old version keeps its own translations as they were: they translate its text.
    assert old.translations.get(language="es").body == old_spanish
    assert old.translations.filter(language="fr").exists()
    assert "translations into French were not carried over" in response.content.decode()
