"""Moderation at the scale of a launch spike: full pages, select-all of any size as background
jobs run by the worker, the publication policy, triage, and the signature page's buttons."""

import io
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pledges import bulk
from pledges.figures import live_figures
from pledges.lib.mailboxes import canonical_mailbox
from pledges.models import (
    BulkModerationJob,
    LetterVersion,
    ModerationEvent,
    Profession,
    Signature,
    SigningStatus,
    Submission,
    WatchedName,
)
from tests.utils import at_once, make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status
CHANGELIST = "/admin/pledges/signature/"
QUEUE = "/admin/pledges/queuedsignature/"


@pytest.fixture
def superuser_client():
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "boss@coalition.example", "a-long-password-2"))
    return client


def seed_confirmed(count: int, **fields) -> None:
    """`count` confirmed signatures, made in bulk (the ORM one row at a time would take minutes)."""
    profession = Profession.objects.get(slug="writer")
    letter = LetterVersion.objects.current()
    now = timezone.now()
    start = Signature.objects.count()
    Signature.objects.bulk_create(
        (
            Signature(
                full_name=f"Seeded Signer {start + n:05d}",
                email=f"seed-{start + n}@example.org",
                mailbox=canonical_mailbox(f"seed-{start + n}@example.org"),
                profession=profession,
                letter_version=letter,
                status=S.CONFIRMED,
                created_at=now,
                confirmed_at=now,
                **fields,
            )
            for n in range(count)
        ),
        batch_size=5000,
    )


def form_post(client, url: str, data: dict, **kwargs):
    """As a browser posts the changelist's form (urlencoded; the test client's default is multipart)."""
    body = urlencode(data, doseq=True)
    return client.post(url, body, content_type="application/x-www-form-urlencoded", **kwargs)


def select_all(client, action: str, url=QUEUE, query: str = "", one_pk=None):
    pk = one_pk or Signature.objects.values_list("pk", flat=True).first()
    data = {"action": action, "select_across": "1", "index": 0, "_selected_action": [pk]}
    return form_post(client, f"{url}?{query}" if query else url, data)


# A full page, and the admin-only field limit


def test_a_full_page_of_100_rows_is_selected_and_approved_in_one_submit(mod_client, client):
    seed_confirmed(100)
    ids = list(Signature.objects.values_list("pk", flat=True))
    response = form_post(
        mod_client, QUEUE, {"action": "approve", "index": 0, "_selected_action": ids}, follow=True
    )
    assert response.status_code == 200
    assert "Approved 100 of 100 signatures." in response.content.decode()
    assert Signature.objects.published().count() == 100
    assert ModerationEvent.objects.filter(action="approve").count() == 100
    live_figures.refresh()
    assert client.get("/api/count/").json()["published"] == 100
    assert "Seeded Signer 00042" in client.get("/signatories/?q=seeded+signer+00042").content.decode()


def test_the_public_forms_and_anonymous_admin_posts_keep_the_small_field_limit(client, valid_form_data):
    many = {f"extra{n}": "x" for n in range(150)}
    assert form_post(client, "/sign/", {**valid_form_data, **many}).status_code == 400
    assert form_post(client, "/admin/login/", {"username": "a", "password": "b", **many}).status_code == 400
    # Not signed in: sent to the login page, the body never read with the staff limit.
    response = form_post(client, QUEUE, {"action": "approve", **many})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Submission.objects.count() == Signature.objects.count() == 0


def test_staff_too_have_a_limit_and_get_a_400_past_it(mod_client, settings):
    settings.ADMIN_DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    data = {"action": "approve", "index": 0, "_selected_action": list(range(1, 80))}
    response = form_post(mod_client, QUEUE, data)
    assert response.status_code == 400


# Select all: small in the request, large as a job


def test_a_small_select_all_runs_in_the_request(mod_client, settings):
    settings.BULK_IN_REQUEST_MAX = 50
    seed_confirmed(40)
    response = select_all(mod_client, "approve")
    assert response.status_code == 302 and not BulkModerationJob.objects.exists()
    assert Signature.objects.filter(status=S.APPROVED).count() == 40


