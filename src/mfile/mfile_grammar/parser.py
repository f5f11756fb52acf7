"""Parse M-File source into the AST: ``parse(source, file, reporter) -> ast.Module | None``.

Pipeline: normalise line endings → pre-scan strings and brackets (scan.py) → lark LALR with
the indentation post-lexer, whose reductions call the transformer (transform.py) directly:
AST nodes are built as the parser goes, with no parse tree in between and no recursion, and
refused constructs are reported and parsing goes on. ``None`` comes back only after a syntax error (E00x)
or a limit (E51x) that leaves nothing meaningful to check.

The grammar is loaded once per process. Its compiled tables are cached (``cache=``) in a
directory only this user can write: lark's default cache is a pickle in the shared /tmp,
which another user of a login node could plant.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import threading
import tokenize
import unicodedata
from pathlib import Path

import lark
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from mfile.diagnostics import Reporter, Span
from mfile.mfile_grammar import ast, syntax
from mfile.mfile_grammar.nodes import too_deep
from mfile.mfile_grammar.scan import IndentationProblem, MFileIndenter, prescan
from mfile.mfile_grammar.transform import MAX_EXPR_DEPTH, ToAst

GRAMMAR = Path(__file__).with_name("mfile.lark")
MAX_SYNTAX_ERRORS = 20  # per file: after that, what is left is rarely worth reading
# Each further error costs one more parse: at most RETRY_BUDGET times the file's length (but
# always RETRY_FLOOR characters, so a small file gets all its errors), keeping check linear.
RETRY_BUDGET, RETRY_FLOOR = 4, 200_000


def _cache_path() -> str | bool:
    """A private cache file for the compiled grammar, or False when there is no safe place."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "mfile")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return False
    except (OSError, AttributeError):  # read-only home, or no getuid (Windows)
        return False
    version = f"lark{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    return os.path.join(directory, f"grammar-{version}.cache")


def _load() -> Lark:
    # The transformer runs inside the parser: no parse tree, no propagate_positions (which
    # cost more than the parse itself); positions come from tokens, see transform.py.
    options = dict(
        parser="lalr",
        start="file_input",
        postlex=MFileIndenter(),
        transformer=ToAst(),
        maybe_placeholders=False,
    )
    try:
        return Lark(GRAMMAR.read_text(encoding="utf-8"), cache=_cache_path(), **options)
    except Exception:  # a corrupt or foreign cache file: build without it
        return Lark(GRAMMAR.read_text(encoding="utf-8"), **options)


_PARSER = _load()
_INDENTER: MFileIndenter = _PARSER.options.postlex
_BUILDER: ToAst = _PARSER.options.transformer
_INDENTER.long_statement = MAX_EXPR_DEPTH
_LOCK = threading.Lock()  # the post-lexer and the transformer keep per-parse state

_OPENERS = {"LPAR", "LSQB", "LBRACE"}
_EXPR_START = {"NAME", "NUMBER", "STRING"}
_VALUE_END = {"NAME", "NUMBER", "STRING", "RPAR", "RSQB", "RBRACE", "NONE", "TRUE", "FALSE"}
_CHAR_HINTS = {
    "\u201c": 'use a straight double quote "', "\u201d": 'use a straight double quote "',
    "\u2018": "use a straight single quote '", "\u2019": "use a straight single quote '",
    "\u2013": "use '-'", "\u2014": "use '-'", "\u2212": "use '-'",
    "\u00a0": "replace it with a space", "\u200b": "delete it (it is invisible)",
    "\ufeff": "delete it (it is invisible)", "\\": "a backslash continues a line only at its end",
    "$": "M-Files have no variables with '$'; write the value or use a name",
    "?": "remove it", "!": "comparisons are not allowed in M-Files",
    "`": "use quotes for strings",
}


