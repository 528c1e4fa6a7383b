"""`make bench`, fourth part: how fast the moderation lexicon checks text, normalisation included.

The harness makes, from a fixed seed, a lexicon of `--words` words (default 20,000: random Chinese words
of 2 to 4 ideographs and random Latin words of 6 to 12 letters, each in one of five categories) and about
`--megabytes` MB of push contents (default 30, UTF-8): Chinese and English sentences with numbers,
punctuation, emoji, links, some full-width letters and traditional characters, cut into messages of
20 to 4,000 characters (most a few hundred, as pushes are). One message in 200 carries a lexicon word
disguised the way senders disguise them (spaced out, dotted, zero-width characters, full-width,
traditional script, upper case). It then measures, one message at a time as the moderation service checks
them, on one core:

* matcher — each Aho-Corasick library alone (`ahocorasick-rs`, `pyahocorasick`), every overlapping hit,
  over the already-normalised messages, built from the same normalised words;
* normalise — `services.moderation.normalise.normalise` alone;
* scan — `Lexicon.scan` end to end (normalise, match, positions in the original text for each hit);

each the best of `--rounds` rounds, as MB/s of the original text's UTF-8 bytes (so the three compare) over
the CPU time of the process (one core's worth, however busy the machine is) and over the elapsed time.
A library that is not installed is reported as such (only the one iGot uses is a dependency).
Results: a table on stdout and `bench/results/moderation-<UTC time>.json` (also `moderation-latest.json`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, cast

import opencc

from bench.run import machine_facts, note, positive, write_report
from services.moderation import normalise as normalisation
from services.moderation.lexicon import Hit, Lexicon

CATEGORIES = ("politics", "porn", "pyramid", "gambling", "illegal")
HIT_EVERY = 200  # one message in this many carries a disguised lexicon word
TARGET_MB_PER_SECOND = 20.0


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# What pushes say: the vocabulary the messages are made of (tokens are picked at random).
CHINESE = _words(
    "服务器 部署 完成 今天 消息 用户 订单 已发货 请查收 提醒 会议 明天 下午 三点 准时参加 系统 告警 磁盘空间"
    " 不足 备份 成功 失败 重试 构建 测试 通过 版本 发布 上线 回滚 监控 延迟 升高 恢复 正常 数据库 连接 超时"
    " 证书 即将过期 续期 快递 签收 天气 晴 多云 小雨 温度 气温 股票 上涨 下跌 提交 合并 分支 任务 队列 积压"
    " 请及时处理 您的 验证码 是 有效期 分钟 账户 余额 充值 到账 签到 打卡 考勤 周报 日报 工单 已分配 处理中"
)
TRADITIONAL = _words("伺服器 訊息 訂單 會議 系統 備份 資料庫 網路 連線 憑證 過期 發佈 監控 測試 帳戶 餘額")
ENGLISH = _words(
    "the build finished deploy server restarted backup completed disk usage is above threshold please check"
    " your order has shipped meeting tomorrow at pm release version rollback latency recovered database"
    " connection timeout certificate expires soon renewal job queue backlog weather sunny cloudy temperature"
    " stock price up down merge request branch pipeline passed failed retry alert resolved daily report"
    " ticket assigned in progress verification code valid for minutes balance top up received"
)
# Chinese full-width punctuation (comma, full stop, exclamation and question marks, colon, enumeration
# comma, brackets) next to ASCII punctuation, line breaks and emoji.
SYMBOLS = ["\uff0c", "\u3002", "\uff01", "\uff1f", "\uff1a", "\u3001", "\u2705", "\U0001f680", "\u26a0\ufe0f"]
SYMBOLS += ["\uff08\u5907\u6ce8\uff09"]
SYMBOLS += [", ", ". ", "! ", ": ", " - ", "\n", "(ok)"]


def full_width(text: str) -> str:
    """The ASCII letters, digits and punctuation of the text in their full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


FULL_WIDTH = [full_width(word) for word in ("OK", "CPU", "API", "123", "GPU", "Hello")]


def _disguises(word: str, to_traditional: Callable[[str], str]) -> list[str]:
    """How a sender writes the word to slip past a plain list."""
    return [
        " ".join(word),
        ".".join(word),
        "\u200b".join(word),
        full_width(word),
        to_traditional(word),
        "*".join(to_traditional(word)),
        word.upper(),
    ]


def make_lexicon_lines(words: int, rng: random.Random) -> list[str]:
    """`words` lines `word<TAB>category`, distinct after normalisation (so the lexicon holds `words`)."""
    seen: set[str] = set()
    lines: list[str] = []
    while len(lines) < words:
        if rng.random() < 0.6:
            word = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4)))
        else:
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(6, 12)))
        key = normalisation.normalise(word)
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"{word}\t{rng.choice(CATEGORIES)}")
    return lines


