"""Text normalisation for the moderation lexicon: one form that evasions of a listed word collapse into.

Senders dodge word lists by writing a word in full-width letters (`VPN` as U+FF36 U+FF30 U+FF2E), in
traditional characters (`傳銷`), in another case (`FuCk`), with accents (`fück`) or with something between
the letters (`法 轮`, `f.u.c.k`, `傳*銷`, zero-width spaces). `normalise` maps every code point on its own:

1. NFKC (full-width → half-width, ligatures and circled letters → plain ones), then case folding;
2. decorating combining marks dropped: accents (`ü` → `u`, `é` → `e`), strike-through and "zalgo"
   marks, enclosing circles, variation selectors; a script's own marks stay (`が` is not `か`);
3. traditional → simplified Chinese, character by character, with OpenCC's `t2s` data;
4. noise deleted: separators and spaces (Z*), punctuation (P*), symbols and emoji (S*), control and format
   characters (Cc, Cf: zero-width space and joiner, BOM, bidi marks, tags).

Letters and digits of every script stay; code points unassigned in this Python's Unicode version go, and
private use characters stay. Because each code point is mapped on its own, the whole normalisation is one
`str.translate` pass over a table built once per process (0.3 s, on first use or at `prepare()`; about
17 MB), and every character of the result traces back to the character of the original it came from
(`normalise_with_offsets`): that is how a hit is shown to an operator in the text as it was sent. One
consequence: a script's own mark written as a separate code point (`か` + U+3099) stays a character of its
own and does not meet the precomposed letter (`が`); texts arrive composed, so this is rare. Accents meet
either way, since they are dropped.

OpenCC's converter also knows phrases (`乾隆` keeps its `乾`); the table has only its character-level
choice (`乾` → `干`), which is what matching against a word list needs: the same mapping applies to the
text and to the lexicon words. The table is built by running OpenCC's `t2s` converter once over every CJK
ideograph, one a line. Measured for that: the official `opencc` package (a C++ binding) converts the
94,232 ideographs in 0.01 s and text at 100 MB/s; the pure Python `opencc-python-reimplemented` takes
0.2 s and converts text at 2 MB/s. The finished table normalises mixed Chinese and English push contents
at about 60 MB/s on one core (`python -m bench.moderation`), Chinese alone at about 100 MB/s.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from itertools import compress, repeat

import opencc

# Categories removed as noise between letters: separators, punctuation, symbols, control, format.
_NOISE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"})
_NOISE_CATEGORIES |= frozenset({"Sm", "Sc", "Sk", "So", "Cc", "Cf"})
# Where the combining marks that belong to no script are (accents, overlays such as strike-through, the
# marks "zalgo" text piles up) and the variation selectors: all dropped. A script's own marks stay.
_DECORATION_BLOCKS = (
    (0x0300, 0x0370),  # combining diacritical marks
    (0x1AB0, 0x1B00),  # … extended
    (0x1DC0, 0x1E00),  # … supplement
    (0x20D0, 0x2100),  # … for symbols
    (0xFE00, 0xFE10),  # variation selectors
    (0xFE20, 0xFE30),  # combining half marks
    (0xE0100, 0xE01F0),  # variation selectors supplement
)
# Code points OpenCC is run over: CJK radicals, symbols, ideographs (with extension A), compatibility
# ideographs and the supplementary ideograph planes.
_CJK_RANGES = ((0x2E80, 0x2FE0), (0x3000, 0xA000), (0xF900, 0xFB00), (0x20000, 0x323B0))
_UNCHANGED_CATEGORIES = frozenset({"Cs", "Co"})  # surrogates, private use: kept as they are
_TABLE_END = 0xF0000  # the private use planes 15 and 16 follow: unchanged, so not in the table


def _traditional_to_simplified() -> dict[str, str]:
    """OpenCC's character-level t2s choice for every CJK code point it changes (one character each)."""
    ideographs = "".join(
        chr(code_point)
        for first, end in _CJK_RANGES
        for code_point in range(first, end)
        if unicodedata.category(chr(code_point)) == "Lo"
    )
    # One character a line: OpenCC's phrase dictionary never spans a line break.
    converted = opencc.OpenCC("t2s.json").convert("\n".join(ideographs)).split("\n")
    if len(converted) != len(ideographs):
        raise RuntimeError("OpenCC's t2s conversion did not keep one line per character")
    # The pairs that differ, as two strings: the thousands of one-character strings made on the way are
    # freed together, and the dictionary's are made afterwards, side by side (a smaller resident set).
    originals = "".join(o for o, c in zip(ideographs, converted, strict=True) if c != o and len(c) == 1)
    simplifieds = "".join(c for o, c in zip(ideographs, converted, strict=True) if c != o and len(c) == 1)
    del converted
    mapping = dict(zip(originals, simplifieds, strict=True))
    # A few mappings chain (`薴` → `苧` → `苎`): follow them to the end, so a word and its text agree
    # whichever link of the chain each was written with.
    for original, simplified in mapping.items():
        seen = {original}
        while simplified in mapping and simplified not in seen:
            seen.add(simplified)
            simplified = mapping[simplified]
        mapping[original] = simplified
    return mapping