def parse(source: str, file: str, reporter: Reporter) -> ast.Module | None:
    """The AST of ``source``; problems go to ``reporter``. Never raises on bad input."""
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    problem = prescan(text)
    if problem is not None:
        span = Span(file, problem.line, problem.column, problem.line, problem.column + problem.width)
        reporter.report(problem.kind, span, **problem.args)
        return None
    if _leading_indent(text, file, reporter):
        return None
    # Trailing blank lines with spaces would end in an INDENT; a final newline is required.
    body = text.rstrip(" \t\f\n") + "\n"
    with _LOCK:
        enabled = gc.isenabled()
        gc.disable()  # lark allocates many small objects; collections make parsing superlinear
        try:
            errors = 0
            budget = max(RETRY_BUDGET * len(body), RETRY_FLOOR)  # characters re-parsed: stays linear
            while True:  # after a syntax error, blank that statement out and parse again
                _BUILDER.reset(file)
                try:
                    statements = _PARSER.parse(body)
                    break
                except UnexpectedInput as exc:
                    line = _report_parse_error(exc, body, file, reporter)
                    errors += 1
                    budget -= len(body)
                    more = line and errors < MAX_SYNTAX_ERRORS and budget > 0
                    retry = _without_statement(body, line) if more else None
                    if retry is None:
                        return None
                    body = retry
                except IndentationProblem as exc:
                    span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
                    reporter.report(exc.kind, span, **exc.args_)
                    return None
            if errors:  # the rest parsed; checking names or types now would only add follow-on errors
                return None
            statements = _limit_depth(statements, set(_INDENTER.long_lines), file)
            _BUILDER.report_into(reporter)
        finally:
            if enabled:
                gc.enable()
    return _module(statements, text, file)


def _limit_depth(statements: list, long_lines: set[int], file: str) -> list:
    """Replace statements holding an expression deeper than MAX_EXPR_DEPTH (E511).

    A statement of at most MAX_EXPR_DEPTH tokens cannot be that deep, so only the long ones
    the post-lexer noted are walked; the passes after the parser recurse over expressions.
    """
    if not long_lines:
        return statements
    out = []
    for stmt in statements:
        deep = too_deep(stmt, MAX_EXPR_DEPTH) if stmt.span.line in long_lines else None
        if deep is None:
            out.append(stmt)
            continue
        value = getattr(stmt, "value", stmt)  # report the whole expression, from its start
        span = Span(file, value.span.line, value.span.column, value.span.line, value.span.column + 1)
        _BUILDER._reject(syntax.ExpressionTooDeep, span, span, limit=MAX_EXPR_DEPTH)
        out.append(ast.RejectedStmt(stmt.span, "expression too deep"))
    return out


def _module(statements: list, text: str, file: str) -> ast.Module:
    lines = text.split("\n")
    end = Span(file, 1, 1, len(lines), len(lines[-1]) + 1)
    docstring = None
    if statements:
        first = statements[0]
        if (
            isinstance(first, ast.ExprStmt)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            docstring = first.value
            statements = statements[1:]
    return ast.Module(end, tuple(statements), docstring)


def _leading_indent(text: str, file: str, reporter: Reporter) -> bool:
    """The first line is indented (no NEWLINE token precedes it, so lark would not notice)."""
    first_line = text.split("\n", 1)[0]
    stripped = first_line.lstrip(" \t\f")
    if not stripped or stripped[0] == "#" or stripped[0] == "\\":
        return False
    indent = first_line[: len(first_line) - len(stripped)].rsplit("\f", 1)[-1]
    if not indent:
        return False
    column = len(first_line) - len(stripped) + 1
    reporter.report(syntax.BadIndentation, Span(file, 1, 1, 1, column), detail="unexpected indent")
    return True


# --------------------------------------------------------------------------- error messages


def _describe(tok: Token | None) -> str:
    if tok is None:
        return "start of file"
    kind, value = tok.type, str(tok)
    if kind == "$END":
        return "end of file"
    if kind == "_NEWLINE":
        return "end of line"
    if kind in ("_INDENT", "_DEDENT"):
        return "indentation"
    if kind == "NAME":
        return f"name {_short(value)!r}"
    if kind == "NUMBER":
        return f"number {_short(value)}"
    if kind == "STRING":
        return "string"
    if value.isalpha():
        return f"keyword '{value}'"
    return f"'{value}'"


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def _terminal_text(name: str) -> str:
    if name in ("NAME",):
        return "a name"
    if name == "NUMBER":
        return "a number"
    if name == "STRING":
        return "a string"
    if name in ("_NEWLINE", "$END"):
        return "end of line"
    if name in ("_INDENT", "_DEDENT"):
        return "an indented block"
    try:
        pattern = _PARSER.get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def _expected(names: set[str]) -> str:
    if _EXPR_START <= names:
        rest = sorted(n for n in names if n in ("RPAR", "RSQB", "RBRACE", "_NEWLINE"))
        return " or ".join(["an expression"] + [_terminal_text(n) for n in rest])
    texts = sorted({_terminal_text(n) for n in names})
    if len(texts) > 6:
        return ""
    return " or ".join(texts)


def _without_statement(body: str, line: int) -> str | None:
    """``body`` with the logical line that holds ``line`` blanked (line numbers kept), or None
    when there is no such statement to take out (then parsing stops at the first error)."""
    start = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(body).readline):
            if tok.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT) and start is None:
                continue
            if start is None:
                start = tok.start[0]
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if start <= line <= tok.end[0]:
                    lines = body.split("\n")
                    for number in range(start, min(tok.end[0], len(lines)) + 1):
                        lines[number - 1] = ""
                    blanked = "\n".join(lines)
                    return blanked if blanked != body and blanked.strip() else None
                start = None
    except (tokenize.TokenError, SyntaxError):  # what Python cannot split, we do not guess at
        return None
    return None


