"""The trust migration on a database that already holds what the new rules forbid: two
signatures of one mailbox, approved watchlist matches, featured names nobody verified."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from pledges.lib.watchlist import match_keys, watched_keys

BEFORE = ("pledges", "0009_featured_has_credit")
AFTER = ("pledges", "0010_trust_mailbox_watchlist_verified")


def migrate(target) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_keeps_the_first_signature_of_a_mailbox_and_holds_the_others():
    executor = migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    Signature = old.get_model("pledges", "Signature")
    WatchedName = old.get_model("pledges", "WatchedName")
    OutgoingEmail = old.get_model("pledges", "OutgoingEmail")
    profession = old.get_model("pledges", "Profession").objects.get(slug="writer")
    letter = old.get_model("pledges", "LetterVersion").objects.order_by("-created_at").first()
    now = timezone.now()

    def make(email, name="Ada Lovelace", status="approved", minutes_ago=0, **extra):
        created = now - timedelta(minutes=minutes_ago)
        return Signature.objects.create(
            email=email,
            full_name=name,
            status=status,
            profession=profession,
            letter_version=letter,
            created_at=created,
            confirmed_at=None if status == "pending" else created,
            **extra,
        )

    first = make("n.ame@gmail.com", minutes_ago=30)
    later_approved = make("name+2@googlemail.com", minutes_ago=20, featured=True, credit="Analyst")
    later_pending = make("na.me@gmail.com", status="pending", minutes_ago=10)
    # An unconfirmed first signature proves nothing: the first confirmed one is kept.
    unconfirmed_first = make("zoe@example.org", status="pending", minutes_ago=50)
    confirmed_second = make("zoe+x@example.org", status="confirmed", minutes_ago=40)
    WatchedName.objects.create(name="Tom Hanks")
    WatchedName.objects.create(name="Hanks, Tom")  # the same person twice
    approved_match = make("tom@example.org", name="Tom Hanks", flags=["watchlist"])
    held_match = make("tom2@example.org", name="TOM HANKS", status="confirmed", flags=["watchlist"])
    featured = make("star@example.org", name="Meryl Streep", featured=True, credit="Doubt")
    withdrawn = Signature.objects.create(
        email=None,
        full_name="",
        status="withdrawn",
        profession=profession,
        letter_version=letter,
        withdrawn_at=now,
    )
    OutgoingEmail.objects.create(to="N.Ame+1@gmail.com", kind="confirmation", subject="s", body_text="b")

    executor = migrate([AFTER])
    new = executor.loader.project_state([AFTER]).apps
    Signature = new.get_model("pledges", "Signature")
    ModerationEvent = new.get_model("pledges", "ModerationEvent")
    rows = {row.pk: row for row in Signature.objects.all()}

    assert rows[first.pk].mailbox == "name@gmail.com" and rows[first.pk].status == "approved"
    for duplicate in (later_approved, later_pending):
        row = rows[duplicate.pk]
        assert row.mailbox is None and "duplicate_mailbox" in row.flags and not row.featured
        assert row.email == duplicate.email  # nothing deleted
        event = ModerationEvent.objects.get(signature_id=duplicate.pk, action="hold")
        assert event.note == f"Shares a mailbox with signature #{first.pk}."
    assert rows[later_approved.pk].status == "confirmed"  # held: no longer counted or listed
    assert rows[later_pending.pk].status == "pending"
    assert rows[confirmed_second.pk].mailbox == "zoe@example.org"
    assert (
        rows[unconfirmed_first.pk].mailbox is None and "duplicate_mailbox" in rows[unconfirmed_first.pk].flags
    )

    watched = new.get_model("pledges", "WatchedName").objects.get()
    assert watched.name == "Tom Hanks" and watched.keys == watched_keys("Tom Hanks")
    assert rows[approved_match.pk].namesake and rows[approved_match.pk].watchlist_recheck
    assert rows[approved_match.pk].watchlist_match_id == watched.pk
    assert rows[held_match.pk].watchlist_match_id == watched.pk and rows[held_match.pk].status == "confirmed"
    assert not rows[featured.pk].featured and rows[featured.pk].status == "approved"
    assert ModerationEvent.objects.filter(signature_id=featured.pk, action="unfeature").exists()
    assert rows[withdrawn.pk].mailbox is None
    assert rows[first.pk].name_keys == match_keys("Ada Lovelace")
    assert new.get_model("pledges", "OutgoingEmail").objects.get().mailbox == "name@gmail.com"

    migrate(executor.loader.graph.leaf_nodes())
