import hashlib
import hmac

from django.conf import settings


def hash_ip(ip: str) -> str:
    """A keyed hash of a client IP: comparable for bursts, not reversible without the key
    (a plain hash of an IPv4 address falls to trying all 2^32 of them)."""
    return hmac.new(settings.IP_HASH_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()
