from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from pledges.models import ModerationEvent, OutgoingEmail, Signature
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_purge_unconfirmed_deletes_only_expired_pending_and_dry_run_deletes_nothing(settings):
    settings.UNCONFIRMED_EXPIRY_DAYS = 14
    old = timezone.now() - timedelta(days=15)
    expired = make_signature(status=S.PENDING, created_at=old, email="old@example.com")
    OutgoingEmail.objects.create(to="old@example.com", kind="confirmation", subject="s", body_text="b")
    OutgoingEmail.objects.create(
        to="old@example.com", kind="confirmation", subject="s", body_text="b", sent_at=timezone.now()
    )
    fresh = make_signature(status=S.PENDING)
    old_confirmed = make_signature(status=S.CONFIRMED, created_at=old)
    assert "Would delete 1 signature(s)" in run("purge_unconfirmed", "--dry-run")
    assert Signature.objects.count() == 3
    assert "Deleted 1 signature(s)" in run("purge_unconfirmed")
    assert set(Signature.objects.values_list("pk", flat=True)) == {fresh.pk, old_confirmed.pk}
    assert not Signature.objects.filter(pk=expired.pk).exists()
    assert not OutgoingEmail.objects.filter(to="old@example.com").exists()
    assert "Deleted 0 signature(s)" in run("purge_unconfirmed")


def test_purge_deletes_emails_sent_or_failed_past_the_retention_and_keeps_the_rest(settings):
    settings.OUTBOX_RETENTION_DAYS = 7
    now = timezone.now()

    def email(to, **fields):
        return OutgoingEmail.objects.create(to=to, kind="confirmation", subject="s", body_text="b", **fields)

    email("sent-long-ago@example.com", sent_at=now - timedelta(days=8))
    email("failed-long-ago@example.com", failed_at=now - timedelta(days=8))
    kept = {
        email("sent-lately@example.com", sent_at=now - timedelta(days=6)).pk,
        email("unsent@example.com", created_at=now - timedelta(days=30)).pk,  # still being retried
    }
    assert "Would delete 2 email(s)" in run("purge_unconfirmed", "--dry-run")
    assert OutgoingEmail.objects.count() == 4
    assert "Deleted 2 email(s)" in run("purge_unconfirmed")
    assert set(OutgoingEmail.objects.values_list("pk", flat=True)) == kept


def test_seed_signatures_makes_every_state_with_guilds_flags_and_featured():
    assert "Added 5000 signatures" in run("seed_signatures", "5000", "--chunk-size", "2000")
    by_status = dict(Signature.objects.values_list("status").annotate(n=Count("pk")))
    assert set(by_status) == set(S.values) and sum(by_status.values()) == 5000
    assert Signature.objects.filter(featured=True).exists()
    assert Signature.objects.exclude(flags=[]).filter(status=S.CONFIRMED).exists()
    # Each guild in about its share of signatures (SAG-AFTRA 28%, DGA 5%), not all or nothing.
    in_guild = dict(Signature.guilds.through.objects.values_list("guild__slug").annotate(n=Count("pk")))
    assert 1000 < in_guild["sag-aftra"] < 1700 and 100 < in_guild["dga"] < 400, in_guild
    assert Signature.objects.filter(show_publicly=False, status=S.APPROVED).exists()
    assert not Signature.objects.filter(search_name__regex=r"[A-Zéëñøłü']").exists()
    sorens = Signature.objects.filter(full_name__startswith="Søren")
    assert (
        sorens.exists()
        and Signature.objects.name_matches("soren").filter(full_name__startswith="Søren").count()
        == sorens.count()
    )
    assert Signature.objects.filter(country="US").exists()
    withdrawn = Signature.objects.filter(status=S.WITHDRAWN)
    assert (
        not withdrawn.exclude(full_name="", country="").exists()
        and not withdrawn.filter(guilds__isnull=False).exists()
    )
    run("seed_signatures", "10")  # a second run adds to the first without clashing on email
    assert Signature.objects.count() == 5010


def test_seed_signatures_refuses_nonsense():
    with pytest.raises(CommandError):
        call_command("seed_signatures", "0")


