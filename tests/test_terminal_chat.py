"""`tawasul chat` with piped input: one message per line, every reply printed, then exit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import tawasul_cli


def run_chat(tmp_path: Path, lines: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`tawasul chat` with `lines` piped in, one message per line."""
    return tawasul_cli(tmp_path, "chat", *extra, stdin=lines)


def test_piped_conversation_prints_every_reply_and_exits(tmp_path: Path) -> None:
    result = run_chat(tmp_path, "مرحبا\n2\n\nالقائمة\n8\nSTOP\n", "--as", "tester-1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("أهلًا بك في جمعية البر الخيرية النموذجية! كيف نخدمك اليوم؟")
    assert "1. أسئلة واستفسارات\n2. تقديم طلب دعم\n" in out  # buttons as a numbered list
    assert "لنعبّئ طلب الدعم معًا" in out and "السؤال 1 من 11" in out
    assert "From now on I will answer in English." in out
    assert "8. العربية" in out
    assert out.rstrip().endswith(
        "To subscribe again, send START."
    )  # the blank line was skipped, STOP answered in English
    assert out.count("اختر الخدمة:") == 2
    # It made its own SQLite database under var/ and migrated it.
    assert (tmp_path / "var" / "tawasul.db").exists()


def test_the_same_person_continues_where_they_left(tmp_path: Path) -> None:
    run_chat(tmp_path, "hello\n", "--as", "tester-2")
    result = run_chat(tmp_path, "3\n", "--as", "tester-2")
    assert result.stdout.startswith(
        "Please write the reference number of the request, e.g. R-482139075."
    )


def test_linking_a_phone_says_plainly_when_no_phone_channel_is_on(tmp_path: Path) -> None:
    result = run_chat(tmp_path, "hello\nlink phone\n", "--as", "tester-3")
    assert result.returncode == 0, result.stderr
    assert "Linking a phone number is not available here yet, sorry." in result.stdout