def test_select_all_of_20000_is_a_background_job_that_publishes_them_all(mod_client, client, moderator):
    seed_confirmed(20_000)
    held = make_signature(status=S.CONFIRMED, flags=["watchlist"], full_name="Natalie Portman")
    response = select_all(mod_client, "approve")
    job = BulkModerationJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(
        f"/bulkmoderationjob/{job.pk}/change/"
    )
    assert (job.state, job.action, job.created_by) == ("queued", "approve", moderator)
    assert Signature.objects.filter(status=S.APPROVED).count() == 0  # nothing happened in the request
    page = mod_client.get(response["Location"]).content.decode()
    assert "Waiting for the worker" in page and "Cancel the job" in page

    call_command("deliver_emails", "--once", stdout=io.StringIO())  # the worker

    job.refresh_from_db()
    assert (job.state, job.total, job.processed, job.changed) == ("done", 20_001, 20_001, 20_000)
    assert Signature.objects.published().count() == 20_000
    held.refresh_from_db()
    assert held.status == S.CONFIRMED  # a flagged signature waits for a person
    assert ModerationEvent.objects.filter(job=job, action="approve", actor=moderator).count() == 20_000
    live_figures.refresh()
    assert client.get("/api/count/").json()["published"] == 20_000
    listed = client.get("/signatories/?q=seeded+signer+19999").content.decode()
    assert "Seeded Signer 19999" in listed
    assert "100%" in mod_client.get(f"/admin/pledges/bulkmoderationjob/{job.pk}/change/").content.decode()


def test_a_job_takes_only_the_filtered_rows_and_none_signed_after_it(mod_client, settings):
    settings.BULK_IN_REQUEST_MAX = 5
    seed_confirmed(10, credit="Showrunner")
    seed_confirmed(10)
    select_all(mod_client, "reject", query="credit=yes")
    assert BulkModerationJob.objects.get().description == "Moderation queue; credit: Has a credit"
    seed_confirmed(5, credit="Gaffer")  # after the job was made
    bulk.run_all()
    assert Signature.objects.filter(status=S.REJECTED).count() == 10
    assert not Signature.objects.filter(status=S.REJECTED, credit="").exists()
    assert not Signature.objects.filter(status=S.REJECTED, credit="Gaffer").exists()


def test_a_job_runs_in_batches_and_a_cancel_stops_it_before_the_next(mod_client, moderator, settings):
    settings.BULK_IN_REQUEST_MAX = 5
    seed_confirmed(30)
    select_all(mod_client, "approve")
    job = BulkModerationJob.objects.get()
    bulk.run_next_batch(batch_size=10)
    job.refresh_from_db()
    assert (job.state, job.processed, job.changed, job.total) == ("running", 10, 10, 30)
    assert (
        'value="33"' in mod_client.get(f"/admin/pledges/bulkmoderationjob/{job.pk}/change/").content.decode()
    )
    response = mod_client.post(f"/admin/pledges/bulkmoderationjob/{job.pk}/cancel/", follow=True)
    assert "Cancelled after 10 signatures" in response.content.decode()
    assert bulk.run_all(batch_size=10) == 0
    job.refresh_from_db()
    assert (job.state, job.cancelled_by, job.processed) == ("cancelled", moderator, 10)
    assert Signature.objects.filter(status=S.APPROVED).count() == 10
    again = mod_client.post(f"/admin/pledges/bulkmoderationjob/{job.pk}/cancel/", follow=True)
    assert "already ended" in again.content.decode()
    assert mod_client.get(f"/admin/pledges/bulkmoderationjob/{job.pk}/cancel/").status_code == 405


