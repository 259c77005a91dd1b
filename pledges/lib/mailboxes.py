"""One mailbox, one signature: the canonical form of an email address.

Two addresses that deliver to the same inbox get the same canonical form, which the database
keeps unique (Signature.mailbox). email-validator parses the address (quoted local parts, IDNA);
the provider rules below fold what the providers themselves fold."""

import dataclasses

from email_validator import EmailNotValidError, validate_email


@dataclasses.dataclass(frozen=True)
class Provider:
    # The domain every alias domain of the provider becomes.
    domain: str
    # Whether the provider ignores dots in the local part (n.ame@gmail.com is name@gmail.com).
    ignores_dots: bool = False


GMAIL = Provider("gmail.com", ignores_dots=True)
ICLOUD = Provider("icloud.com")

# Only providers that document these rules: folding a rule a provider does not apply would
# merge two people's mailboxes. Outlook, Hotmail and Live are separate namespaces (x@hotmail.com
# and x@outlook.com can be two people) and keep dots; Yahoo's "base-keyword" addresses use a
# base name that is not the account name, so they cannot be folded onto it.
PROVIDERS = {
    "gmail.com": GMAIL,
    "googlemail.com": GMAIL,
    # Apple reserves a name across its three domains: x@me.com and x@mac.com reach x@icloud.com.
    "icloud.com": ICLOUD,
    "me.com": ICLOUD,
    "mac.com": ICLOUD,
}

# Subaddress tags ("name+news@…") reach the untagged mailbox at nearly every provider.
SUBADDRESS_SEPARATOR = "+"


class InvalidAddress(ValueError):
    pass


def canonical_mailbox(address: str) -> str:
    """The canonical form of an address: the local part unquoted (where it needs no quotes),
    case-folded and without a subaddress tag; the domain in its IDNA (xn--) form, lower case;
    then the provider's own rules. Raises InvalidAddress for an address that is not one."""
    try:
        parsed = validate_email(address, check_deliverability=False, allow_quoted_local=True)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    local, domain = parsed.local_part.casefold(), parsed.ascii_domain.lower().rstrip(".")
    quoted = local.startswith('"')
    local = local.strip('"')
    tagged, separator, _tag = local.partition(SUBADDRESS_SEPARATOR)
    if separator and tagged:
        local = tagged
    provider = PROVIDERS.get(domain)
    if provider is not None:
        domain = provider.domain
        if provider.ignores_dots:
            local = local.replace(".", "")
    if quoted:
        local = f'"{local}"'
    return f"{local}@{domain}"
