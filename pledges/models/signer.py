"""What a signer gives: the lengths of their fields, and the fields themselves, named once for the
sign form, the Submission that holds it and the Signature made from it."""

from django.db import models
from django.db.models import F, Func, Value

NAME_MAX_LENGTH = 150
MAILBOX_MAX_LENGTH = 320
# A match key is a name folded (watchlist.match_keys); folding can lengthen a name ("m" → "rn").
NAME_KEY_MAX_LENGTH = 2 * NAME_MAX_LENGTH + 10
# The domain of a (lower-case) email address, as SQL, so that an index can serve it.
EMAIL_DOMAIN = Func(F("email"), Value("@"), Value(2), function="split_part", output_field=models.CharField())
CREDIT_MAX_LENGTH = 200

# What the signer types (the sign form's fields), in the order a confirmation link's digest of
# them has always taken (Signature.details_digest: changing it would void the links sent) ...
SIGNER_DETAILS = (
    "full_name",
    "email",
    "profession",
    "guilds",
    "credit",
    "country",
    "show_publicly",
    "updates_opt_in",
)
# ... and what the sign request adds to them.
REQUEST_DETAILS = ("ip_hash", "language", "letter_version")
# The eleven fields a signature takes from its submission.
SIGNER_FIELDS = SIGNER_DETAILS + REQUEST_DETAILS
