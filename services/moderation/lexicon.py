"""The moderation lexicon: a word list, and every place a text says one of its words, however disguised.

The file: UTF-8 (a byte-order mark at its start is fine), one `word<TAB>category` a line; blank lines and
lines whose first non-blank character is `#` are ignored. The category is a short free-form word
(`politics`, `porn`, `pyramid`, `gambling`, `illegal`, …) reported with each hit. A line without a tab,
with more than one, with an empty word, with an empty category or one that is not a single short word
(spaces, over 64 characters), or that is not UTF-8 raises `LexiconError` naming the line, so a service
can keep the lexicon it had. Words and texts go through the same
normalisation (`services.moderation.normalise`: full-width, case, accents, traditional script and noise
between letters all fold away); a word with nothing left after it (`!!!`, `🚀`) is skipped with a warning.
Two lines whose words normalise alike (`傳銷` and `传销`, `VPN` and `vpn`) are one word: the last line wins,
with its spelling and category.

Matching is by substring in the normalised text, with every overlapping hit reported (`he` and `hers` both
hit in `ushers`). Since spaces are noise, a Latin word also hits inside a longer word and across word
boundaries (`ass` in `class`, `shit` in `this hit`): list Latin words that mean one thing wherever they
occur, and leave ambiguous ones to the remote checker or review. Each hit is reported with the word as the
lexicon file writes it, its category and `start`/`end` into the original text: `text[start:end]` is what a
sender wrote, disguise included (`f.u.c.k`). Positions are worked out only when a text has hits, so a
clean text costs one translation pass and one automaton pass.

The automaton is `ahocorasick-rs` (Rust's `aho-corasick` crate), chosen by measuring it against
`pyahocorasick` with `python -m bench.moderation` (20,000 words, 30 MB of mixed Chinese and English push
contents scanned message by message, every overlapping hit, the same normalised text, one core;
`bench/results/moderation-20261129T061459Z.json`): ahocorasick-rs 120.8 MB/s, pyahocorasick 2.9 MB/s (both
found the same 220 hits). pyahocorasick keeps a trie node's children in an array it searches one by one,
and a Chinese word list gives the root thousands of children (one per distinct first character), which
every step of a scan that falls back to the root walks through; with the Latin words alone it reaches
about 100 MB/s. ahocorasick-rs picks its own automaton (a contiguous NFA at this size, 3 MB for 20,000
words, built in 0.05 s); its DFA is twice as fast but takes 70 MB for 20,000 words and 300 MB for
100,000, too much memory for the gain once normalisation (64 MB/s) is counted. End to end, `scan`
checks 36 MB/s on one core in that run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ahocorasick_rs import AhoCorasick, MatchKind

from services.moderation.normalise import normalise, offsets_of
from shared.logs import get_logger

log = get_logger("igot.moderation.lexicon")

DEFAULT_LEXICON = "default_lexicon.tsv"
MAX_CATEGORY_CHARS = 64


class LexiconError(ValueError):
    """The lexicon cannot be used as written; the message names the source and the line."""


@dataclass(frozen=True)
class Hit:
    """A lexicon word found in a text; `text[start:end]` is what the sender wrote for it."""

    word: str  # as written in the lexicon file
    category: str
    start: int  # offsets into the original text
    end: int


@dataclass(frozen=True)
class _Entry:
    word: str
    category: str


def _parse_line(line: str, number: int, source: str) -> _Entry | None:
    """The entry on one line, None for a blank or comment line; raises LexiconError when malformed."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    fields = line.rstrip("\r\n").split("\t")
    where = f"{source}, line {number}"
    if len(fields) != 2:
        found = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs"
        raise LexiconError(f"{where}: expected word<TAB>category, found {found}")
    word, category = fields[0].strip(), fields[1].strip()
    if not word:
        raise LexiconError(f"{where}: the word is empty")
    if not category:
        raise LexiconError(f"{where}: the category is empty")
    if len(category) > MAX_CATEGORY_CHARS or any(c.isspace() or not c.isprintable() for c in category):
        raise LexiconError(
            f"{where}: the category must be one short word (no spaces, at most {MAX_CATEGORY_CHARS} "
            f"characters), found {category[:MAX_CATEGORY_CHARS]!r}"
        )
    return _Entry(word, category)


