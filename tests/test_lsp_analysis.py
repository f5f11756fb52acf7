"""The language server's analysis (no LSP, no pygls): every prefix of a real M-File, as it is
typed, gives diagnostics, completions, hovers and definitions without raising."""

from __future__ import annotations

import time
from pathlib import Path

from mfile.compiler.frontend import check_source
from mfile.lsp.analysis import analyse, complete, definition, hover

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "examples" / "mnist" / "mnist.mfile"
CLIMATE = ROOT / "examples" / "climate" / "climate.mfile"


def test_the_diagnostics_are_check_source_s() -> None:
    for path in (MNIST, CLIMATE):
        text = path.read_text(encoding="utf-8")
        got = analyse(text, path, []).reports
        want = check_source(text, str(path)).reports
        assert sorted(got, key=lambda r: (r.span, r.code)) == sorted(want, key=lambda r: (r.span, r.code))


def test_typing_the_mnist_example_character_by_character_never_raises() -> None:
    text = MNIST.read_text(encoding="utf-8")
    body = text[text.index('"""', 3) + 3:]  # after the module docstring
    last_parsed = None
    step = 7
    start = time.monotonic()
    for end in range(0, len(body) + step, step):
        typed = body[:end]
        analysis = analyse(typed, MNIST, [])
        if analysis.module is not None:
            last_parsed = analysis
        lines = typed.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        complete(typed, line, column, last_parsed)
        for probe in range(1, column + 1, 5):  # hover and definition along the last line
            hover(analysis, line, probe)
            definition(analysis, line, probe)
    per_prefix = (time.monotonic() - start) / (len(body) // step + 1)
    assert per_prefix < 1.0, per_prefix


def test_completion_at_the_very_start_and_inside_a_comment_or_docstring() -> None:
    assert {c.label for c in complete("", 1, 1, None)} >= {"MantikItem", "MantikPipeline", "dsl"}
    assert complete('"""a docstring with MantikItem(name="', 1, 38, None) == []
    assert complete("x = 1  # MantikItem(name=\"", 1, 27, None) == []
    assert complete('MantikItem(name="mnist/', 1, 24, None) == []  # no analysis yet: no roots to list
