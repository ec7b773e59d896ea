"""Text normalisation for matching problems: what two copies of one problem share.

Case, Unicode compatibility forms (full-width letters, ligatures, no-break
spaces), invisible format characters (zero-width spaces and joiners, soft
hyphens), whitespace, punctuation, LaTeX spacing commands and math delimiters,
and thousands separators are not what a problem is about; a reformatted copy
must match its original.

>>> normalize("What is  $1{,}000 \\\\, + 2$?")
'what is 1000 2'
>>> normalize("Find  x: x+1=2.") == normalize("find x x 1 2")
True
>>> normalize("\uff34om\u00a0has 1\u200b2 app\u00adles") == normalize("Tom has 12 apples")
True
>>> words("A b, C!")
['a', 'b', 'c']
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_LATEX_SPACING = re.compile(r"\\(?:[,;:! ]|quad|qquad|enspace|thinspace|left|right|displaystyle)")
_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|,)(?=\d{3}(?!\d))")
_NON_WORD = re.compile(r"[\W_]+")
# Unicode format characters (category Cf) that editors and web pages slip inside
# words: removed, not turned into spaces, so the word stays whole.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalize(text: str) -> str:
    """Lower-case words and numbers of ``text``, single-spaced."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).lower()
    text = _LATEX_SPACING.sub(" ", text)
    text = _THOUSANDS.sub("", text)
    return _NON_WORD.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalize(text).split()


def text_hash(text: str) -> int:
    """A stable signed 64-bit hash of normalised ``text`` (the exact-duplicate key)."""
    digest = hashlib.blake2b(normalize(text).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)
