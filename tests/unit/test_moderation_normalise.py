"""The moderation normaliser: every disguise of a word folds into one form, traceable to the original."""

from __future__ import annotations

import random
import sys

import pytest

from services.moderation.normalise import normalise, normalise_with_offsets


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        (full_width("VPN"), "vpn"),  # full-width letters
        (full_width("F.U.C.K"), "fuck"),  # full-width letters and full-width dots
        ("FuCk", "fuck"),  # case
        ("Straße", "strasse"),  # case folding, not just lower case
        ("傳銷", "传销"),  # traditional script
        ("資金盤", "资金盘"),
        ("法 轮", "法轮"),  # spaced out
        ("法\u3000轮", "法轮"),  # ideographic space
        ("f.u.c.k", "fuck"),  # punctuation between letters
        ("傳*銷", "传销"),  # symbols between characters
        ("f-u_c~k!", "fuck"),
        ("传\u200b销", "传销"),  # zero-width space
        ("f\u200cu\u200dc\u2060k\ufeff", "fuck"),  # zero-width non-joiner, joiner, word joiner, BOM
        ("f\u00adu\u202ec\u202ck", "fuck"),  # soft hyphen, bidi override
        ("f\U000e0041u\U000e0042ck", "fuck"),  # invisible tag characters
        ("fu\u0336c\u0336k\u0336", "fuck"),  # strike-through combining marks
        ("fück", "fuck"),  # accents
        ("\U0001d41f\U0001d42e\U0001d41c\U0001d424", "fuck"),  # mathematical bold letters
        ("传🚀销✅", "传销"),  # emoji
        ("法\n轮\t功", "法轮功"),  # line breaks and tabs
    ],
)
def test_a_disguised_word_normalises_like_the_plain_one(written: str, normalised: str) -> None:
    assert normalise(written) == normalised


@pytest.mark.parametrize(
    "text",
    ["한국어", "привет", "ひらがなとカタカナ", "مرحبا", "12345", "简体中文保持不变"],
)
def test_letters_and_digits_of_every_script_stay(text: str) -> None:
    assert normalise(text) == text


def test_case_of_other_scripts_folds_too() -> None:
    assert normalise("ПРИВЕТ") == "привет"
    assert normalise("ΣΟΦΙΑ") == normalise("σοφια")


def test_a_chain_of_traditional_variants_ends_in_one_form() -> None:
    # OpenCC maps 薴 to 苧 and 苧 to 苎: all three must meet.
    assert normalise("薴") == normalise("苧") == normalise("苎") == "苎"


def test_normalising_twice_changes_nothing() -> None:
    every_character = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    once = normalise(every_character)
    assert normalise(once) == once


def test_text_that_is_not_valid_unicode_does_not_break_it() -> None:
    assert normalise("a\ud800b") == "a\ud800b"  # a lone surrogate, as JSON can carry
    assert normalise("") == ""
    assert normalise_with_offsets("") == ("", [])


@pytest.mark.parametrize(
    ("text", "normalised", "offsets"),
    [
        ("f.u.c.k", "fuck", [0, 2, 4, 6]),
        ("a\u200bb", "ab", [0, 2]),
        (full_width("AB"), "ab", [0, 1]),
        ("🚀go", "go", [1, 2]),
        ("ß x", "ssx", [0, 0, 2]),  # both s come from the ß
        ("㎏!", "kg", [0, 0]),
        ("傳 銷", "传销", [0, 2]),
        ("\U0001d41f!u", "fu", [0, 2]),  # astral characters count as one index, as in Python
    ],
)
def test_offsets_point_at_the_original_character(text: str, normalised: str, offsets: list[int]) -> None:
    assert normalise_with_offsets(text) == (normalised, offsets)


def test_offsets_agree_with_normalising_each_character_on_its_own() -> None:
    pool = [*"aZ9 .,*!\n\t传傳銷ßİﬁ㎏ü", "\u200b", "\u0336", "\U0001d41f", "🚀", "\uff36", "\ufeff"]
    rng = random.Random(4)
    for _ in range(200):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        normalised, offsets = normalise_with_offsets(text)
        expected = [index for index, character in enumerate(text) for _ in normalise(character)]
        assert normalised == "".join(normalise(character) for character in text)
        assert offsets == expected