class Lexicon:
    """An immutable word list ready to scan texts; build it with `from_lines`, `load` or `default`.

    Safe to share between threads: scanning changes nothing.
    """

    def __init__(self, entries: dict[str, _Entry], source: str) -> None:
        self._source = source
        self._entries = list(entries.values())
        # Pattern i of the automaton is the normalised form of entry i.
        self._automaton = AhoCorasick(list(entries), matchkind=MatchKind.Standard)
        self._categories = frozenset(entry.category for entry in self._entries)

    @classmethod
    def from_lines(cls, lines: Iterable[str], *, source: str = "<lines>") -> Lexicon:
        """A lexicon from the lines of a lexicon file; raises LexiconError naming the bad line."""
        entries: dict[str, _Entry] = {}
        for number, line in enumerate(lines, start=1):
            entry = _parse_line(line.removeprefix("\ufeff") if number == 1 else line, number, source)
            if entry is None:
                continue
            key = normalise(entry.word)
            if not key:
                log.warning(
                    "lexicon word skipped: nothing is left of it after normalisation",
                    source=source,
                    line=number,
                    word=entry.word,
                )
                continue
            # The last line wins; dropping the key first puts the word where its last line is.
            entries.pop(key, None)
            entries[key] = entry
        return cls(entries, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lexicon:
        """A lexicon from a file; raises LexiconError (bad content) or OSError (cannot be read)."""
        return cls.from_bytes(Path(path).read_bytes(), source=os.fspath(path))

    @classmethod
    def from_bytes(cls, content: bytes, *, source: str) -> Lexicon:
        """A lexicon from a file's bytes, decoded as UTF-8 line by line (a bad byte names its line)."""
        return cls.from_lines(_decoded_lines(content, source), source=source)

    @classmethod
    def default(cls) -> Lexicon:
        """The small list that ships with iGot (`services/moderation/default_lexicon.tsv`)."""
        return _default_lexicon()

    @property
    def size(self) -> int:
        """Words loaded (after skipped words and duplicates)."""
        return len(self._entries)

    @property
    def categories(self) -> frozenset[str]:
        return self._categories

    @property
    def source(self) -> str:
        """Where the lexicon came from: a path, or what the caller named it."""
        return self._source

    def scan(self, text: str) -> list[Hit]:
        """Every hit in the text, overlapping ones included, in order of `start` (then `end`)."""
        normalised = normalise(text)
        found = self._automaton.find_matches_as_indexes(normalised, overlapping=True)
        if not found:
            return []
        offsets = offsets_of(text, normalised)
        hits = [self._hit(index, start, end, offsets) for index, start, end in found]
        hits.sort(key=lambda hit: (hit.start, hit.end))
        return hits

    def first_hit(self, text: str) -> Hit | None:
        """A hit if the text has any (the one that ends first), else None: enough to reject a text."""
        normalised = normalise(text)
        found = self._automaton.find_matches_as_indexes(normalised)
        if not found:
            return None
        index, start, end = found[0]
        return self._hit(index, start, end, offsets_of(text, normalised))

    def _hit(self, index: int, start: int, end: int, offsets: list[int]) -> Hit:
        entry = self._entries[index]
        return Hit(entry.word, entry.category, offsets[start], offsets[end - 1] + 1)

    def __repr__(self) -> str:
        return f"<Lexicon {self._source}: {self.size} words>"


def _decoded_lines(content: bytes, source: str) -> Iterable[str]:
    for number, raw in enumerate(content.split(b"\n"), start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise LexiconError(f"{source}, line {number}: not UTF-8 ({error.reason})") from None


@cache
def _default_lexicon() -> Lexicon:
    content = resources.files("services.moderation").joinpath(DEFAULT_LEXICON).read_bytes()
    return Lexicon.from_bytes(content, source=DEFAULT_LEXICON)