def _sentence(rng: random.Random, length: int) -> str:
    parts: list[str] = []
    size = 0
    while size < length:
        roll = rng.random()
        if roll < 0.45:
            token = rng.choice(CHINESE)
        elif roll < 0.5:
            token = rng.choice(TRADITIONAL)
        elif roll < 0.8:
            token = rng.choice(ENGLISH) + " "
        elif roll < 0.83:
            token = rng.choice(FULL_WIDTH)
        elif roll < 0.86:
            token = str(rng.randint(0, 99999))
        elif roll < 0.87:
            token = f" https://example.com/{rng.randint(0, 9999)}?ref=push "
        else:
            token = rng.choice(SYMBOLS)
        parts.append(token)
        size += len(token)
    return "".join(parts)


def make_messages(megabytes: float, lexicon_lines: Sequence[str], rng: random.Random) -> list[str]:
    """Push contents adding up to about `megabytes` MB of UTF-8; every HIT_EVERY-th one disguises a word."""
    to_traditional = opencc.OpenCC("s2t.json").convert
    words = [line.split("\t", 1)[0] for line in lexicon_lines]
    messages: list[str] = []
    total = 0
    while total < megabytes * 1_000_000:
        length = int(min(4000, max(20, rng.lognormvariate(5.7, 0.8))))  # median about 300 characters
        text = _sentence(rng, length)
        if len(messages) % HIT_EVERY == HIT_EVERY - 1:
            cut = rng.randint(0, len(text))
            disguised = rng.choice(_disguises(rng.choice(words), to_traditional))
            text = f"{text[:cut]}{disguised}{text[cut:]}"
        messages.append(text)
        total += len(text.encode())
    return messages


@dataclass(frozen=True)
class Timing:
    cpu_seconds: float  # the best round's CPU time: what one core needs, whatever else the machine runs
    wall_seconds: float  # the same round's elapsed time
    rounds_cpu_seconds: list[float]
    rounds_wall_seconds: list[float]
    result: object  # what the work returned (the last round's)


def _time(rounds: int, work: Callable[[], object]) -> Timing:
    walls: list[float] = []
    cpus: list[float] = []
    result: object = None
    for _ in range(rounds):
        cpu_started = time.process_time()
        started = time.perf_counter()
        result = work()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    best = min(range(rounds), key=cpus.__getitem__)
    return Timing(cpus[best], walls[best], cpus, walls, result)


def _figures(timing: Timing, text_bytes: int, **extra: Any) -> dict[str, Any]:
    return {
        "status": "ok",
        "mb_per_cpu_second": text_bytes / 1_000_000 / timing.cpu_seconds,
        "mb_per_wall_second": text_bytes / 1_000_000 / timing.wall_seconds,
        "cpu_seconds": timing.cpu_seconds,
        "wall_seconds": timing.wall_seconds,
        "rounds_cpu_seconds": timing.rounds_cpu_seconds,
        "rounds_wall_seconds": timing.rounds_wall_seconds,
        **extra,
    }


def _matcher_ahocorasick_rs(keys: list[str]) -> tuple[Callable[[str], int], str]:
    ahocorasick_rs: Any = importlib.import_module("ahocorasick_rs")
    automaton = ahocorasick_rs.AhoCorasick(keys, matchkind=ahocorasick_rs.MatchKind.Standard)

    def count(text: str) -> int:
        return len(automaton.find_matches_as_indexes(text, overlapping=True))

    return count, f"ahocorasick-rs {version('ahocorasick-rs')}, MatchKind.Standard, overlapping"


def _matcher_pyahocorasick(keys: list[str]) -> tuple[Callable[[str], int], str]:
    ahocorasick: Any = importlib.import_module("ahocorasick")
    automaton = ahocorasick.Automaton()
    for index, key in enumerate(keys):
        automaton.add_word(key, index)
    automaton.make_automaton()

    def count(text: str) -> int:
        return len(list(automaton.iter(text)))

    return count, f"pyahocorasick {version('pyahocorasick')}, Automaton.iter"


MATCHERS: dict[str, Callable[[list[str]], tuple[Callable[[str], int], str]]] = {
    "ahocorasick-rs": _matcher_ahocorasick_rs,
    "pyahocorasick": _matcher_pyahocorasick,
}


def measure_matcher(
    name: str, keys: list[str], normalised: list[str], text_bytes: int, rounds: int
) -> dict[str, Any]:
    try:
        started = time.perf_counter()
        count, detail = MATCHERS[name](keys)
        build_seconds = time.perf_counter() - started
    except ImportError:
        return {"status": "not installed", "error": f"{name} is not installed (pip install {name})"}
    timing = _time(rounds, lambda: sum(count(text) for text in normalised))
    return _figures(timing, text_bytes, build_seconds=build_seconds, hits=timing.result, library=detail)