def test_running_the_same_job_twice_changes_each_signature_once(mod_client, settings):
    settings.BULK_IN_REQUEST_MAX = 5
    seed_confirmed(25)
    select_all(mod_client, "approve")
    select_all(mod_client, "approve")  # a double click
    bulk.run_all(batch_size=7)
    first, second = BulkModerationJob.objects.order_by("pk")
    assert (first.changed, second.changed) == (25, 0) and second.processed == 0
    assert ModerationEvent.objects.count() == 25
    # and the job itself, rewound as if a worker died after its batch committed:
    BulkModerationJob.objects.filter(pk=first.pk).update(
        state="running", last_signature_id=0, finished_at=None
    )
    bulk.run_all()
    assert ModerationEvent.objects.count() == 25


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_at_once_change_each_signature_once(settings):
    moderator = User.objects.create_user("mo2", password="a-long-password-1", is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    seed_confirmed(400)
    for _ in range(2):
        bulk.start_job(
            action="approve", changelist="pledges.queuedsignature", query="", description="all", by=moderator
        )
    at_once(lambda batch_size: bulk.run_all(batch_size=batch_size), [25, 25])
    assert Signature.objects.filter(status=S.APPROVED).count() == 400
    assert ModerationEvent.objects.count() == 400
    assert sorted(BulkModerationJob.objects.values_list("state", flat=True)) == ["done", "done"]


def test_a_job_fails_plainly_when_its_moderator_lost_the_right(mod_client, moderator, settings):
    settings.BULK_IN_REQUEST_MAX = 5
    seed_confirmed(10)
    select_all(mod_client, "approve")
    moderator.groups.clear()
    bulk.run_all()
    job = BulkModerationJob.objects.get()
    assert job.state == "failed" and "can no longer moderate" in job.error
    assert not Signature.objects.filter(status=S.APPROVED).exists()


# The publication policy


def test_switching_to_publishing_at_once_publishes_the_unflagged_queue_through_a_job(
    superuser_client, client, valid_form_data
):
    seed_confirmed(30)
    flagged = make_signature(status=S.CONFIRMED, flags=["ip_burst"])
    assert "your name will appear once reviewed" in client.get("/privacy/").content.decode()
    response = superuser_client.post(
        "/admin/pledges/signingstatus/1/change/",
        {"message": SigningStatus.DEFAULT_MESSAGE, "publication": "at_once"},
        follow=True,
    )
    assert "are being published" in response.content.decode()
    assert SigningStatus.current().publishes_at_once
    job = BulkModerationJob.objects.get()
    bulk.run_all()
    job.refresh_from_db()
    assert job.state == "done" and job.changed == 30
    flagged.refresh_from_db()
    assert flagged.status == S.CONFIRMED
    assert "as soon as you confirm your email address" in client.get("/privacy/").content.decode()
    # Saving again without changing the policy starts nothing more.
    superuser_client.post(
        "/admin/pledges/signingstatus/1/change/",
        {"message": SigningStatus.DEFAULT_MESSAGE, "publication": "at_once"},
    )
    assert BulkModerationJob.objects.count() == 1


def test_confirming_under_each_policy_says_what_happens_to_the_name(client):
    def confirm(signature):
        return client.post(f"/verify/{signature.make_token('verify')}/").content.decode()

    waits = make_signature(email="waits@example.com")
    assert "will appear on the public list once our staff have reviewed it" in confirm(waits)
    waits.refresh_from_db()
    assert waits.status == S.CONFIRMED
    assert "once our staff have reviewed it" in confirm(waits)  # the "already confirmed" page

    SigningStatus.objects.filter(pk=1).update(publication="at_once")
    listed = make_signature(email="listed@example.com")
    verify_page = client.get(f"/verify/{listed.make_token('verify')}/").content.decode()
    assert "as soon as you confirm" in verify_page
    assert "Your name is now on the public list." in confirm(listed)
    listed.refresh_from_db()
    assert listed.status == S.APPROVED and listed in Signature.objects.published()
    event = ModerationEvent.objects.get(signature=listed)
    assert (event.action, event.actor) == ("publish_at_once", None)
    assert "Your name is now on the public list." in confirm(listed)  # already confirmed

    flagged = make_signature(email="flagged@example.com", flags=["machine_name"])
    assert "once our staff have reviewed it" in confirm(flagged)
    flagged.refresh_from_db()
    assert flagged.status == S.CONFIRMED

    unlisted = make_signature(email="unlisted@example.com", show_publicly=False)
    page = confirm(unlisted)
    assert "Thank you, your signature is confirmed" in page and "public list" not in page


# Triage


def test_the_queue_opens_on_flagged_then_notable_then_the_rest_with_reasons_in_words(mod_client):
    watched = WatchedName.objects.create(name="Natalie Portman")
    plain = make_signature(status=S.CONFIRMED, full_name="Plain Person")
    notable = make_signature(status=S.CONFIRMED, full_name="Known Showrunner", credit="Showrunner, Severance")
    forged = make_signature(
        status=S.CONFIRMED, full_name="natalie  PORTMAN", flags=["watchlist"], watchlist_match=watched
    )
    burst = [
        make_signature(status=S.CONFIRMED, full_name=f"Burst {n}", ip_hash="f" * 64, flags=["ip_burst"])
        for n in range(3)
    ]
    domain = [
        make_signature(
            status=S.CONFIRMED, full_name=f"Domain {n}", email=f"d{n}@spam.example", flags=["domain_burst"]
        )
        for n in range(2)
    ]
    html = mod_client.get(QUEUE).content.decode()
    order = [html.index(s.full_name) for s in [forged, *burst, *domain, notable, plain]]
    assert order[:6] == sorted(order[:6])  # flagged, oldest first
    assert max(order[:6]) < order[6] < order[7]
    assert "Matches the watched name “Natalie Portman”" in html
    assert "Burst from one IP: 2 others from this address within an hour" in html
    assert "Burst from one email domain: 1 other from @spam.example within an hour" in html
    assert "Notable: has a credit" in html and "Showrunner, Severance" in html
    link = re.search(r'<a href="([^"]*\?ip=[^"]*)">', html).group(1).replace("&amp;", "&")
    siblings = mod_client.get(link).content.decode()
    assert all(s.full_name in siblings for s in burst) and "Plain Person" not in siblings
    assert "3 signatures" in siblings
    link = re.search(r'<a href="([^"]*\?domain=[^"]*)">', html).group(1).replace("&amp;", "&")
    siblings = mod_client.get(link).content.decode()
    assert all(s.full_name in siblings for s in domain) and "Burst 0" not in siblings


def test_the_has_credit_filter(mod_client):
    make_signature(status=S.CONFIRMED, full_name="Has Credit", credit="Gaffer")
    make_signature(status=S.CONFIRMED, full_name="No Credit")
    html = mod_client.get(f"{CHANGELIST}?credit=yes").content.decode()
    assert "Has Credit" in html and "No Credit" not in html


def _queue_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(QUEUE).status_code == 200
    return len(queries)


def test_the_queue_costs_the_same_queries_for_one_row_as_for_three(mod_client):
    watched = WatchedName.objects.create(name="Famous One")
    make_signature(
        status=S.CONFIRMED,
        full_name="Famous One",
        flags=["watchlist", "ip_burst"],
        ip_hash="a" * 64,
        watchlist_match=watched,
    )
    one = _queue_queries(mod_client)
    make_signature(
        status=S.CONFIRMED,
        full_name="Famous One",
        flags=["watchlist", "domain_burst"],
        watchlist_match=watched,
    )
    make_signature(status=S.CONFIRMED, full_name="Another", credit="Composer", guilds=["wga"])
    assert _queue_queries(mod_client) == one


def test_the_admin_index_shows_the_queue_by_reason_the_last_hour_and_the_outbox(mod_client):
    make_signature(status=S.CONFIRMED, flags=["watchlist"])
    make_signature(status=S.CONFIRMED, credit="Composer")
    make_signature(status=S.CONFIRMED)
    html = mod_client.get("/admin/").content.decode()
    assert "Moderation at a glance" in html
    for label in [
        "Queue: name on the watchlist",
        "Queue: notable (has a credit, no flag)",
        "Queue: the rest",
        "Signatures in the last hour",
        "Emails waiting to be sent",
        "Emails that failed",
    ]:
        assert label in html
    figures = dict(re.findall(r">([^<>]+)</a></th>\s*<td class=\"figure[^\"]*\">([^<]+)<", html))
    assert figures["Queue: name on the watchlist"] == "1" and figures["Queue: the rest"] == "1"


# The signature's page


def test_the_signature_page_approves_rejects_features_with_buttons_that_post(mod_client, moderator):
    signature = make_signature(status=S.CONFIRMED, credit="Showrunner")
    page = mod_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    assert f'action="{CHANGELIST}{signature.pk}/act/approve/"' in page
    assert mod_client.get(f"{CHANGELIST}{signature.pk}/act/approve/").status_code == 405
    mod_client.post(f"{CHANGELIST}{signature.pk}/act/approve/")
    signature.refresh_from_db()
    assert "/act/feature/" not in mod_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    signature.verify(moderator, Signature.VerificationMethod.values[0])  # only the verified are featured
    mod_client.post(f"{CHANGELIST}{signature.pk}/act/feature/")
    signature.refresh_from_db()
    assert (signature.status, signature.featured) == (S.APPROVED, True)
    page = mod_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    assert "/act/unfeature/" in page and "/act/approve/" not in page
    response = mod_client.post(f"{CHANGELIST}{signature.pk}/act/reject/", follow=True)
    assert "Rejected" in response.content.decode()
    signature.refresh_from_db()
    assert (signature.status, signature.featured) == (S.REJECTED, False)
    actions = list(
        ModerationEvent.objects.filter(signature=signature).order_by("pk").values_list("action", "actor")
    )
    assert actions == [
        ("approve", moderator.pk),
        ("verify", moderator.pk),
        ("feature", moderator.pk),
        ("reject", moderator.pk),
    ]
    assert mod_client.post(f"{CHANGELIST}{signature.pk}/act/delete/").status_code == 400


def test_the_verify_button_reaches_the_verification_page_and_holds_need_it(mod_client):
    watched = WatchedName.objects.create(name="Famous Person")
    held = make_signature(
        status=S.CONFIRMED, full_name="Famous Person", flags=["watchlist"], watchlist_match=watched
    )
    page = mod_client.get(f"{CHANGELIST}{held.pk}/change/").content.decode()
    verify_url = reverse("admin:pledges_signature_verify", args=[held.pk])
    assert (
        f'href="{verify_url}"' in page
        and "/act/approve/" not in page
        and "/act/approve_clearing_flags/" not in page
    )
    assert mod_client.get(verify_url).status_code == 200
    burst = make_signature(status=S.CONFIRMED, flags=["ip_burst"])
    page = mod_client.get(f"{CHANGELIST}{burst.pk}/change/").content.decode()
    assert "/act/approve_clearing_flags/" in page and "/act/approve/" not in page
    mod_client.post(f"{CHANGELIST}{burst.pk}/act/approve_clearing_flags/")
    burst.refresh_from_db()
    assert (burst.status, burst.flags) == (S.APPROVED, [])


def test_a_bulk_approve_and_clear_flags_leaves_watchlist_holds(mod_client, settings):
    settings.BULK_IN_REQUEST_MAX = 5
    seed_confirmed(8, flags=["ip_burst"])
    held = make_signature(status=S.CONFIRMED, flags=["watchlist"])
    select_all(mod_client, "approve_clearing_flags", query="flag=any")
    bulk.run_all()
    assert Signature.objects.filter(status=S.APPROVED, flags=[]).count() == 8
    held.refresh_from_db()
    assert held.status == S.CONFIRMED
    assert (
        ModerationEvent.objects.filter(action="approve_clearing_flags", note="Cleared: ip_burst").count() == 8
    )


def test_the_buttons_need_csrf_and_the_moderate_permission(moderator):
    signature = make_signature(status=S.CONFIRMED)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(moderator)
    assert strict.post(f"{CHANGELIST}{signature.pk}/act/approve/").status_code == 403
    viewer = User.objects.create_user("viewer", password="a-long-password-3", is_staff=True)
    viewer.user_permissions.add(
        *Group.objects.get(name="Moderators").permissions.exclude(codename="moderate_signature")
    )
    client = Client()
    client.force_login(viewer)
    assert "/act/approve/" not in client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    assert client.post(f"{CHANGELIST}{signature.pk}/act/approve/").status_code == 403
    signature.refresh_from_db()
    assert signature.status == S.CONFIRMED


def test_a_moderator_cannot_delete_a_signature_a_superuser_can(mod_client, superuser_client):
    signature = make_signature(status=S.CONFIRMED)
    page = mod_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    assert "/delete/" not in page
    assert mod_client.get(f"{CHANGELIST}{signature.pk}/delete/").status_code == 403
    assert mod_client.post(f"{CHANGELIST}{signature.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Signature.objects.filter(pk=signature.pk).exists()
    assert (
        f"{CHANGELIST}{signature.pk}/delete/"
        in superuser_client.get(f"{CHANGELIST}{signature.pk}/change/").content.decode()
    )


# Copy


def test_every_list_footer_names_its_own_objects(mod_client, superuser_client):
    WatchedName.objects.create(name="Tom Hanks")
    make_signature(status=S.CONFIRMED)
    assert "1 watched name" in mod_client.get("/admin/pledges/watchedname/").content.decode()
    assert "1 signature\n" in mod_client.get(QUEUE).content.decode()
    html = superuser_client.get("/admin/pledges/profession/").content.decode()
    assert re.search(r"\d+ professions", html)


def test_select_all_reads_naturally(mod_client):
    seed_confirmed(150)
    html = mod_client.get(QUEUE).content.decode()
    assert (
        "Select all 150 signatures in this list" in html and "moderation queue" not in html.split("<tbody")[1]
    )


def test_letter_versions_show_which_is_current_and_how_many_signed_each(superuser_client):
    first = LetterVersion.objects.current()
    make_signature(status=S.CONFIRMED)
    make_signature(status=S.APPROVED)
    second = first.revise(title=first.title, body=first.body + "\n\nMore.")
    make_signature(status=S.CONFIRMED, letter_version=second)
    html = superuser_client.get("/admin/pledges/letterversion/").content.decode()
    table = html[html.index('id="result_list"') :]
    rows = re.findall(r"<tr.*?</tr>", table, re.S)
    assert len(rows) >= 3  # header and two versions
    current_row, old_row = rows[1], rows[2]
    assert 'alt="True"' in current_row and ">1<" in current_row
    assert 'alt="False"' in old_row and ">2<" in old_row


def test_the_signing_status_page_labels_its_message_as_shown_while_paused(superuser_client):
    html = superuser_client.get("/admin/pledges/signingstatus/1/change/").content.decode()
    assert "Message shown while paused" in html and "Publication policy" in html
    assert "Every name waits for a moderator" in html
