import json
from datetime import timedelta

import pytest
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from pledges.figures import compute_count_snapshot, compute_history, compute_live_figures
from pledges.lib.ip_hashing import hash_ip
from pledges.models import OutgoingEmail, Signature
from tests.utils import make_signature, token_made_days_ago

pytestmark = pytest.mark.django_db

S = Signature.Status


def test_migration_creates_the_first_letter_guilds_and_professions():
    from pledges.models import Guild, LetterVersion, Profession

    letter = LetterVersion.objects.current()
    assert "consent and compensation" in letter.body
    assert "deepfakes" in letter.body and "human authorship" in letter.body
    assert list(Guild.objects.values_list("name", flat=True)) == [
        "SAG-AFTRA",
        "WGA",
        "DGA",
        "PGA",
        "IATSE",
        "Other",
    ]
    assert Profession.objects.count() == 13
    assert Profession.objects.first().name == "Actor / performer"


def test_email_is_unique_in_the_database():
    make_signature(email="dup@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_signature(email="dup@example.com")


def test_email_must_be_stored_lower_case_so_the_unique_index_is_case_insensitive():
    with pytest.raises(IntegrityError, match="signature_email_normalised"), transaction.atomic():
        make_signature(email="Mixed@Example.com")


def test_status_outside_the_choices_is_refused_by_the_database():
    with pytest.raises(IntegrityError, match="signature_status_valid"), transaction.atomic():
        make_signature(status="maybe")


def test_unknown_flag_is_refused_by_the_database():
    with pytest.raises(IntegrityError, match="signature_flags_valid"), transaction.atomic():
        make_signature(flags=["looks-odd"])


def test_confirmed_signature_needs_a_confirmation_time():
    with pytest.raises(IntegrityError, match="signature_confirmed_has_time"), transaction.atomic():
        make_signature(status=S.CONFIRMED, confirmed_at=None)


def test_withdrawn_signature_must_be_erased():
    with pytest.raises(IntegrityError, match="signature_withdrawn_is_erased"), transaction.atomic():
        make_signature(status=S.WITHDRAWN, email="kept@example.com", withdrawn_at=timezone.now())


def test_only_approved_signatures_can_be_featured():
    with pytest.raises(IntegrityError, match="signature_featured_is_verified"), transaction.atomic():
        make_signature(status=S.CONFIRMED, featured=True)


def test_counted_and_published_follow_the_counting_rules():
    counted = {
        make_signature(status=S.CONFIRMED).pk,
        make_signature(status=S.APPROVED).pk,
        make_signature(status=S.APPROVED, show_publicly=False).pk,
        make_signature(status=S.APPROVED, flags=["watchlist"], namesake=True).pk,  # a person decided
    }
    make_signature(status=S.PENDING)
    make_signature(status=S.REJECTED)
    make_signature(status=S.WITHDRAWN)
    make_signature(status=S.CONFIRMED, flags=["watchlist"])  # held until staff approve
    assert set(Signature.objects.counted().values_list("pk", flat=True)) == counted
    assert Signature.objects.published().count() == 2
    snapshot = compute_count_snapshot()
    assert (snapshot["count"], snapshot["published"]) == (4, 2)


def test_count_snapshot_breaks_down_by_guild_and_profession():
    make_signature(status=S.CONFIRMED, guilds=["wga", "sag-aftra"])
    make_signature(status=S.CONFIRMED, guilds=["wga"])
    make_signature(status=S.PENDING, guilds=["wga"])
    snapshot = compute_count_snapshot()
    assert snapshot["by_guild"] == [
        {"slug": "wga", "name": "WGA", "count": 2},
        {"slug": "sag-aftra", "name": "SAG-AFTRA", "count": 1},
    ]
    assert snapshot["by_profession"] == [{"slug": "writer", "name": "Writer", "count": 2}]


def test_confirm_changes_a_pending_signature_once():
    signature = make_signature()
    assert signature.confirm() is True
    assert signature.confirm() is False
    signature.refresh_from_db()
    assert signature.status == S.CONFIRMED and signature.confirmed_at is not None


def test_confirm_does_not_revive_a_withdrawn_signature():
    signature = make_signature()
    signature.withdraw()
    assert signature.confirm() is False
    assert Signature.objects.get(pk=signature.pk).status == S.WITHDRAWN


def test_withdraw_erases_personal_data_and_every_email_to_the_address():
    signature = make_signature(
        status=S.APPROVED,
        credit="Big Show",
        country="US",
        ip_hash="ab" * 32,
        featured=True,
        verified=True,
        verification_note="Confirmed by their agent",
        guilds=["wga"],
    )
    email = signature.email
    OutgoingEmail.objects.create(to=email, kind="confirmation", subject="s", body_text="b")
    OutgoingEmail.objects.create(
        to=email, kind="confirmation", subject="s", body_text="b", sent_at=timezone.now()
    )
    OutgoingEmail.objects.create(to="other@example.com", kind="confirmation", subject="s", body_text="b")
    assert signature.withdraw() is True
    assert signature.withdraw() is False
    signature.refresh_from_db()
    assert signature.status == S.WITHDRAWN and signature.withdrawn_at is not None
    assert (signature.full_name, signature.email, signature.credit, signature.ip_hash) == ("", None, "", "")
    assert not signature.country and not signature.featured and not signature.guilds.exists()
    assert signature.created_at and signature.confirmed_at  # kept for the count history
    assert list(OutgoingEmail.objects.values_list("to", flat=True)) == ["other@example.com"]


def test_tokens_are_bound_to_their_purpose():
    signature = make_signature()
    assert Signature.from_token(signature.make_token("verify"), "verify") == signature
    with pytest.raises(signing.BadSignature):
        Signature.from_token(signature.make_token("verify"), "withdraw")
    # The random code (and, for a confirmation link, a digest of the details), not the pk.
    assert signature.make_token("verify").split(":")[0].split(".")[0] == signature.code.hex


def test_a_confirmation_links_digest_is_the_one_links_already_sent_carry():
    """The digest of the details (in SIGNER_DETAILS' order) is in every confirmation link sent:
    computing it otherwise would void them all."""
    signature = Signature(
        full_name="Zoë O'Brien",
        email="zoe@example.com",
        profession_id=2,
        credit="Director of Nothing",
        country="FR",
        show_publicly=False,
        updates_opt_in=True,
    )
    # sha256 of ["Zoë O'Brien", 2, [1, 3], "Director of Nothing", "FR", false, true] as JSON
    assert signature.details_digest(guild_ids=[3, 1]) == "ccac466a5f1ec1dd"


def test_tampered_token_is_refused():
    token = make_signature().make_token("verify")
    with pytest.raises(signing.BadSignature):
        Signature.from_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "verify")


