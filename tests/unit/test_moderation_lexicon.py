"""The moderation lexicon: disguised words are caught with their category and where the sender wrote them,
clean text passes, and a lexicon file is read the way its format says."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from services.moderation.lexicon import Hit, Lexicon, LexiconError

LINES = [
    "# words the tests look for",
    "传销\tpyramid",
    "資金盤\tpyramid",
    "法轮\tpolitics",
    "VPN\tpolitics",
    "fuck\tprofanity",
    "online casino\tgambling",
]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.from_lines(LINES, source="test")


@pytest.mark.parametrize(
    ("text", "written", "word", "category"),
    [
        (f"翻墙用{full_width('VPN')}\uff0c很快", full_width("VPN"), "VPN", "politics"),  # full-width
        ("加入我們的傳銷團隊", "傳銷", "传销", "pyramid"),  # traditional text, simplified word
        ("这个资金盘要崩了", "资金盘", "資金盤", "pyramid"),  # simplified text, traditional word
        ("他们在练法 轮。", "法 轮", "法轮", "politics"),  # spaced out
        ("oh f.u.c.k off", "f.u.c.k", "fuck", "profanity"),  # punctuation between letters
        ("新项目\uff1a傳*銷\uff0c速来", "傳*銷", "传销", "pyramid"),  # symbols between characters
        ("f\u200bu\u200cc\u200dk this", "f\u200bu\u200cc\u200dk", "fuck", "profanity"),  # zero-width
        ("Try our Online Casino!", "Online Casino", "online casino", "gambling"),  # mixed case
        ("WHAT THE FuCk", "FuCk", "fuck", "profanity"),
        (f"{full_width('F.U.C.K')}!", full_width("F.U.C.K"), "fuck", "profanity"),  # full-width dots too
        ("传\n销", "传\n销", "传销", "pyramid"),  # across a line break
    ],
)
def test_a_disguised_word_is_caught_where_it_was_written(
    lexicon: Lexicon, text: str, written: str, word: str, category: str
) -> None:
    start = text.index(written)
    hit = Hit(word=word, category=category, start=start, end=start + len(written))
    assert lexicon.scan(text) == [hit]
    assert text[hit.start : hit.end] == written
    assert lexicon.first_hit(text) == hit


@pytest.mark.parametrize(
    "text",
    [
        "部署完成\uff0c四个服务已重启。",  # with a full-width comma
        "The build passed; see https://example.com/ci/42 for details.",
        "傳送訊息成功",  # traditional, but nothing listed
        "法律轮流值班",  # the characters of a word, apart
        "VP of casino operations",  # parts of words, never a whole one
        "",
    ],
)
def test_clean_text_has_no_hit(lexicon: Lexicon, text: str) -> None:
    assert lexicon.scan(text) == []
    assert lexicon.first_hit(text) is None


def test_overlapping_words_are_all_reported_in_order_of_start() -> None:
    lexicon = Lexicon.from_lines(["he\tx", "hers\tx", "she\tx", "his\ty"])
    hits = lexicon.scan("ushers and his")
    assert [(hit.word, hit.start, hit.end) for hit in hits] == [
        ("she", 1, 4),
        ("he", 2, 4),
        ("hers", 2, 6),
        ("his", 11, 14),
    ]


def test_every_occurrence_is_a_hit(lexicon: Lexicon) -> None:
    text = "传销?傳銷!传 销"
    assert [(hit.start, hit.end) for hit in lexicon.scan(text)] == [(0, 2), (3, 5), (6, 9)]


def test_a_hit_on_a_character_that_expands_covers_the_character() -> None:
    lexicon = Lexicon.from_lines(["strasse\tplace"])
    text = "Die Straße."
    (hit,) = lexicon.scan(text)
    assert text[hit.start : hit.end] == "Straße"


def test_size_and_categories(lexicon: Lexicon) -> None:
    assert lexicon.size == 6
    assert lexicon.categories == frozenset({"pyramid", "politics", "profanity", "gambling"})


def test_comments_blank_lines_and_line_endings_are_ignored() -> None:
    lexicon = Lexicon.from_lines(
        ["# a comment\n", "\n", "   \n", "  # an indented comment\n", "传销\tpyramid\r\n", "# 法轮\tpolitics"]
    )
    assert lexicon.size == 1
    assert lexicon.scan("传销") == [Hit("传销", "pyramid", 0, 2)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("传销 pyramid", "no tab"),
        ("传销\t", "category is empty"),
        ("传销\t   ", "category is empty"),
        ("\tpyramid", "word is empty"),
        ("传销\tpyramid\textra", "2 tabs"),
        ("传销\tpyramid scheme", "one short word"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number(line: str, reason: str) -> None:
    with pytest.raises(LexiconError) as refused:
        Lexicon.from_lines(["# header", "", line, "法轮\tpolitics"], source="words.tsv")
    assert "words.tsv, line 3" in str(refused.value)
    assert reason in str(refused.value)


def test_a_word_with_nothing_left_after_normalisation_is_skipped_with_a_warning() -> None:
    with structlog.testing.capture_logs() as logs:
        lexicon = Lexicon.from_lines(["传销\tpyramid", "!!!\tspam", "🚀 ✅\tspam"], source="words.tsv")
    assert lexicon.size == 1
    assert lexicon.categories == frozenset({"pyramid"})
    skipped = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [(entry["line"], entry["word"], entry["source"]) for entry in skipped] == [
        (2, "!!!", "words.tsv"),
        (3, "🚀 ✅", "words.tsv"),
    ]
    assert lexicon.scan("!!! 🚀") == []


def test_of_words_that_normalise_alike_the_last_line_wins() -> None:
    lexicon = Lexicon.from_lines(["傳銷\tillegal", "法轮\tpolitics", "传 销\tpyramid"])
    assert lexicon.size == 2
    assert lexicon.scan("传销") == [Hit("传 销", "pyramid", 0, 2)]
    assert lexicon.categories == frozenset({"politics", "pyramid"})


def test_a_file_is_loaded_and_a_byte_order_mark_at_its_start_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.tsv"
    path.write_bytes("\ufeff传销\tpyramid\r\n# comment\r\nVPN\tpolitics\r\n".encode())
    lexicon = Lexicon.load(path)
    assert lexicon.size == 2
    assert lexicon.scan("传销 vpn") == [Hit("传销", "pyramid", 0, 2), Hit("VPN", "politics", 3, 6)]
    assert lexicon.source == str(path)


def test_a_file_that_is_not_utf8_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.tsv"
    path.write_bytes("传销\tpyramid\n".encode() + "賭博\tgambling\n".encode("gbk"))
    with pytest.raises(LexiconError, match=r"lexicon\.tsv, line 2: not UTF-8"):
        Lexicon.load(path)


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Lexicon.load(tmp_path / "missing.tsv")


def test_a_lexicon_without_words_finds_nothing() -> None:
    lexicon = Lexicon.from_lines(["# nothing yet", ""])
    assert lexicon.size == 0
    assert lexicon.categories == frozenset()
    assert lexicon.scan("传销 fuck") == []
    assert lexicon.first_hit("传销 fuck") is None


def test_the_shipped_list_loads_and_catches_each_category() -> None:
    lexicon = Lexicon.default()
    assert lexicon.size >= 20
    assert {"politics", "porn", "pyramid", "gambling", "illegal"} <= lexicon.categories
    samples = {
        "法 轮 功": "politics",
        "免费裸聊": "porn",
        "加入傳銷": "pyramid",
        "资金盘": "pyramid",  # listed in traditional script
        "ONLINE-CASINO": "gambling",
        "代開發票": "illegal",
    }
    for text, category in samples.items():
        assert [hit.category for hit in lexicon.scan(text)] == [category], text
    assert lexicon.scan("部署完成\uff0c四个服务已重启。The build passed.") == []
