"""Checks that hold a new signature for staff review. Each is conservative: a false alarm
costs a moderator a click, but a real person must never be refused by them."""

import re
import unicodedata
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db.models import Value
from django.utils import timezone

from pledges.models import EMAIL_DOMAIN, Signature

_VOWELS = set("aeiouy")
_DIGIT = re.compile(r"\d")
_REPEATED_CHAR = re.compile(r"(\w)\1{3,}", re.I)  # the same letter four times running: "aaaa"
_LATIN_WORD = re.compile(r"[a-z]+", re.I)
_LOWER_THEN_UPPER = re.compile(r"[a-z][A-Z]")


def _ascii_letters(name: str) -> str:
    """The name with accents taken off Latin letters (Björk → Bjork); other scripts are dropped
    from the Latin-only checks below, which know nothing about them."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(char if char.isascii() else " " for char in decomposed if not unicodedata.combining(char))


def looks_machine_made(full_name: str) -> bool:
    """Digits in a name, a character repeated four times, a Latin word of five or more letters
    without a vowel ("xkcdqz"), seven consonants in a row ("asdfghjkl"), or case flipping
    inside a word ("aBcDeF"). Long consonant runs do occur (Mkrtchyan, Nietzsche: six and
    five), hence seven."""
    if _DIGIT.search(full_name) or _REPEATED_CHAR.search(full_name):
        return True
    for word in _LATIN_WORD.findall(_ascii_letters(full_name)):
        lower = word.lower()
        if len(word) >= 5 and not _VOWELS & set(lower):
            return True
        if re.search(r"[^aeiouy]{7,}", lower):
            return True
        if len(_LOWER_THEN_UPPER.findall(word)) >= 2:
            return True
    return False


def _last_hour():
    return Signature.objects.filter(created_at__gte=timezone.now() - timedelta(hours=1))


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def bursts(signers: list[tuple[str, str]]) -> list[tuple[bool, bool]]:
    """For each new signature's (ip_hash, email), in the order they are signed, whether it comes
    in a burst: already BURST_IP_PER_HOUR signatures from its IP hash within the hour, and
    already BURST_DOMAIN_PER_HOUR from its email domain (big webmail domains, where that is
    normal, are exempt). The earlier ones of the list count as signed. Two queries for any
    number of signatures."""
    ip_hashes = {ip_hash for ip_hash, _ in signers if ip_hash}
    domains = {_domain(email) for _, email in signers} - {""} - set(settings.BURST_EXEMPT_DOMAINS)
    seen_ip = _counts_up_to(_last_hour(), "ip_hash", ip_hashes, settings.BURST_IP_PER_HOUR)
    seen_domain = _counts_up_to(
        _last_hour().alias(domain=EMAIL_DOMAIN), "domain", domains, settings.BURST_DOMAIN_PER_HOUR
    )
    found = []
    for ip_hash, email in signers:
        domain = _domain(email)
        found.append(
            (
                ip_hash in ip_hashes and seen_ip[ip_hash] >= settings.BURST_IP_PER_HOUR,
                domain in domains and seen_domain[domain] >= settings.BURST_DOMAIN_PER_HOUR,
            )
        )
        seen_ip[ip_hash] += 1
        seen_domain[domain] += 1
    return found


def _counts_up_to(queryset, field: str, keys: set[str], threshold: int) -> Counter:
    """The rows of `queryset` for each key of `field`, each counted up to `threshold` (a flood
    costs no more than a trickle), in one query of one LIMITed part per key."""
    parts = [
        queryset.filter(**{field: key}).annotate(key=Value(key)).values_list("key")[:threshold]
        for key in sorted(keys)
    ]
    if not parts:
        return Counter()
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return Counter(key for (key,) in rows)
