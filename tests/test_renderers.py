"""Renderers of diagnostics: golden outputs for text (caret, hint, colour only on a TTY), json,
github, sarif and gitlab; SARIF valid against the SARIF 2.1.0 JSON schema; GitLab Code Quality
with its documented fields.

Golden files live in tests/golden/renderers/ and are regenerated with
``MFILE_UPDATE_GOLDEN=1 pytest tests/test_renderers.py`` (never edited by hand).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from golden_util import assert_golden
from mfile.cli import emit_reports
from mfile.diagnostics import Diagnostic, Reporter, catalogue, Severity, Span, render, render_github, render_text

SCHEMA = Path(__file__).parent / "schemas" / "sarif-2.1.0-rtm.5.json"
VERSION = "0.0.0-golden"

SOURCE = (
    '"""Golden source for the renderers."""\n'
    'data = MantikItem(name="test/digits:1")\n'
    "net = MantikItem(name=\"test/net32:1\").set_input(data.output)\n"
    "\tx = 1  # a tab before\n"
    "é = naïve(…)  # an ESC \x1b[2J in a comment\n"
    + "p = MantikPipeline(stages={" + ", ".join(f'"s{i}": [data]' for i in range(40)) + "})\n"
)
HEADER = "items/test/net32/1/MantikHeader"


def golden_reports() -> Reporter:
    """One of each: error with hint, warning, info, multi-line span, a header file with no source,
    a wide span, a tab, non-ASCII, text that tries to break out of each format."""
    reg = catalogue()
    r = Reporter()
    r.report(reg["E121"], Span("flow.mfile", 3, 49, 3, 60), task="net", pipeline="p", line=2)
    r.report(reg["E103"], Span("flow.mfile", 2, 1, 2, 5), name="data")
    r.report(reg["E208"], Span("flow.mfile", 3, 1, 4, 3), port="input", task="net")
    r.report(reg["E001"], Span("flow.mfile", 4, 2, 4, 3), detail="unexpected indent")
    r.report(reg["E008"], Span("flow.mfile", 5, 1, 5, 2), name="é")
    r.report(reg["E121"], Span("flow.mfile", 6, 300, 6, 304), task="data", pipeline="p", line=6)
    r.report(reg["E312"], Span(HEADER, 7, 5, 7, 12), reason="'complex' is not a type")
    r.report(reg["E101"], Span("dir with space/a,b:c.mfile", 1, 1, 1, 2), name="x\n::error file=pwned::injected %0A", suggestion="")
    return r


def sources() -> dict[str, str]:
    return {"flow.mfile": SOURCE}


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif", "gitlab"])
def test_golden(fmt: str) -> None:
    text = render(fmt, golden_reports().sorted(), sources(), VERSION)
    suffix = {"text": "txt", "github": "txt"}.get(fmt, "json")
    assert_golden(f"renderers/{fmt}.{suffix}", text)


def test_golden_text_in_colour() -> None:
    assert_golden("renderers/text-colour.txt", render_text(golden_reports().sorted(), sources(), colour=True))


def test_colour_only_on_a_tty(monkeypatch) -> None:
    reporter = golden_reports()
    plain = io.StringIO()
    emit_reports(reporter, sources(), "text", plain)
    assert "\x1b[" not in plain.getvalue()

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.delenv("NO_COLOR", raising=False)
    emit_reports(reporter, sources(), "text", tty)
    assert "\x1b[1;31m" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    no_colour = Tty()
    emit_reports(reporter, sources(), "text", no_colour)
    assert "\x1b[" not in no_colour.getvalue()


def test_cli_output_through_a_pipe_has_no_colour(tmp_path: Path) -> None:
    src = tmp_path / "bad.mfile"
    src.write_text("x = undefined_name\n")
    result = subprocess.run([sys.executable, "-m", "mfile.cli", "check", str(src)], capture_output=True, text=True)
    assert result.returncode == 1 and "\x1b[" not in result.stdout + result.stderr
    assert "error[E101]" in result.stdout and "^" in result.stdout and "hint:" in result.stdout


def test_text_caret_sits_under_the_span() -> None:
    out = render_text(golden_reports().sorted(), sources()).splitlines()
    i = next(k for k, line in enumerate(out) if "flow.mfile:3:49: error[E121]" in line)
    source_line, caret_line = out[i + 1], out[i + 2]
    assert source_line.endswith(SOURCE.splitlines()[2])
    start = caret_line.index("^")
    assert source_line[start:start + 11] == "data.output"
    assert caret_line[start:] == "^" + "~" * 10


def test_long_lines_are_shown_as_a_window_around_the_caret() -> None:
    out = render_text(golden_reports().sorted(), sources()).splitlines()
    i = next(k for k, line in enumerate(out) if "flow.mfile:6:300: error[E121]" in line)
    source_line, caret_line = out[i + 1], out[i + 2]
    assert len(source_line) < 200 and source_line.count("...") == 2
    start = caret_line.index("^")
    assert source_line[start:start + 4] == SOURCE.splitlines()[5][299:303]


def test_user_text_in_a_hint_is_not_a_format_string() -> None:
    reporter = Reporter()
    kind = catalogue()["E411"]
    for text in ("{0}", "{x.__class__}", "{", "}", "{name!r:>{9}}", "{__import__}"):
        report = reporter.report(kind, Span.point("f"), profile="p", env="E", hint=f"the account {text!r} is bad")
        assert report.hint == f"the account {text!r} is bad"


def test_sarif_is_valid_against_the_sarif_2_1_0_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    for reports in (golden_reports().sorted(), []):
        log = json.loads(render("sarif", reports, sources(), VERSION))
        errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
        assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]
        assert log["version"] == "2.1.0"


def test_sarif_from_a_real_check_is_valid(tmp_path: Path) -> None:
    cases = Path(__file__).parent / "cases"
    result = subprocess.run([sys.executable, "-m", "mfile.cli", "check", str(cases / "err"), "--items", str(cases / "items"),
                             "--format", "sarif"], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    results = log["runs"][0]["results"]
    assert len(results) > 50
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    assert all(not r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("/") for r in results)


def test_the_sarif_schema_rejects_what_it_should() -> None:
    """The vendored schema is the real one: a log missing its version fails validation."""
    log = json.loads(render("sarif", golden_reports().sorted(), sources(), VERSION))
    del log["version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)


GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def test_gitlab_code_quality_has_the_documented_fields() -> None:
    issues = json.loads(render("gitlab", golden_reports().sorted(), sources(), VERSION))
    assert isinstance(issues, list) and len(issues) == len(golden_reports().reports)
    for issue in issues:
        assert isinstance(issue["description"], str) and issue["description"]
        assert isinstance(issue["check_name"], str) and re.fullmatch(r"E\d{3}", issue["check_name"])
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
        assert issue["severity"] in GITLAB_SEVERITIES
        assert isinstance(issue["location"]["path"], str) and not issue["location"]["path"].startswith("/")
        assert isinstance(issue["location"]["lines"]["begin"], int) and issue["location"]["lines"]["begin"] >= 1
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    severities = {i["check_name"]: i["severity"] for i in issues}
    assert severities["E121"] == "major" and severities["E103"] == "minor" and severities["E208"] == "info"


def test_gitlab_fingerprints_are_stable_and_distinct_for_repeats() -> None:
    reporter = Reporter()
    for _ in range(2):
        reporter.report(catalogue()["E101"], Span("a.mfile", 1, 1, 1, 2), name="x", suggestion="")
    first = json.loads(render("gitlab", reporter.sorted(), {}, VERSION))
    again = json.loads(render("gitlab", reporter.sorted(), {}, VERSION))
    assert [i["fingerprint"] for i in first] == [i["fingerprint"] for i in again]
    assert first[0]["fingerprint"] != first[1]["fingerprint"]


def test_github_commands_cannot_be_injected() -> None:
    out = render_github(golden_reports().sorted())
    lines = out.splitlines()
    assert len(lines) == len(golden_reports().reports)
    assert all(re.match(r"^::(error|warning|notice) file=", line) for line in lines)
    injected = next(line for line in lines if "E101" in line)
    assert "file=dir with space/a%2Cb%3Ac.mfile," in injected
    assert "%0A::error file%3Dpwned" in injected or "%0A::error file=pwned" in injected
    assert "%250A" in injected


def test_json_has_the_designed_fields() -> None:
    items = json.loads(render("json", golden_reports().sorted(), sources(), VERSION))
    for item in items:
        assert {"file", "line", "column", "end_line", "end_column", "severity", "code", "message"} <= set(item)
        assert item["severity"] in {s.value for s in Severity}


def test_text_output_has_no_control_characters_from_user_text() -> None:
    """A newline in a name would start a new log line (GitHub Actions reads `::command::` lines
    from any output); an ESC would drive the terminal."""
    out = render_text(golden_reports().sorted(), sources(), colour=False)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)
    assert not any(line.startswith("::") for line in out.splitlines())
    assert "x\\n::error file=pwned" in out
