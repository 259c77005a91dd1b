"""The states, flags and actions of a signature, each with the groups that rules name (as pretalx's
SubmissionStates carries its accepted and active states): a constraint, a query and a check in
Python all say `SignatureStatus.COUNTABLE`, never a list of their own."""

from enum import nonmember

from django.db import models


class SignatureStatus(models.TextChoices):
    PENDING = "pending", "Pending (email not confirmed)"
    CONFIRMED = "confirmed", "Confirmed, not yet moderated"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"

    # Email confirmed and still standing (not rejected, not withdrawn): what can count (approved,
    # or confirmed without flags), what can be rejected, and who an update goes to.
    COUNTABLE = nonmember(("confirmed", "approved"))
    # Where an approval starts from: not yet moderated, or rejected and reconsidered.
    APPROVABLE = nonmember(("confirmed", "rejected"))
    # Email confirmed and not withdrawn: what staff moderate (verify, approve as a namesake).
    MODERATABLE = nonmember(("confirmed", "approved", "rejected"))
    # Not yet moderated: what a newly watched name holds.
    UNMODERATED = nonmember(("pending", "confirmed"))
    # Neither rejected nor withdrawn: headed for the public list, or on it.
    STANDING = nonmember(("pending", "confirmed", "approved"))
    # Everything but withdrawn: what a signer can still withdraw.
    WITHDRAWABLE = nonmember(("pending", "confirmed", "approved", "rejected"))


class SignatureFlag(models.TextChoices):
    WATCHLIST = "watchlist", "Name on the watchlist"
    IP_BURST = "ip_burst", "Burst from one IP"
    DOMAIN_BURST = "domain_burst", "Burst from one email domain"
    MACHINE_NAME = "machine_name", "Name looks machine-made"
    IP_SOFT_LIMIT = "ip_soft_limit", "Past the per-IP soft limit"
    MIXED_SCRIPT = "mixed_script", "Name mixes scripts inside a word"
    DUPLICATE_MAILBOX = "duplicate_mailbox", "A second signature of one mailbox"

    # The flags only a person deciding who it is may clear: a watchlist hold (a verification or
    # an explicit namesake approval publishes it) and a second signature of one mailbox (which
    # would count one person twice).
    DECIDED_BY_A_PERSON = nonmember(("watchlist", "duplicate_mailbox"))


class SignatureVerificationMethod(models.TextChoices):
    AGENT = "agent", "Through their agent or manager"
    GUILD = "guild", "Through their guild"
    SOCIAL = "social", "A verified social media account"
    OWN_DOMAIN = "own_domain", "Mail from a domain they control"
    IN_PERSON = "in_person", "In person"
    OTHER = "other", "Other (see the note)"


class ModerationAction(models.TextChoices):
    """ModerationEvent.Action."""

    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    FEATURE = "feature", "Featured"
    UNFEATURE = "unfeature", "Unfeatured"
    RESEND_CONFIRMATION = "resend_confirmation", "Resent the confirmation email"
    IMPORT = "import", "Imported as approved"
    PUBLISH_AT_ONCE = "publish_at_once", "Published at once (automatic policy)"
    VERIFY = "verify", "Verified as the person named"
    APPROVE_CLEARING_FLAGS = "approve_clearing_flags", "Approved, clearing flags"
    APPROVE_NAMESAKE = "approve_namesake", "Approved as a namesake"
    HOLD = "hold", "Held for staff"