def test_expired_token_is_refused():
    signature = make_signature()
    assert Signature.from_token(token_made_days_ago(signature, "verify", 6.9), "verify") == signature
    with pytest.raises(signing.SignatureExpired):
        Signature.from_token(token_made_days_ago(signature, "verify", 7.1), "verify")


def test_ip_hash_is_keyed_and_never_the_address(settings):
    first = hash_ip("203.0.113.7")
    assert "203.0.113.7" not in first and len(first) == 64
    assert hash_ip("203.0.113.7") == first
    settings.IP_HASH_KEY = "another-key"
    assert hash_ip("203.0.113.7") != first


def test_sign_lets_other_integrity_errors_through_and_stores_nothing():
    from pledges.models import Profession
    from pledges.signing import sign

    with pytest.raises(IntegrityError, match="signature_flags_valid"):
        sign(
            full_name="A B",
            email="a@example.com",
            profession=Profession.objects.first(),
            guilds=[],
            flags=["bogus"],
        )
    assert not Signature.objects.exists() and not OutgoingEmail.objects.exists()


def test_history_is_todays_view_of_the_past_and_ends_at_the_count():
    two_days_ago = timezone.now() - timedelta(days=2)
    make_signature(status=S.CONFIRMED, confirmed_at=two_days_ago)
    later_withdrawn = make_signature(status=S.CONFIRMED, confirmed_at=two_days_ago)
    make_signature(status=S.APPROVED, flags=["watchlist"], namesake=True, confirmed_at=two_days_ago)  # later
    assert [day["new"] for day in compute_history()] == [3, 0, 0]
    later_withdrawn.withdraw()
    history = compute_history()
    assert [(day["new"], day["total"]) for day in history] == [(2, 2), (0, 2), (0, 2)]
    figures = compute_live_figures()
    assert figures["history"][-1]["total"] == figures["count"]["count"] == 2
    assert json.loads(figures["count_json"]) == figures["count"]
