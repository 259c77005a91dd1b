"""The public list: its order, the keys its pages follow (encrypted, so that a link publishes no
one's signing time), and its queries (a SignatureQuerySet mixin)."""

import base64
import binascii
import json
import os
import re
import typing
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection, models
from django.utils.crypto import salted_hmac

from pledges.lib.names import name_words
from pledges.models.choices import Guild, Profession
from pledges.models.enums import SignatureStatus

# The public list's order; signature_public_order indexes it and after() seeks in it.
PUBLIC_ORDER = [
    models.expressions.RawSQL("NOT pledges_signature.featured", []),
    "search_name",
    "created_at",
    "pk",
]
# How far first_matches() walks the public list before it leaves a search to sorting.
SEARCH_WALK_ROWS = 20_000
# The same order, in a form that index cannot serve. Matching names sit together in name order
# (every "Maria …" in one stretch a third of the way down), so walking the index until a page of
# matches turns up can read a third of the table; a search instead finds its matches through
# signature_public_search and sorts just those.
SEARCH_ORDER = [models.expressions.RawSQL("(NOT pledges_signature.featured)::int", []), *PUBLIC_ORDER[1:]]


class PublicListKey(typing.NamedTuple):
    """Where a page of the public list ends: the name as sorted and the signing time, never an id.
    In a link it is encrypted (AES-GCM, keyed from SECRET_KEY), so that it publishes no one's
    signing time and cannot be made up. (Two listed people with the same name who signed in the
    same microsecond would share a key: the next page would skip the second.)"""

    featured: bool
    search_name: str
    created_at: datetime

    PADDING = 64  # plaintexts padded to a multiple of this, so the length says little of the name

    @staticmethod
    def _cipher() -> AESGCM:
        return AESGCM(salted_hmac("pledges.list", "page key", algorithm="sha256").digest())

    def encode(self) -> str:
        plain = json.dumps(
            [self.featured, self.search_name, self.created_at.isoformat()], ensure_ascii=False
        ).encode()
        plain += b" " * (-len(plain) % self.PADDING)
        nonce = os.urandom(12)
        sealed = nonce + self._cipher().encrypt(nonce, plain, b"pledges.list")
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str) -> "PublicListKey":
        """Raises ValueError (or TypeError) for a token this site did not make."""
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = cls._cipher().decrypt(sealed[:12], sealed[12:], b"pledges.list")
        except (binascii.Error, InvalidTag) as error:
            raise ValueError("not a page key") from error
        featured, search_name, created_at = json.loads(plain)
        return cls(bool(featured), str(search_name), datetime.fromisoformat(created_at))


class PublicPage(typing.NamedTuple):
    """A page of the public list: its rows, the key of the next page (None on the last), and how
    many names match the filters, counted up to the cap given and no further (None unfiltered)."""

    rows: list
    next_key: PublicListKey | None
    match_count: int | None


