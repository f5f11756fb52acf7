"""Diagnostics: spans, one class per code, a reporter that collects, and renderers.

Checks never raise on bad input: they call ``reporter.report(SomeDiagnostic, span, **args)``
and go on, so one run shows every problem. The CLI decides the exit code from what was
reported. Codes are stable: tests and users' CI configurations depend on them.

Code ranges:
    E0xx  syntax and rejected Python constructs     (mfile_grammar)
    E1xx  names, calls and builtins                 (compiler/scope.py, compiler/lower.py)
    E2xx  types along the pipeline                  (compiler/typecheck.py)
    E3xx  item headers and item resolution          (compiler/headers.py, compiler/items.py)
    E4xx  resources and site profiles               (codegen)
    E5xx  limits that protect against hostile input
    E9xx  input files (unreadable, not UTF-8, ...)
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import importlib
import json
import string
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file; lines and columns are 1-based, end_column exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, file: str, line: int = 1, column: int = 1) -> "Span":
        return cls(file, line, column, line, column + 1)

    @classmethod
    def whole_file(cls, file: str) -> "Span":
        return cls(file, 1, 1, 1, 1)


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Diagnostic:
    """Base class: subclasses set ``code``, ``severity``, ``message`` and optionally ``hint``.

    ``message`` and ``hint`` are ``str.format`` templates filled from the keyword arguments
    given to :meth:`Reporter.report`.
    """

    code: ClassVar[str] = "E000"
    severity: ClassVar[Severity] = Severity.ERROR
    message: ClassVar[str] = ""
    hint: ClassVar[str | None] = None

    # Every subclass is registered here so docs and tests can list all codes.
    registry: ClassVar[dict[str, type["Diagnostic"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            other = Diagnostic.registry.get(cls.code)
            if other is not None and other.__qualname__ != cls.__qualname__:
                raise RuntimeError(f"diagnostic code {cls.code} used by {other} and {cls}")
            Diagnostic.registry[cls.code] = cls


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6, ignore_case: bool = True) -> str | None:
    """The choice nearest to ``word`` (an exact match first when case is ignored), or None."""
    choices = list(choices)
    if not ignore_case:
        found = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
        return found[0] if found else None
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[found[0]] if found else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close candidate (names are case-sensitive), else ""."""
    best = closest(name, sorted(candidates), cutoff=0.7, ignore_case=False)
    return f" (did you mean {best!r}?)" if best else ""


# The modules that define diagnostic classes, bottom layer first. They sit above this module
# (they subclass Diagnostic), so they are named here and loaded only when the whole catalogue
# is asked for (docs, tests, ``mfile explain``-style listings), never on the check path.
CATALOGUES = (
    "mfile.mfile_grammar.syntax",  # E0xx, limits E51x
    "mfile.compiler.messages",  # E1xx, E2xx, E50x
    "mfile.compiler.headers.messages",  # E3xx
    "mfile.codegen.resources",  # E4xx
)


def catalogue() -> dict[str, type[Diagnostic]]:
    """Every diagnostic code mfile can report, whatever has been imported so far."""
    for module in CATALOGUES:
        importlib.import_module(module)
    return dict(sorted(Diagnostic.registry.items()))


@dataclass(frozen=True)
class Report:
    """One reported diagnostic with its text filled in."""

    code: str
    severity: Severity
    span: Span
    message: str
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            **({"hint": self.hint} if self.hint else {}),
        }


_FORMATTER = string.Formatter()


