import pytest
from django.contrib.auth.models import User

from pledges.models import LetterVersion, ModerationEvent, Signature, WatchedName
from pledges.signing import resend_confirmation, review_flags
from tests.utils import at_once, make_signature

S = Signature.Status


@pytest.mark.django_db
def test_moderation_verbs_change_only_the_states_they_allow_and_log_only_real_changes():
    user = User.objects.create_user("mo")
    pending = make_signature(status=S.PENDING)
    confirmed = make_signature(status=S.CONFIRMED, credit="Kindred")  # featuring needs a credit
    assert pending.approve(user) is False and pending.status == S.PENDING
    assert pending.feature(user) is False
    assert confirmed.approve(user) is True and confirmed.approve(user) is False
    assert confirmed.feature(user) is False  # only a verified signature can be featured
    assert confirmed.verify(user, "agent", "Their manager wrote") is True
    assert confirmed.verify(user, "agent") is False
    assert confirmed.feature(user) is True and confirmed.feature(user) is False
    assert confirmed.reject(user) is True and confirmed.featured is False and confirmed.verified_at is None
    assert confirmed.approve(user) is True  # a rejection can be undone
    assert resend_confirmation(confirmed, user) is False
    actions = list(ModerationEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["approve", "verify", "feature", "reject", "approve"]


@pytest.mark.django_db
def test_withdrawal_erases_the_searchable_name_too():
    signature = make_signature(status=S.APPROVED, full_name="Zoë Saldaña")
    signature.withdraw()
    signature.refresh_from_db()
    assert (signature.full_name, signature.search_name) == ("", "")
    assert not Signature.objects.name_matches("zoe").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("signed_as", "flagged"),
    [
        ("Tom Hanks", True),
        ("TOM HANKS", True),
        ("  tom   hanks ", True),
        ("Tóm Hänks", True),
        ("Tom Hanks Jr", True),  # a suffix changes nothing
        ("Tom Hanksley", False),
        ("Tim Hanks", False),
    ],
)
def test_watchlist_matches_ignoring_case_accents_and_spacing(signed_as, flagged):
    WatchedName.objects.create(name="Tom Hanks")
    assert (
        Signature.Flag.WATCHLIST in review_flags(full_name=signed_as, email="x@example.com", ip_hash="")
    ) is flagged


@pytest.mark.django_db
def test_revising_the_letter_without_changes_makes_no_version():
    letter = LetterVersion.objects.current()
    assert letter.revise(title=letter.title, body=letter.body) == letter
    assert LetterVersion.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_moderators_approving_at_once_approve_once():
    signature = make_signature(status=S.CONFIRMED)
    moderators = [User.objects.create_user(f"mo{i}") for i in range(6)]
    results = at_once(lambda user: Signature.objects.get(pk=signature.pk).approve(user), moderators)
    assert sorted(results) == [False] * 5 + [True]
    assert ModerationEvent.objects.filter(signature=signature).count() == 1
