"""Compare the name printed in an MRZ with the name the subject typed.

The MRZ name is a lossy, upper-case, A-Z rendering of the real name (ICAO 9303 part 3): accents are
dropped or transliterated (Ä as AE or A, ß as SS, Ø as OE...), apostrophes are omitted, hyphens and
spaces become a `<` filler, surname and given names are separated by `<<`, and a TD3 name longer than
39 characters is simply cut off. It is also unprotected by any check digit, so OCR noise survives
(a filler read as K, stray letters in the padding). The subject types their name in whatever order
and spelling they use. So the typed name is rendered the ICAO ways, every split into surname and
given names in both orders is tried, and the best similarity wins. The score is in [0, 1]; what
counts as a match is the decision policy's business.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

# Letters NFKD cannot reduce to A-Z, and those ICAO renders differently from "drop the accent".
# First spelling: ICAO's recommended transliteration; second: what many issuers print instead.
_TRANSLITERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "Ä": ("AE", "A"),
    "Ö": ("OE", "O"),
    "Ü": ("UE", "U"),
    "Ø": ("OE", "O"),
    "Å": ("AA", "A"),
    "Æ": ("AE",),
    "Œ": ("OE",),
    "ẞ": ("SS",),
    "Þ": ("TH",),
    "Ð": ("D",),
    "Đ": ("D",),
    "Ł": ("L",),
    "Ħ": ("H",),
    "Ŧ": ("T",),
    "Ĳ": ("IJ",),
    "Ñ": ("N", "NXX"),
}
# ASCII, right single quotation mark, modifier letter apostrophe, grave and acute accents.
_APOSTROPHES: Final = re.compile("['\u2019\u02bc`\u00b4]")
_SEPARATORS: Final = re.compile(r"[^A-Z]+")
# OCR reads the filler `<` as K, X, S, E or C often enough that a mismatch there says nothing about identity.
_FILLER_LOOKALIKES: Final = str.maketrans(dict.fromkeys("KXSEC", "<"))
MAX_TYPED_TOKENS: Final = 8


def mrz_spellings(name: str) -> list[list[str]]:
    """The ways an issuer may have written `name` in an MRZ, each as a list of A-Z words."""
    upper = _APOSTROPHES.sub("", name.strip()).upper()  # str.upper() already turns ß into SS
    spellings = []
    for choice in (0, -1):
        letters = []
        for char in upper:
            if char in _TRANSLITERATIONS:
                options = _TRANSLITERATIONS[char]
                letters.append(options[choice] if choice == 0 else options[0 if len(options) == 1 else 1])
            else:
                decomposed = unicodedata.normalize("NFKD", char)
                letters.append("".join(c for c in decomposed if not unicodedata.combining(c)))
        words = [word for word in _SEPARATORS.split("".join(letters)) if word]
        if words and words not in spellings:
            spellings.append(words)
    return spellings


def name_match_score(
    typed_name: str,
    *,
    surname: str,
    given_names: str,
    truncated: bool = False,
) -> float:
    """How well the typed name matches the document's (1.0: the same name as far as an MRZ can tell).

    `surname` and `given_names` are as `identity.mrz` returns them (words separated by spaces);
    `truncated` says the name filled the whole MRZ field, so the printed name may be cut short.
    """
    document_surname = _words(surname)
    document_given = _words(given_names)
    if not document_surname and not document_given:
        return 0.0
    document = _mrz_string(document_surname, document_given)
    best = 0.0
    for typed in mrz_spellings(typed_name):
        typed = typed[:MAX_TYPED_TOKENS]
        for candidate in _arrangements(typed):
            best = max(best, _sequence_score(candidate, document, truncated=truncated))
        best = max(best, _token_score(typed, document_surname, document_given, truncated=truncated))
        if best >= 1.0:
            break
    return round(min(1.0, best), 4)


def _words(text: str) -> list[str]:
    return [word for word in _SEPARATORS.split(text.upper()) if word]


def _mrz_string(surname: list[str], given: list[str]) -> str:
    return "<".join(surname) + ("<<" + "<".join(given) if given else "")


def _arrangements(words: list[str]) -> Iterable[str]:
    """Every split of the typed words into surname and given names, in both orders."""
    yield _mrz_string(words, [])
    for split in range(1, len(words)):
        yield _mrz_string(words[split:], words[:split])  # "Given Names Surname"
        yield _mrz_string(words[:split], words[split:])  # "SURNAME Given Names"


def _sequence_score(candidate: str, document: str, *, truncated: bool) -> float:
    if truncated and len(candidate) > len(document):
        candidate = candidate[: len(document)]
    scores = [
        Levenshtein.normalized_similarity(candidate, document),
        Levenshtein.normalized_similarity(
            candidate.translate(_FILLER_LOOKALIKES), document.translate(_FILLER_LOOKALIKES)
        ),
        # Issuers differ on joining particles ("MC DONALD" vs "MCDONALD").
        Levenshtein.normalized_similarity(candidate.replace("<", ""), document.replace("<", "")),
    ]
    return max(scores)


def _token_score(typed: list[str], surname: list[str], given: list[str], *, truncated: bool) -> float:
    """Word by word, whatever the order: tolerates a middle name typed but not printed (or the reverse)."""
    # The surname matters most, then the first given name; people often leave out further given
    # names (or type ones their document lacks), which should cost little.
    document = [(word, 2.0) for word in surname] + [
        (word, 1.0 if index == 0 else 0.35) for index, word in enumerate(given)
    ]
    last = len(document) - 1

    def similarity(document_word: str, typed_word: str, index: int) -> float:
        if truncated and index == last and len(typed_word) > len(document_word):
            typed_word = typed_word[: len(document_word)]
        return fuzz.ratio(document_word, typed_word) / 100.0

    covered = sum(
        weight * max(similarity(word, t, i) for t in typed) for i, (word, weight) in enumerate(document)
    ) / sum(weight for _, weight in document)
    explained = sum(max(similarity(word, t, i) for i, (word, _) in enumerate(document)) for t in typed) / len(
        typed
    )
    return 0.75 * covered + 0.25 * explained
