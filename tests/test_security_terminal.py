"""Terminal safety: user text (names, paths, header fields, stage names, job logs, M-File
source) reaches a terminal or a CI log only with C0/C1 controls, DEL and bidi controls made
visible. ESC and the 8-bit CSI U+009B drive terminals; U+202E reorders what a reviewer sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from security_support import CASE_ITEMS, SEC_ITEMS, mfile_string, run_mfile

from mfile.commands.status import Line, render
from mfile.diagnostics import Reporter, Span, catalogue, terminal_safe
from mfile.diagnostics import render as render_reports

HOSTILE = "a\x1b[2J\x07b\x9b31mc\u202eevil\u2066d\x85e\u2028f\x00\x7f"
RAW = ["\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\x85", "\u2028", "\x00", "\x7f"]


def assert_clean(text: str) -> None:
    bad = [repr(c) for c in RAW if c in text]
    assert not bad, bad


def test_terminal_safe_escapes_c0_c1_and_bidi_visibly() -> None:
    shown = terminal_safe(HOSTILE)
    assert_clean(shown)
    assert "\\x1b" in shown and "\\x9b" in shown and "\\u202e" in shown
    assert terminal_safe("plain é ü 🙂 text") == "plain é ü 🙂 text"


@pytest.mark.parametrize("fmt", ["text", "github", "json", "sarif", "gitlab"])
def test_every_diagnostic_format_escapes_user_text(fmt: str) -> None:
    reporter = Reporter()
    reporter.report(catalogue()["E101"], Span(f"f{HOSTILE}.mfile", 1, 5, 1, 8), name=HOSTILE, suggestion="")
    source = f"x = {HOSTILE}  # a comment with {HOSTILE}\n"
    out = render_reports(fmt, reporter.sorted(), {f"f{HOSTILE}.mfile": source}, "0")
    assert_clean(out)


def test_text_excerpt_of_a_hostile_m_file(tmp_path: Path) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(f"x = undefined_name  # {HOSTILE}\ny = {HOSTILE[:2]}\n")
    result = run_mfile("check", str(src))
    assert result.returncode == 1
    assert_clean(result.stdout + result.stderr)


def test_items_list_and_show(tmp_path: Path) -> None:
    root = tmp_path / f"root{HOSTILE.replace(chr(0), '').replace('/', '')}"
    shutil.copytree(SEC_ITEMS, root)
    header = root / "sec" / "echo" / "1" / "MantikHeader"
    header.write_text(header.read_text() + f"author: {mfile_string(HOSTILE)}\nbridge: {mfile_string(HOSTILE)}\n")
    listed = run_mfile("items", "list", "--items", str(root))
    assert "sec/echo:1" in listed.stdout, listed.stdout + listed.stderr
    assert_clean(listed.stdout + listed.stderr)
    shown = run_mfile("items", "show", "sec/echo:1", "--items", str(root))
    assert "\\x1b" in shown.stdout, shown.stdout + shown.stderr
    assert_clean(shown.stdout + shown.stderr)


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_with_a_hostile_stage_name(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "flow.mfile"
    src.write_text(
        'd = MantikItem(name="test/digits:1")\n'
        f"p = MantikPipeline(stages={{{mfile_string(HOSTILE)}: [d]}})\n"
    )
    result = run_mfile("graph", str(src), "--pipeline", "p", "--items", str(CASE_ITEMS), "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout + result.stderr)


def test_status_escapes_notes_and_log_lines(tmp_path: Path) -> None:
    out = render(tmp_path, [Line("train", "failed", note=HOSTILE, log=[HOSTILE, "Traceback " + HOSTILE])], None)
    assert_clean(out)
    assert "\\x9b" in out


def test_usage_errors_escape_paths(tmp_path: Path) -> None:
    result = run_mfile("status", str(tmp_path / f"nope{HOSTILE.replace(chr(0), '')}"))
    assert result.returncode == 2
    assert_clean(result.stderr)
