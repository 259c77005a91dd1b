"""Names as the database matches and sorts them: lower case, accents removed, punctuation as
spaces. The SQL (for generated columns and their indexes) and the Python (for search words)
normalise alike."""

import re
import unicodedata

from django.db.models import Func, Value
from django.db.models.functions import Lower, Trim


def _accent_table() -> tuple[str, str]:
    """Every lower-case Latin letter with diacritics and its plain letter (é→e, ø→o).
    PostgreSQL here has no unaccent extension, and translate() with this table is immutable,
    so a generated column and its index can use it."""
    # Letters with a stroke have no Unicode decomposition, but people type them plainly too.
    accented, plain = list("øłđħŧı"), list("oldhti")
    for char in map(chr, range(0xC0, 0x250)):
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if char.islower() and len(base) == 1 and base.isascii() and base.isalpha() and base != char:
            accented.append(char)
            plain.append(base)
    return "".join(accented), "".join(plain)


ACCENTED, UNACCENTED = _accent_table()
APOSTROPHES = "['\u2019]"
_ACCENT_MAP = str.maketrans(ACCENTED, UNACCENTED)


def normalised_name_sql(expression):
    """The SQL form of a name for matching and sorting: lower case, accents removed, every run
    of other characters a single space ("Zoë  O'Brien-Smith" → "zoe obrien smith")."""
    unaccented = Func(Lower(expression), Value(ACCENTED), Value(UNACCENTED), function="translate")
    # Apostrophes join ("O'Brien" → "obrien"); any other run of non-letters separates words.
    joined = Func(unaccented, Value(APOSTROPHES), Value(""), Value("g"), function="regexp_replace")
    return Trim(Func(joined, Value(r"[^[:alnum:]]+"), Value(" "), Value("g"), function="regexp_replace"))


def name_words(text: str) -> list[str]:
    """The words of a search, normalised as normalised_name_sql() normalises names."""
    return re.findall(r"\w+", re.sub(APOSTROPHES, "", text.lower().translate(_ACCENT_MAP)))
