"""django.middleware.csrf.get_token() with its randomness read in one go. Django draws each of
the 64 random characters of a new visitor's secret and token mask with its own os.urandom call,
which was half of what the letter page cost. The secret, the mask and the masking are Django's
(the same alphabet, lengths and cipher), so CsrfViewMiddleware checks these tokens as its own."""

import os

from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH

_CHARS = CSRF_ALLOWED_CHARS
_INDEX = {char: index for index, char in enumerate(_CHARS)}
# Each byte below 248 (= 4 x 62) stands for one of the 62 characters, each equally often; the
# bytes from 248 up are dropped, so that none is likelier than another.
_USABLE = 256 - 256 % len(_CHARS)
_TABLE = bytes(ord(_CHARS[byte % len(_CHARS)]) if byte < _USABLE else 0 for byte in range(256))
_DROPPED = bytes(range(_USABLE, 256))


def random_string(length: int = CSRF_SECRET_LENGTH) -> str:
    chars = b""
    while len(chars) < length:
        chars += os.urandom(length + 8).translate(_TABLE, _DROPPED)
    return chars[:length].decode()


def get_token(request: HttpRequest) -> str:
    """The masked CSRF token for a form, as Django's get_token() returns it; the secret is the
    visitor's cookie, or a new one that CsrfViewMiddleware (or @csrf_protect) then sets."""
    secret = request.META.get("CSRF_COOKIE")
    if secret is None:
        secret = random_string()
        request.META["CSRF_COOKIE"] = secret
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True
    mask = random_string()
    cipher = "".join(_CHARS[(_INDEX[s] + _INDEX[m]) % len(_CHARS)] for s, m in zip(secret, mask, strict=True))
    return mask + cipher
