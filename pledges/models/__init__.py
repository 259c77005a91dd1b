"""The app's models, one module each by what they are about (see docs/architecture.md); every
name is re-exported here, so that `from pledges.models import Signature` works everywhere,
migrations included.

- enums: the signature's states (with their groups), flags, verification methods, moderation actions
- signer: what a signer gives (its fields and their lengths)
- letter: the letter's versions and translations
- choices: professions and guilds
- site: the signing status and the about page
- signatures: Signature, its queryset, the moderation queue, guild memberships
  (signature_rules: its constraints and indexes)
- public_list: the public list's order, page keys and queries (public_page: a page of it)
- submissions: the sign form waiting for the worker
- moderation: the transition table (TRANSITIONS), moderation events, bulk jobs, the triage order
- watchlist: watched names
- outbox: outgoing email, and the delivery base it shares with updates
- updates: updates to signers and their delivery
"""

from pledges.models.choices import SEEDED_CHOICE_NAMES, Guild, Profession
from pledges.models.enums import ModerationAction, SignatureFlag, SignatureStatus, SignatureVerificationMethod
from pledges.models.letter import (
    TRANSLATION_LANGUAGES,
    LetterTranslation,
    LetterVersion,
    LetterVersionQuerySet,
)
from pledges.models.moderation import (
    TRANSITIONS,
    TRIAGE_ORDER,
    BulkJobAction,
    BulkJobState,
    BulkModerationJob,
    BulkModerationJobQuerySet,
    ModerationEvent,
    ModerationQuerySet,
    Transition,
)
from pledges.models.outbox import Delivery, DeliveryQuerySet, OutgoingEmail, OutgoingEmailQuerySet
from pledges.models.public_list import (
    PUBLIC_ORDER,
    SEARCH_ORDER,
    SEARCH_WALK_ROWS,
    PublicListKey,
    PublicListQuerySet,
    PublicPage,
)
from pledges.models.signatures import QueuedSignature, Signature, SignatureGuild, SignatureQuerySet
from pledges.models.signer import (
    CREDIT_MAX_LENGTH,
    EMAIL_DOMAIN,
    MAILBOX_MAX_LENGTH,
    NAME_KEY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    REQUEST_DETAILS,
    SIGNER_DETAILS,
    SIGNER_FIELDS,
)
from pledges.models.site import AboutPage, SigningPublication, SigningStatus
from pledges.models.submissions import Submission, SubmissionQuerySet
from pledges.models.updates import Update, UpdateDelivery, UpdateStatus
from pledges.models.watchlist import WatchedName, WatchedNameKey, WatchedNameQuerySet, watched_name_key

__all__ = [
    "CREDIT_MAX_LENGTH",
    "EMAIL_DOMAIN",
    "MAILBOX_MAX_LENGTH",
    "NAME_KEY_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "PUBLIC_ORDER",
    "REQUEST_DETAILS",
    "SEARCH_ORDER",
    "SEARCH_WALK_ROWS",
    "SEEDED_CHOICE_NAMES",
    "SIGNER_DETAILS",
    "SIGNER_FIELDS",
    "TRANSITIONS",
    "TRANSLATION_LANGUAGES",
    "TRIAGE_ORDER",
    "AboutPage",
    "BulkJobAction",
    "BulkJobState",
    "BulkModerationJob",
    "BulkModerationJobQuerySet",
    "Delivery",
    "DeliveryQuerySet",
    "Guild",
    "LetterTranslation",
    "LetterVersion",
    "LetterVersionQuerySet",
    "ModerationAction",
    "ModerationEvent",
    "ModerationQuerySet",
    "OutgoingEmail",
    "OutgoingEmailQuerySet",
    "Profession",
    "PublicListKey",
    "PublicListQuerySet",
    "PublicPage",
    "QueuedSignature",
    "Signature",
    "SignatureFlag",
    "SignatureGuild",
    "SignatureQuerySet",
    "SignatureStatus",
    "SignatureVerificationMethod",
    "SigningPublication",
    "SigningStatus",
    "Submission",
    "SubmissionQuerySet",
    "Transition",
    "Update",
    "UpdateDelivery",
    "UpdateStatus",
    "WatchedName",
    "WatchedNameKey",
    "WatchedNameQuerySet",
    "watched_name_key",
]
