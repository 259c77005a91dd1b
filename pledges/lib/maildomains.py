"""Can an email domain receive mail, and is it a disposable-address service?"""

import hashlib

import dns.exception
import dns.resolver
from disposable_email_domains import blocklist
from django.conf import settings
from django.core.cache import cache

# Answers are kept a day: during a launch spike thousands of people share a few domains.
ANSWER_CACHE_SECONDS = 24 * 3600

# DNS could not be asked at all; the check then lets the address through.
_UNREACHABLE = (
    dns.exception.Timeout,
    dns.resolver.NoNameservers,
    dns.resolver.NoResolverConfiguration,
    dns.resolver.LifetimeTimeout,
)


def is_disposable(domain: str) -> bool:
    """Whether the domain, or a domain it is under (x.mailinator.com), is a known
    disposable-address service."""
    labels = domain.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def can_receive_mail(domain: str) -> bool:
    """False only when DNS answers that the domain has no mail server: no such domain, a
    "null MX" (RFC 7505), or neither MX nor address records. True when DNS cannot be reached,
    so that a DNS outage never stops people from signing."""
    key = "pledges:mail-domain:" + hashlib.sha256(domain.lower().encode()).hexdigest()
    answer = cache.get(key)
    if answer is None:
        answer = _lookup(domain)
        if answer is not None:
            cache.set(key, answer, ANSWER_CACHE_SECONDS)
    return answer is not False


def _lookup(domain: str) -> bool | None:
    """True or False as DNS answers; None when DNS could not be asked."""
    try:
        resolver = dns.resolver.Resolver()
        resolver.lifetime = resolver.timeout = settings.EMAIL_DOMAIN_CHECK_TIMEOUT
        try:
            mx = resolver.resolve(domain, "MX")
            return not all(str(record.exchange) == "." for record in mx)
        except dns.resolver.NoAnswer:
            pass
        for rdtype in ("A", "AAAA"):
            try:
                resolver.resolve(domain, rdtype)
                return True
            except dns.resolver.NoAnswer:
                continue
        return False
    except dns.resolver.NXDOMAIN:
        return False
    except _UNREACHABLE:
        return None
    except (dns.exception.DNSException, ValueError, UnicodeError):
        # A name DNS cannot even express; the address validator has already judged its syntax.
        return None