def _fill(template: str, args: dict[str, Any]) -> str:
    """``template`` with its ``{name}``, ``{name!r}`` and ``{name:spec}`` fields filled from ``args``.

    Only plain names are looked up: a caller's hint may carry user text (an account from the
    environment, a directory name), and ``str.format`` would evaluate ``{0}`` or
    ``{x.__class__}`` in it, or raise on a lone ``{``. Anything else stays as written.
    """
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError:  # an unbalanced brace: the text is not a template
        return template
    out: list[str] = []
    for literal, field_name, spec, conversion in parts:
        out.append(literal)
        if field_name is None:
            continue
        if field_name.isidentifier() and field_name in args:
            value = args[field_name]
            if conversion == "r":
                value = repr(value)
            elif conversion == "a":
                value = ascii(value)
            elif conversion == "s":
                value = str(value)
            try:
                out.append(format(value, spec or ""))
            except (TypeError, ValueError):
                out.append(str(value))
        else:
            out.append("{" + field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


@dataclass
class Reporter:
    """Collects reports; the one object every check writes into."""

    reports: list[Report] = field(default_factory=list)

    def report(self, kind: type[Diagnostic], span: Span, **args: Any) -> Report:
        hint_template = args.pop("hint", None) or kind.hint
        item = Report(
            code=kind.code,
            severity=kind.severity,
            span=span,
            message=_fill(kind.message, args),
            hint=_fill(hint_template, args) if hint_template else None,
        )
        self.reports.append(item)
        return item

    def extend(self, reports: Iterable[Report]) -> None:
        self.reports.extend(reports)

    @property
    def has_errors(self) -> bool:
        return any(r.severity is Severity.ERROR for r in self.reports)

    def sorted(self) -> list[Report]:
        return sorted(self.reports, key=lambda r: (r.span, r.code))


# --------------------------------------------------------------------------- renderers


_COLOURS = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m", Severity.INFO: "\x1b[1;36m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


MAX_EXCERPT = 160  # characters of a source line shown around the caret

# Control characters from user text (a name with a newline, an ESC sequence in a file) would
# start new lines in CI logs, where GitHub Actions reads `::command::` lines, or drive the
# terminal. Messages get visible escapes; source excerpts get one '?' per character so the
# caret stays under the span.
# C1 controls (U+0080-U+009F) matter as much: U+009B is an 8-bit CSI that some terminals obey.
# Bidi overrides and isolates (U+202E ...) reorder what a reader sees (Trojan Source), and
# U+2028/U+2029 break lines in some viewers.
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
_UNSAFE = [*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI]
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_QUESTION = {c: "?" for c in _UNSAFE if c != 0x09}


def terminal_safe(text: str) -> str:
    """User text made safe to print: C0/C1 controls, DEL and bidi controls as visible escapes
    (``\\x1b``, ``\\x9b``, ``\\u202e``). Every command that prints user text uses it."""
    return text.translate(_ESCAPES)


_visible = terminal_safe


def _excerpt(text: str, start: int, width: int) -> tuple[str, int, int]:
    """A window of at most ~MAX_EXCERPT characters of ``text`` around ``start``: (shown text,
    caret offset, caret width). Without it, N diagnostics on one N-character line (30,000
    stages in one dict) would print N*N characters."""
    if len(text) <= MAX_EXCERPT:
        return text, start, width
    width = min(width, MAX_EXCERPT // 2)
    lo = max(0, min(start - MAX_EXCERPT // 4, len(text) - MAX_EXCERPT))
    hi = min(len(text), lo + MAX_EXCERPT)
    shown = ("..." if lo > 0 else "") + text[lo:hi] + ("..." if hi < len(text) else "")
    offset = start - lo + (3 if lo > 0 else 0)
    return shown, offset, max(1, min(width, len(shown) - offset))


def render_text(reports: Iterable[Report], sources: dict[str, str], colour: bool = False) -> str:
    """``file:line:col: error[E203] message``, the source line, a caret line and the hint."""
    out: list[str] = []
    split: dict[str, list[str]] = {}  # each source is split once, not once per report
    for r in reports:
        sev = r.severity.value
        head = f"{_visible(r.span.file)}:{r.span.line}:{r.span.column}: "
        label = f"{sev}[{r.code}]"
        if colour:
            label = f"{_COLOURS[r.severity]}{label}{_RESET}"
            head = f"{_BOLD}{head}{_RESET}"
        out.append(f"{head}{label} {_visible(r.message)}")
        source = sources.get(r.span.file)
        if source is not None:
            if r.span.file not in split:
                split[r.span.file] = source.splitlines()
            lines = split[r.span.file]
            if 1 <= r.span.line <= len(lines):
                text = lines[r.span.line - 1]  # tabs become one space below: columns stay put
                gutter = f"{r.span.line:>5} | "
                start = max(r.span.column - 1, 0)
                if r.span.end_line == r.span.line:
                    width = max(r.span.end_column - r.span.column, 1)
                else:
                    width = max(len(text) - start, 1)
                text, start, width = _excerpt(text, start, width)
                out.append(gutter + text.expandtabs(1).translate(_QUESTION))
                caret = "^" + "~" * (width - 1)
                out.append(" " * (len(gutter) - 2) + "| " + " " * start + caret)
        if r.hint:
            out.append(f"  hint: {_visible(r.hint)}")
    return "\n".join(out) + ("\n" if out else "")


def render_json(reports: Iterable[Report]) -> str:
    return json.dumps([r.as_dict() for r in reports], indent=2) + "\n"


def _github_escape(text: str, property_value: bool = False) -> str:
    # GitHub's workflow-command escaping (toolkit/core command.ts).
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return terminal_safe(text)  # ESC, 8-bit CSI and bidi overrides would still reach the log viewer


def render_github(reports: Iterable[Report]) -> str:
    """GitHub Actions workflow commands: ``::error file=f,line=1,col=2,...::message``."""
    command = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    lines = []
    for r in reports:
        props = ",".join(
            f"{k}={_github_escape(str(v), property_value=True)}"
            for k, v in (
                ("file", _report_path(r.span.file)),
                ("line", r.span.line),
                ("col", r.span.column),
                ("endLine", r.span.end_line),
                ("endColumn", r.span.end_column),
                ("title", f"mfile {r.code}"),
            )
        )
        body = r.message + (f"\nhint: {r.hint}" if r.hint else "")
        lines.append(f"::{command[r.severity]} {props}::{_github_escape(body)}")
    return "\n".join(lines) + ("\n" if lines else "")


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _report_path(file: str) -> str:
    """A path as CI tools want it: relative to the working directory (the repository root in
    CI) when it lies below it, with forward slashes."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def _sarif_uri(file: str) -> str:
    """A URI reference (RFC 3986): relative paths percent-encoded, absolute ones as file: URIs."""
    path = _report_path(file)
    if path.startswith("/"):
        return Path(path).as_uri()
    return urllib.parse.quote(path, safe="/")


def render_sarif(reports: Iterable[Report], tool_version: str) -> str:
    """SARIF 2.1.0 log with one run; rules are the codes that occur, described from the registry."""
    reports = list(reports)
    codes = sorted({r.code for r in reports})
    rules = []
    for code in codes:
        kind = Diagnostic.registry.get(code)
        rule: dict[str, Any] = {"id": code}
        if kind is not None:
            rule["name"] = kind.__name__
            rule["shortDescription"] = {"text": kind.__name__}
            rule["fullDescription"] = {"text": kind.message}
            if kind.hint:
                rule["help"] = {"text": kind.hint}
            rule["defaultConfiguration"] = {"level": _sarif_level(kind.severity)}
        rules.append(rule)
    results = []
    for r in reports:
        text = r.message + (f" (hint: {r.hint})" if r.hint else "")
        results.append(
            {
                "ruleId": r.code,
                "ruleIndex": codes.index(r.code),
                "level": _sarif_level(r.severity),
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _sarif_uri(r.span.file)},
                            "region": {
                                "startLine": max(r.span.line, 1),
                                "startColumn": max(r.span.column, 1),
                                "endLine": max(r.span.end_line, 1),
                                "endColumn": max(r.span.end_column, 1),
                            },
                        }
                    }
                ],
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mfile",
                        "version": tool_version,
                        "informationUri": "https://github.com/mfile/mfile",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[severity]


def render_gitlab(reports: Iterable[Report]) -> str:
    """GitLab Code Quality report: a JSON array of Code Climate issues.

    GitLab reads ``description``, ``check_name``, ``fingerprint`` (stable across runs: it names
    the issue in merge-request widgets), ``severity`` (info | minor | major | critical |
    blocker) and ``location.path`` / ``location.lines.begin``; ``type``, ``categories``,
    ``content.body`` (the hint) and ``engine_name`` are the Code Climate fields GitLab shows in
    its details view.
    """
    severity = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}
    category = {Severity.ERROR: "Bug Risk", Severity.WARNING: "Style", Severity.INFO: "Clarity"}
    issues = []
    seen: dict[str, int] = {}
    for r in reports:
        path = _report_path(r.span.file)
        key = f"{r.code}:{path}:{r.span.line}:{r.span.column}:{r.message}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:  # the same diagnostic twice at one place still needs its own fingerprint
            key += f":{seen[key]}"
        issue: dict[str, Any] = {
            "type": "issue",
            "check_name": r.code,
            "description": f"{r.code}: {r.message}",
            "categories": [category[r.severity]],
            "severity": severity[r.severity],
            "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
            "location": {"path": path, "lines": {"begin": max(r.span.line, 1), "end": max(r.span.end_line, r.span.line, 1)}},
            "engine_name": "mfile",
        }
        if r.hint:
            issue["content"] = {"body": f"hint: {r.hint}"}
        issues.append(issue)
    return json.dumps(issues, indent=2) + "\n"


FORMATS = ("text", "json", "github", "sarif", "gitlab")


def render(
    fmt: str,
    reports: Iterable[Report],
    sources: dict[str, str],
    tool_version: str,
    colour: bool = False,
) -> str:
    reports = list(reports)
    if fmt == "text":
        return render_text(reports, sources, colour)
    if fmt == "json":
        return render_json(reports)
    if fmt == "github":
        return render_github(reports)
    if fmt == "sarif":
        return render_sarif(reports, tool_version)
    if fmt == "gitlab":
        return render_gitlab(reports)
    raise ValueError(f"unknown format {fmt!r}")


# --------------------------------------------------------------------------- input files


class UnreadableFile(Diagnostic):
    code = "E901"
    message = "cannot read {path!r}: {reason}"
    hint = "pass a readable M-File (*.mfile) or a directory that contains some"


class NotUtf8(Diagnostic):
    code = "E902"
    message = "file is not valid UTF-8 (byte {offset}: {reason})"
    hint = "save the M-File as UTF-8 text"


class FileTooLarge(Diagnostic):
    code = "E501"
    message = "file is {size} bytes, over the limit of {limit} bytes"
    hint = "split the workflow into several M-Files; see docs/security.md for the limits"


class SymlinkOutsideSkipped(Diagnostic):
    code = "E904"
    severity = Severity.WARNING
    message = "skipped {path!r}: a symbolic link to a file outside {directory!r}"
    hint = "check the file by naming it, or pass --follow-symlinks (its lines may then appear in the output)"


class BinaryFile(Diagnostic):
    code = "E903"
    message = "file contains a NUL byte at offset {offset}: this is not an M-File"
    hint = "check that the path points at a text M-File"
