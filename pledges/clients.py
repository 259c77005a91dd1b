"""Who is asking: the client's address behind the trusted proxies, its keyed hash (what rate
limits and signatures keep instead of an IP), and django-ratelimit's key and rate functions."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

from pledges.lib.ip_hashing import hash_ip


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front, the
    address the outermost trusted proxy saw, which a client cannot forge by sending its own
    X-Forwarded-For (proxies append to it; we count from the right)."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= proxies:
            candidate = forwarded[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return remote


def client_hash(request: HttpRequest) -> str:
    """A keyed hash of the client's address: what a signature stores and what rate limits count
    by, so that neither the database nor the cache holds an IP. An IPv6 client is its /64, which
    one subscriber gets whole and can hop around in."""
    ip = client_ip(request)
    try:
        if ipaddress.ip_address(ip).version == 6:
            ip = str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    except ValueError:
        pass
    return hash_ip(ip)


def client_key(group: str, request: HttpRequest) -> str:
    """django-ratelimit's key function: the client's hash."""
    return client_hash(request)


def rate_setting(name: str):
    """A django-ratelimit rate read from settings at request time."""
    return lambda group, request: getattr(settings, name)