def _report_parse_error(exc: UnexpectedInput, body: str, file: str, reporter: Reporter) -> int | None:
    """Report the error; the line it is on, or None at the end of the file."""
    if isinstance(exc, UnexpectedCharacters):
        char = body[exc.pos_in_stream] if exc.pos_in_stream < len(body) else ""
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        name = unicodedata.name(char, f"U+{ord(char):04X}") if char else "end of file"
        hint = _CHAR_HINTS.get(char)
        if char.isprintable() and not char.isspace():
            shown = repr(char)
        else:
            shown = f"U+{ord(char):04X}" if char else "''"
        reporter.report(syntax.InvalidCharacter, span, char=shown, name=name.lower(),
                        **({"hint": hint} if hint else {}))
        return span.line
    tok = getattr(exc, "token", None)
    # The contextual lexer raises some errors before the post-lexer sees the bad token.
    last = _INDENTER.last
    previous = _INDENTER.previous if last is not None and last is tok else last
    expected = set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ())
    if tok is None or isinstance(exc, UnexpectedEOF):
        line, column = _end_position(body)
        reporter.report(syntax.InvalidSyntax, Span(file, line, column, line, column + 1),
                        detail="unexpected end of file")
        return None
    span = Span(file, tok.line or 1, tok.column or 1, tok.end_line or tok.line or 1,
                max(tok.end_column or 0, (tok.column or 1) + 1))
    kind = tok.type
    if kind == "_INDENT":
        reporter.report(syntax.BadIndentation, span, detail="unexpected indent")
        return None  # the lines after it are all suspect
    if "_INDENT" in expected:
        reporter.report(syntax.BadIndentation, span, detail="expected an indented block after ':'",
                        hint="M-Files have no blocks; see the error for the statement itself")
        return None
    if kind in ("_NEWLINE", "$END") and _EXPR_START <= expected and previous is not None:
        if kind == "$END" or previous.type != "_NEWLINE":
            where = Span(file, previous.line, previous.column, previous.end_line,
                         previous.end_column)
            reporter.report(syntax.InvalidSyntax, where,
                            detail=f"expected an expression after {_describe(previous)}")
            return where.line if kind == "_NEWLINE" else None
    detail = f"unexpected {_describe(tok)}"
    if previous is not None and previous.type in _VALUE_END and (
        kind in _EXPR_START or kind in _OPENERS and kind != "LPAR"
    ):
        detail += f" after {_describe(previous)}"
        reporter.report(syntax.InvalidSyntax, span, detail=detail,
                        hint="is a ',' or an operator missing between them?")
        return span.line
    wanted = _expected(expected)
    if wanted:
        detail += f"; expected {wanted}"
    hint = None
    if str(tok).isalpha() and kind != "NAME":
        hint = f"'{tok}' is a reserved word and cannot be used as a name"
    elif previous is not None and str(previous).isalpha() and previous.type != "NAME":
        hint = f"'{previous}' is a reserved word; if it is meant as a name, choose another"
    reporter.report(syntax.InvalidSyntax, span, detail=detail, **({"hint": hint} if hint else {}))
    return span.line if kind != "$END" else None


def _end_position(body: str) -> tuple[int, int]:
    stripped = body.rstrip("\n")
    line = stripped.count("\n") + 1
    return line, len(stripped) - stripped.rfind("\n")
