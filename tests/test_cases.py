"""Case files: every ``tests/cases/err/*.mfile`` declares the diagnostics it must produce,
every ``tests/cases/ok/*.mfile`` must produce no error or warning.

An err case lists ``# expect: CODE LINE:COLUMN`` lines (one per diagnostic) and may list
``# hint: TEXT`` lines, each of which must start some reported hint, and ``# message: TEXT``
lines, each of which some reported message must contain. Infos are compared only
when the case expects that code. Items come from ``tests/cases/items``
(plus ``# items: DIR`` relative to tests/cases when a case needs others).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mfile.compiler.frontend import check_paths
from mfile.diagnostics import Severity

CASES = Path(__file__).parent / "cases"
EXPECT = re.compile(r"^#\s*expect:\s*([A-Z]\d{3})\s+(\d+):(\d+)\s*$", re.MULTILINE)
ITEMS = re.compile(r"^#\s*items:\s*(\S+)\s*$", re.MULTILINE)
HINT = re.compile(r"^#\s*hint:\s*(.+?)\s*$", re.MULTILINE)
MESSAGE = re.compile(r"^#\s*message:\s*(.+?)\s*$", re.MULTILINE)


def _cases(kind: str) -> list[Path]:
    return sorted((CASES / kind).glob("*.mfile"))


def _roots(text: str) -> list[Path]:
    extra = [CASES / m for m in ITEMS.findall(text)]
    return [CASES / "items", *extra]


def _found(path: Path, expected_codes: set[str]) -> list[tuple[str, int, int]]:
    result = check_paths([path], _roots(path.read_text(encoding="utf-8", errors="replace")))
    return sorted(
        (r.code, r.span.line, r.span.column)
        for r in result.reporter.reports
        if r.severity is not Severity.INFO or r.code in expected_codes
    )


@pytest.mark.parametrize("path", _cases("err"), ids=lambda p: p.stem)
def test_err_case(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    expected = sorted((c, int(line), int(col)) for c, line, col in EXPECT.findall(text))
    assert expected, f"{path.name} declares no '# expect:' lines"
    assert _found(path, {c for c, _, _ in expected}) == expected
    reports = check_paths([path], _roots(text)).reporter.reports
    for wanted in HINT.findall(text):
        assert any((r.hint or "").startswith(wanted) for r in reports), (wanted, [r.hint for r in reports])
    for wanted in MESSAGE.findall(text):
        assert any(wanted in r.message for r in reports), (wanted, [r.message for r in reports])


@pytest.mark.parametrize("path", _cases("ok"), ids=lambda p: p.stem)
def test_ok_case(path: Path) -> None:
    assert not EXPECT.search(path.read_text(encoding="utf-8", errors="replace"))
    assert _found(path, set()) == []


def test_every_compiler_code_has_an_err_case() -> None:
    """Each E1xx/E2xx diagnostic is exercised by at least one err case."""
    from mfile.diagnostics import catalogue

    covered = {c for p in _cases("err") for c, _, _ in EXPECT.findall(p.read_text(errors="replace"))}
    wanted = {code for code in catalogue() if code[:2] in ("E1", "E2")}
    # Codes reachable only through the CLI (which pipeline to compile) are tested there.
    wanted -= {"E136", "E137"}
    assert sorted(wanted - covered) == []
