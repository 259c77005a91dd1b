"""Each moderation rule is one row of TRANSITIONS: the Signature method, the queryset's bulk path
(the admin's actions and the bulk jobs), the per-action querysets and the admin's buttons must
all agree on it, over signatures in every state the database allows."""

import itertools

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from pledges.models import TRANSITIONS, ModerationEvent, Signature
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

S, F = Signature.Status, Signature.Flag

FLAG_SETS = [[], [F.IP_BURST], [F.WATCHLIST], [F.DUPLICATE_MAILBOX], [F.WATCHLIST, F.IP_BURST]]
EXTRAS = [
    {},
    {"credit": "A credit"},
    {"verified": True},
    {"verified": True, "credit": "A credit"},
    {"verified": True, "credit": "A credit", "featured": True},
    {"namesake": True},
    {"watchlist_recheck": True},
]
# The details each action takes, and the querysets that name an action's rows.
DETAILS = {"verify": {"method": "other", "note": "Met them"}, "approve_as_namesake": {"note": "Another one"}}
QUERYSETS = {
    "approve": "routinely_approvable",
    "approve_clearing_flags": "flags_clearable",
    "reject": "rejectable",
    "feature": "featurable",
    "unfeature": "unfeaturable",
}
MODERATION = [
    "approve",
    "approve_clearing_flags",
    "approve_as_namesake",
    "verify",
    "reject",
    "feature",
    "unfeature",
]


class RolledBack(Exception):
    pass


@pytest.fixture
def every_state():
    """One signature of each combination of status, flags and trust that the constraints allow."""
    made = 0
    for number, (status, flags, extra) in enumerate(itertools.product(S.values, FLAG_SETS, EXTRAS)):
        try:
            with transaction.atomic():
                make_signature(status=status, flags=flags, email=f"s{number}@example.com", **extra)
                made += 1
        except IntegrityError:
            pass  # a state the database refuses
    assert made > 40
    return list(Signature.objects.order_by("pk"))


def state_of(signature: Signature) -> tuple:
    """What a transition decides, with the times as whether they are set."""
    return (
        signature.status,
        sorted(signature.flags),
        signature.featured,
        signature.namesake,
        signature.watchlist_recheck,
        signature.verified_at is not None,
        signature.verified_by_id,
        signature.verification_method,
        signature.verification_note,
        signature.moderated_at is not None,
    )


def outcome(apply) -> tuple[set[int], dict, set]:
    """What `apply` changes, then rolled back: the ids changed, every row's state, the events."""
    try:
        with transaction.atomic():
            changed = set(apply())
            states = {signature.pk: state_of(signature) for signature in Signature.objects.all()}
            events = set(ModerationEvent.objects.values_list("signature_id", "action", "note"))
            raise RolledBack
    except RolledBack:
        pass
    return changed, states, events


@pytest.mark.parametrize("action", MODERATION)
def test_the_method_the_bulk_path_the_queryset_and_the_buttons_apply_one_rule(every_state, action):
    moderator = User.objects.create_user("moderator")
    details = DETAILS.get(action, {})

    def one_by_one():
        return [s.pk for s in Signature.objects.order_by("pk") if getattr(s, action)(moderator, **details)]

    def in_bulk():
        return Signature.objects.all().moderate(action, moderator, **details)

    allowed = {s.pk for s in every_state if action in Signature.objects.filter(pk=s.pk).allowed_actions()}
    assert allowed, "some signature must allow it"
    assert allowed != {s.pk for s in every_state}, "some signature must not allow it"
    assert set(Signature.objects.filter(TRANSITIONS[action].allowed).values_list("pk", flat=True)) == allowed
    if action in QUERYSETS:
        assert set(getattr(Signature.objects, QUERYSETS[action])().values_list("pk", flat=True)) == allowed
    singly, bulk = outcome(one_by_one), outcome(in_bulk)
    assert singly[0] == bulk[0] == allowed
    assert singly[1] == bulk[1]  # the same changes, row by row
    assert singly[2] == bulk[2]  # the same events, with the same notes
    assert {signature_id for signature_id, _, _ in bulk[2]} == allowed


def test_a_transition_changes_a_row_once(every_state):
    moderator = User.objects.create_user("moderator")
    first = Signature.objects.all().moderate("reject", moderator)
    assert first and Signature.objects.all().moderate("reject", moderator) == []


def test_verifying_keeps_the_time_of_an_earlier_approval(every_state):
    moderator = User.objects.create_user("moderator")
    approved = Signature.objects.filter(status=S.APPROVED, verified_at=None, flags=[]).first()
    rejected = Signature.objects.filter(status=S.REJECTED, flags=[]).first()
    Signature.objects.filter(pk__in=[approved.pk, rejected.pk]).update(moderated_at="2020-01-01T00:00Z")
    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert approved.verify(moderator, "other") and rejected.verify(moderator, "other")
    assert approved.moderated_at.year == 2020  # as stored, read back after the UPDATE
    assert rejected.moderated_at.year > 2020