class PublicListQuerySet(models.QuerySet):
    """The public list and its name search, for SignatureQuerySet."""

    def name_matches(self, text: str):
        """Names containing every word of `text` as the start of a word, ignoring case and
        accents ("zoe ob" finds "Zoë O'Brien"), through a full-text index on search_name."""
        words = name_words(text)
        if not words:
            return self.none()
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), config="simple", search_type="raw")
        return self.alias(search=SearchVector("search_name", config="simple")).filter(search=query)

    def public_list(
        self,
        *,
        q: str = "",
        guild: Guild | None = None,
        profession: Profession | None = None,
        verified: bool = False,
    ):
        """The public list in its order (featured first, then by name), filtered."""
        signatures = self.published()
        if verified:
            signatures = signatures.verified()
        if q:
            signatures = signatures.name_matches(q)
        if guild is not None:
            signatures = signatures.filter(
                models.Exists(
                    self.model.guilds.through.objects.filter(signature=models.OuterRef("pk"), guild=guild)
                )
            )
        if profession is not None:
            signatures = signatures.filter(profession=profession)
        return signatures.order_by(*(SEARCH_ORDER if q else PUBLIC_ORDER))

    def first_matches(self, text: str, *, after: PublicListKey | None = None, limit: int) -> list[int] | None:
        """The ids of the first `limit` listed names matching `text` (as name_matches() matches),
        in the list's order, after `key`: found by walking the list's index, or None when they are
        not all within the next SEARCH_WALK_ROWS listed names, for the caller to sort every match
        instead. A common surname is spread over the whole list, so a page of it turns up within a
        few thousand names (an index-only scan, a few milliseconds at a million), where sorting
        its matches means reading every one of them; a rare name, or a first name (all its
        bearers sit together in name order), is better sorted."""
        words = name_words(text)
        if not words:
            return []
        if len(words) > 1:
            return None  # two words narrow a search to few names, which sorting handles at once
        # LIKE is a cheap first sieve (the name contains each word); the full-text match decides,
        # so that the walk finds exactly what name_matches() finds.
        likes = " AND ".join(["search_name LIKE lower(%s)"] * len(words))
        patterns = ["%" + re.sub(r"([\\%_])", r"\\\1", word) + "%" for word in words]
        query = " & ".join(f"{word}:*" for word in words)
        seek, seek_params = "", []
        if after is not None:
            seek = "AND ((NOT featured), search_name, created_at) > (%s, %s, %s)"
            seek_params = [not after.featured, after.search_name, after.created_at]
        sql = f"""
            SELECT id FROM (
                SELECT id, (NOT featured) AS not_featured, search_name, created_at
                FROM pledges_signature
                WHERE status = %s AND show_publicly {seek}
                ORDER BY (NOT featured), search_name, created_at, id
                LIMIT %s
            ) AS walked
            WHERE {likes} AND to_tsvector('simple', search_name) @@ to_tsquery('simple', %s)
            ORDER BY not_featured, search_name, created_at, id
            LIMIT %s
        """
        with connection.cursor() as cursor:
            cursor.execute(
                sql, [SignatureStatus.APPROVED, *seek_params, SEARCH_WALK_ROWS, *patterns, query, limit]
            )
            ids = [row[0] for row in cursor.fetchall()]
        return ids if len(ids) == limit else None

    def after(self, key: PublicListKey):
        """Keyset (seek) pagination for public_list(): the rows after `key`, found through the
        index in the time the first page takes, however deep."""
        return self.filter(
            models.expressions.RawSQL(
                "(NOT pledges_signature.featured, pledges_signature.search_name,"
                " pledges_signature.created_at) > (%s, %s, %s)",
                [not key.featured, key.search_name, key.created_at],
                output_field=models.BooleanField(),
            )
        )

    def public_page(
        self, filters: dict, after: PublicListKey | None, size: int, *, count_cap: int
    ) -> PublicPage:
        """A page of public_list(**filters) after the key `after`, with its match count when
        filtered. It plans the page's query: a search (?q= alone) first walks the list's index
        (first_matches()); a search whose matches are no more than the cap sorts the ids its count
        read (a second pass through the full-text index costs more, at a million, than fetching
        them by id); anything else seeks from the key in the list's order."""
        q = filters.get("q", "")
        rows = self.public_list(**filters)
        match_count = matches = None
        if q:
            matches = list(rows.order_by().values_list("pk", flat=True)[: count_cap + 1])
            match_count = len(matches)
        elif any(filters.values()):
            match_count = rows.capped_count(count_cap)
        walked = None
        if q and filters.get("guild") is None and filters.get("profession") is None:
            walked = self.model.objects.first_matches(q, after=after, limit=size + 1)
        if walked is not None:
            rows, after = self.model.objects.filter(pk__in=walked).order_by(*PUBLIC_ORDER), None
        elif matches is not None and match_count <= count_cap:
            rows = self.model.objects.published().filter(pk__in=matches).order_by(*PUBLIC_ORDER)
        if after is not None:
            rows = rows.after(after)
        # One more than a page tells whether there is a next page, without counting.
        page = list(rows.select_related("profession").prefetch_related("guilds")[: size + 1])
        next_key = page[size - 1].public_list_key() if len(page) > size else None
        return PublicPage(page[:size], next_key, match_count)
