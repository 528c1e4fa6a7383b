"""What a newcomer meets first: derived defaults, where the data lives, and one clear line per bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings, resolve_data_dir

ROOT = Path(__file__).resolve().parents[2]


def igot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("IGOT_")}
    return subprocess.run(
        [sys.executable, "-m", "igot.cli", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"IGOT_HTTP_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"IGOT_HTTP_HOST": "0.0.0.0", "IGOT_HTTP_PORT": "80"}, "http://127.0.0.1:80"),
        ({"IGOT_HTTP_HOST": "push.lan", "IGOT_HTTP_PORT": "8081"}, "http://push.lan:8081"),
        (
            {"IGOT_HTTP_PORT": "9000", "IGOT_PUBLIC_URL": "https://push.example.com"},
            "https://push.example.com",
        ),
    ],
)
def test_public_url_follows_the_listen_address_unless_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name in ("IGOT_HTTP_HOST", "IGOT_HTTP_PORT", "IGOT_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().public_url == expected


def test_a_relative_data_dir_counts_from_the_checkout_else_the_current_directory(tmp_path: Path) -> None:
    assert resolve_data_dir(Path("data"), checkout=ROOT, cwd=tmp_path) == ROOT / "data"
    not_a_checkout = tmp_path / "site-packages"
    not_a_checkout.mkdir()
    assert resolve_data_dir(Path("data"), checkout=not_a_checkout, cwd=tmp_path) == tmp_path / "data"
    assert resolve_data_dir(tmp_path / "elsewhere", checkout=ROOT) == tmp_path / "elsewhere"


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = igot(
        "migrate",
        env={"IGOT_HTTP_PORT": "99999", "IGOT_BUS_RETRY_DELAYS": "soon", "IGOT_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("igot: IGOT_BUS_RETRY_DELAYS: ") or lines[0].startswith(
        "igot: IGOT_HTTP_PORT: "
    )


def test_each_invalid_value_gets_its_own_line(tmp_path: Path) -> None:
    result = igot(
        "migrate",
        env={"IGOT_HTTP_PORT": "99999", "IGOT_SMTP_TLS": "maybe", "IGOT_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert sorted(line.split(":")[1].strip() for line in result.stderr.splitlines()) == [
        "IGOT_HTTP_PORT",
        "IGOT_SMTP_TLS",
    ]


def test_a_command_that_creates_a_new_empty_store_says_so(tmp_path: Path) -> None:
    env = {"IGOT_DATA_DIR": str(tmp_path / "data")}
    first = igot("user", "create", "--email", "first@example.com", "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"no store at {tmp_path / 'data' / 'igot.sqlite3'} yet" in first.stderr
    second = igot("user", "create", "--email", "second@example.com", "--json", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "no store" not in second.stderr