CSV = """name,email,profession,guilds,credit,featured,verified,verification_note
Zoë Saldaña,ZOE@Example.org,Actor / performer,SAG-AFTRA; wga,Avatar,yes,agent,Her agent sent the list
=HYPERLINK(1),formula@example.org,actor,,,,,
Bad Profession,bad@example.org,astronaut,,,,,
Bad Email,not-an-email,writer,,,,,
Zoe Again,zoe+launch@example.org,writer,,,no,,
Bad Guild,guild@example.org,writer,teamsters,,,,
Bad Featured,featured@example.org,writer,,,maybe,,
Ada Lovelace,ada@example.org,writer,,Notes,,,
Unverified Star,star@example.org,actor,,,yes,,
Bad Method,method@example.org,actor,,,,psychic,
"""


def test_import_signatories_imports_approved_reports_every_skipped_row_and_is_idempotent(tmp_path):
    path = tmp_path / "launch.csv"
    path.write_text(CSV, encoding="utf-8")
    out = run("import_signatories", str(path))
    assert "Imported 2; already in the database (left as they were): 0." in out
    assert "Skipped 8 row(s):" in out
    for line, reason in [
        (3, "cannot start with"),
        (4, "unknown profession 'astronaut'"),
        (5, "email"),
        (6, "the same mailbox as line 2"),
        (7, "unknown guild 'teamsters'"),
        (8, "featured must be yes or no"),
        (10, "a featured signatory must be verified"),
        (11, "verified must be blank or one of"),
    ]:
        assert f"line {line}: " in out and reason in out.split(f"line {line}: ")[1].splitlines()[0]
    zoe = Signature.objects.get(email="zoe@example.org")
    assert (zoe.full_name, zoe.status, zoe.featured, zoe.profession.slug) == (
        "Zoë Saldaña",
        S.APPROVED,
        True,
        "actor",
    )
    assert sorted(zoe.guilds.values_list("slug", flat=True)) == ["sag-aftra", "wga"]
    assert zoe in Signature.objects.published() and zoe.confirmed_at is not None
    assert (zoe.verification_method, zoe.verification_note) == ("agent", "Her agent sent the list")
    assert zoe.verified_at is not None and zoe in Signature.objects.featured()
    assert ModerationEvent.objects.filter(action="import").count() == 2
    assert ModerationEvent.objects.get(action="verify").signature == zoe

    again = run("import_signatories", str(path))
    assert "Imported 0; already in the database (left as they were): 2." in again
    assert Signature.objects.count() == 2


def test_import_reads_a_header_in_any_case_and_with_spaces(tmp_path):
    path = tmp_path / "launch.csv"
    path.write_text(
        "Name, Email ,PROFESSION,Guilds,Credit,Featured, VERIFIED\n"
        "Ada Lovelace,ada@example.org,writer,WGA,Notes,yes,in_person\n",
        encoding="utf-8",
    )
    assert "Imported 1;" in run("import_signatories", str(path))
    ada = Signature.objects.get(email="ada@example.org")
    assert (ada.full_name, ada.profession.slug, ada.credit, ada.featured) == (
        "Ada Lovelace",
        "writer",
        "Notes",
        True,
    )
    assert list(ada.guilds.values_list("slug", flat=True)) == ["wga"]
    assert ada.verification_method == "in_person"


def test_import_leaves_an_existing_signature_as_it_is(tmp_path):
    make_signature(status=S.PENDING, email="ada@example.org", full_name="Ada Online")
    path = tmp_path / "launch.csv"
    path.write_text("name,email,profession\nAda Lovelace,ada@example.org,writer\n", encoding="utf-8")
    assert "Imported 0; already in the database (left as they were): 1." in run(
        "import_signatories", str(path)
    )
    assert Signature.objects.get().full_name == "Ada Online"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"\xff\xfe\x00n\x00a", "not UTF-8"),
        (b"full_name,mail\nAda,ada@example.org\n", "missing column(s) email, name, profession"),
        (b"name,email,profession\x00\n", "NUL"),
    ],
)
def test_import_refuses_a_bad_file_clearly_and_stores_nothing(tmp_path, content, message):
    path = tmp_path / "launch.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_signatories", str(path), stdout=StringIO(), stderr=StringIO())
    assert Signature.objects.count() == 0


def test_import_reports_rows_with_too_many_cells(tmp_path):
    path = tmp_path / "launch.csv"
    path.write_text("name,email,profession\nAda,ada@example.org,writer,extra\n", encoding="utf-8")
    out = run("import_signatories", str(path))
    assert "line 2: more cells than columns" in out and Signature.objects.count() == 0