def _is_decoration(part: str) -> bool:
    """A combining mark that only decorates: accents, overlays, enclosing circles, variation selectors."""
    category = unicodedata.category(part)
    if category == "Me":
        return True
    return category == "Mn" and any(first <= ord(part) < end for first, end in _DECORATION_BLOCKS)


def _image(character: str, simplified: dict[str, str]) -> str:
    """What one code point normalises to: possibly several characters (`ß` → `ss`) or none (noise)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", character).casefold())
    kept = [
        part
        for part in unicodedata.normalize("NFD", folded)
        if unicodedata.category(part) not in _NOISE_CATEGORIES and not _is_decoration(part)
    ]
    recomposed = unicodedata.normalize("NFC", "".join(kept))
    return "".join(simplified.get(part, part) for part in recomposed)


@dataclass(frozen=True)
class _Tables:
    # Indexed by code point, for `str.translate`: the code point itself when unchanged (a hit in a list is
    # several times faster than a miss, which costs `translate` a raised and cleared LookupError), the
    # replacement, or None to delete. It ends where the private use planes start: those stay unchanged.
    translation: list[int | str | None]
    # Indexed by code point: how many characters it normalises to (0: deleted, 2 or more: an expansion).
    widths: bytes


_built: _Tables | None = None
_building = threading.Lock()


def _tables() -> _Tables:
    # No lock once built: after the first call this is all a normalisation pays for the tables.
    tables = _built
    return tables if tables is not None else _build_once()


def _build_once() -> _Tables:
    global _built
    with _building:
        if _built is None:  # not built by another thread while this one waited for the lock
            _built = _build()
        return _built


def _build() -> _Tables:
    simplified = _traditional_to_simplified()
    widths = bytearray(b"\x01") * 0x110000
    unchanged = bytearray(_TABLE_END)  # 1 where the code point normalises to itself
    images: list[str] = []  # of the code points that change into one or more characters, in order
    for code_point in range(_TABLE_END):
        character = chr(code_point)
        category = unicodedata.category(character)
        if category == "Cn":  # unassigned in this Python's Unicode version: nothing a word is made of
            widths[code_point] = 0
        elif category in _UNCHANGED_CATEGORIES or (image := _image(character, simplified)) == character:
            unchanged[code_point] = 1
        else:
            widths[code_point] = len(image)
            if image:
                images.append(image)
    # The table's objects are made in one tight pass each, after the scratch objects of the pass above
    # are gone, so they sit side by side in memory (this halves the resident set the tables add).
    translation: list[int | str | None] = [None] * _TABLE_END
    for code_point in compress(range(_TABLE_END), unchanged):
        translation[code_point] = code_point
    changed = (cp for cp in range(_TABLE_END) if not unchanged[cp] and widths[cp])
    for code_point, image in zip(changed, images, strict=True):
        translation[code_point] = image
    return _Tables(translation, bytes(widths))


def prepare() -> None:
    """Build the tables now rather than on the first call (a service calls this at start)."""
    _tables()


def normalise(text: str) -> str:
    """The text as the lexicon is matched against it (see the module docstring)."""
    return text.translate(_tables().translation)


def normalise_with_offsets(text: str) -> tuple[str, list[int]]:
    """`normalise(text)` and, for each of its characters, the index in `text` of the character it came
    from (characters an original expanded into all point at it; deleted characters have none)."""
    normalised = normalise(text)
    return normalised, offsets_of(text, normalised)


def offsets_of(text: str, normalised: str) -> list[int]:
    """Index in `text` of each character of `normalised`, which must be `normalise(text)`."""
    widths = _tables().widths
    # Characters that normalise to at most one character are the rule: keep their indices in one C pass.
    kept = list(compress(range(len(text)), map(widths.__getitem__, map(ord, text))))
    if len(kept) == len(normalised):
        return kept
    # An expansion (`ß` → `ss`, `㎏` → `kg`) somewhere: walk the text character by character.
    offsets: list[int] = []
    for index, character in enumerate(text):
        offsets.extend(repeat(index, widths[ord(character)]))
    return offsets