def run(options: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(options.seed)
    note(f"moderation: making a {options.words}-word lexicon and {options.megabytes} MB of messages")
    started = time.perf_counter()
    normalisation.prepare()
    table_seconds = time.perf_counter() - started
    lines = make_lexicon_lines(options.words, rng)
    messages = make_messages(options.megabytes, lines, rng)
    text_bytes = sum(len(message.encode()) for message in messages)
    started = time.perf_counter()
    lexicon = Lexicon.from_lines(lines, source="bench")
    load_seconds = time.perf_counter() - started
    keys = [normalisation.normalise(line.split("\t", 1)[0]) for line in lines]
    normalised = [normalisation.normalise(message) for message in messages]
    results: dict[str, dict[str, Any]] = {}
    for name in MATCHERS:
        note(f"moderation: matcher {name}")
        results[f"matcher {name}"] = measure_matcher(name, keys, normalised, text_bytes, options.rounds)
    note("moderation: normalise")
    normalise = normalisation.normalise
    results["normalise"] = _figures(
        _time(options.rounds, lambda: [normalise(m) for m in messages]), text_bytes
    )
    note("moderation: Lexicon.scan")
    scan = lexicon.scan
    timing = _time(options.rounds, lambda: [scan(m) for m in messages])
    scanned = cast(list[list[Hit]], timing.result)
    found = [(message, hit) for message, hits in zip(messages, scanned, strict=True) for hit in hits]
    results["Lexicon.scan"] = _figures(
        timing,
        text_bytes,
        hits=len(found),
        messages_with_hits=sum(1 for hits in scanned if hits),
        sample_hits=[
            {"word": hit.word, "category": hit.category, "as_written": message[hit.start : hit.end]}
            for message, hit in found[:8]
        ],
    )
    return {
        "parameters": {
            "words": lexicon.size,
            "seed": options.seed,
            "rounds": options.rounds,
            "messages": len(messages),
            "text_bytes": text_bytes,
            "text_characters": sum(map(len, messages)),
            "normalised_characters": sum(map(len, normalised)),
            "disguised_word_every": HIT_EVERY,
            "disguised_words": len(messages) // HIT_EVERY,
            "target_mb_per_second": TARGET_MB_PER_SECOND,
        },
        "setup": {"normalisation_table_seconds": table_seconds, "lexicon_load_seconds": load_seconds},
        "results": results,
    }


def table(report: dict[str, Any]) -> str:
    header = f"{'measure':<24} {'MB/s cpu':>9} {'MB/s wall':>9} {'cpu s':>7} {'hits':>6} {'build s':>8}"
    lines = [header, "-" * len(header)]
    for name, figures in report["results"].items():
        if figures.get("status") != "ok":
            lines.append(f"{name:<24} {figures.get('status')}: {figures.get('error', '')}")
            continue
        hits = figures.get("hits")
        build = figures.get("build_seconds")
        lines.append(
            f"{name:<24} {figures['mb_per_cpu_second']:>9.1f} {figures['mb_per_wall_second']:>9.1f} "
            f"{figures['cpu_seconds']:>7.2f} {'-' if hits is None else hits:>6} "
            f"{'-' if build is None else f'{build:.2f}':>8}"
        )
    parameters, setup = report["parameters"], report["setup"]
    lines.append(
        f"{parameters['messages']} messages, {parameters['text_bytes'] / 1e6:.1f} MB of UTF-8 text, "
        f"{parameters['words']} words, one message a call. MB/s: the original text's bytes over the CPU "
        f"time (one core, whatever else runs) and the elapsed time of the best of {parameters['rounds']} "
        f"rounds; target for Lexicon.scan: {TARGET_MB_PER_SECOND:.0f} MB/s"
    )
    lines.append(
        f"set-up: normalisation table {setup['normalisation_table_seconds']:.2f} s (once per process), "
        f"lexicon load {setup['lexicon_load_seconds']:.2f} s"
    )
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.moderation", description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=positive(int), default=20_000, help="lexicon size")
    parser.add_argument("--megabytes", type=positive(float), default=30.0, help="UTF-8 MB of messages")
    parser.add_argument("--rounds", type=positive(int), default=3, help="timed rounds; the best counts")
    parser.add_argument("--seed", type=int, default=20261129)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    machine = machine_facts()
    report = run(options)
    machine["load_average_at_end"] = list(os.getloadavg())
    report = {"machine": machine, **report}
    write_report(report, table(report), prefix="moderation-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
