"""What runs around lark: the bracket/string pre-scan and the indentation post-lexer.

The pre-scan is one regex pass over the text (comments, strings, brackets only). It finds
unterminated strings and unbalanced brackets with better messages than an LALR error can give
("unclosed '(' opened at 3:10"), and enforces the nesting limit *before* lark runs, so ten
thousand nested brackets cost one linear scan and never reach the parser. Because lark then
only ever sees balanced brackets, the post-lexer's bracket counting cannot go negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from lark.exceptions import LarkError
from lark.indenter import PythonIndenter
from lark.lexer import Token

from mfile.mfile_grammar import syntax

MAX_BRACKET_DEPTH = 100
MAX_INDENT_DEPTH = 100
# Tokens in one statement (brackets included): a 10,000-task pipeline literal is ~100,000.
# Beyond this the parse stops early instead of spending seconds and memory on one statement.
MAX_STATEMENT_TOKENS = 200_000

# Strings here match the grammar's STRING terminal (mfile.lark); the "open_*" alternatives
# catch a quote that starts no complete string, i.e. an unterminated one.
_SCAN = re.compile(
    r"""
      (?P<comment>\#[^\n]*)
    | (?P<string>\"\"\"[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*\"\"\"
                 |'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*''')
    | (?P<open_triple>\"\"\"|''')
    | (?P<short>"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"|'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*')
    | (?P<open_short>["'])
    | (?P<open>[(\[{])
    | (?P<close>[)\]}])
    """,
    re.VERBOSE,
)
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - text.rfind("\n", 0, offset)


@dataclass(frozen=True)
class ScanProblem:
    """The first lexical problem found: a diagnostic class, its position and arguments."""

    kind: type
    line: int
    column: int
    width: int
    args: dict


def prescan(text: str) -> ScanProblem | None:
    """First unterminated string or bracket problem in ``text``, or None."""
    stack: list[int] = []  # offsets of the open brackets
    for match in _SCAN.finditer(text):
        group = match.lastgroup
        if group == "open":
            stack.append(match.start())
            if len(stack) > MAX_BRACKET_DEPTH:
                line, col = position(text, match.start())
                return ScanProblem(syntax.NestingTooDeep, line, col, 1, {"limit": MAX_BRACKET_DEPTH})
        elif group == "close":
            close = match.group()
            line, col = position(text, match.start()) if not stack else (0, 0)
            if not stack:
                opener = {v: k for k, v in _PAIRS.items()}[close]
                return ScanProblem(
                    syntax.UnexpectedClosingBracket, line, col, 1, {"close": close, "open": opener}
                )
            start = stack.pop()
            opener = text[start]
            if _PAIRS[opener] != close:
                line, col = position(text, match.start())
                o_line, o_col = position(text, start)
                return ScanProblem(
                    syntax.MismatchedBracket,
                    line,
                    col,
                    1,
                    {"close": close, "open": opener, "line": o_line, "column": o_col,
                     "expected": _PAIRS[opener]},
                )
        elif group == "open_triple" or group == "open_short":
            line, col = position(text, match.start())
            quote = match.group()
            kind = "triple-quoted string" if len(quote) == 3 else "string"
            return ScanProblem(
                syntax.UnterminatedString, line, col, len(quote), {"what": kind, "quote": quote}
            )
    if stack:
        # The innermost open bracket: the one the user most likely forgot to close.
        line, col = position(text, stack[-1])
        opener = text[stack[-1]]
        return ScanProblem(
            syntax.UnclosedBracket,
            line,
            col,
            1,
            {"open": opener, "close": _PAIRS[opener], "line": line, "column": col},
        )
    return None


class IndentationProblem(LarkError):
    """Raised by the post-lexer (indentation, limits); parser.py turns it into a diagnostic."""

    def __init__(self, kind: type, line: int, column: int, **args: object) -> None:
        super().__init__(f"{kind.__name__} at {line}:{column}")
        self.kind, self.line, self.column, self.args_ = kind, line, column, args


def _indent_width(indent: str) -> int:
    """Columns of leading whitespace: tabs to the next multiple of 8; a form feed resets."""
    width = 0
    for char in indent.rsplit("\f", 1)[-1]:
        width = (width // 8 + 1) * 8 if char == "\t" else width + 1
    return width


class MFileIndenter(PythonIndenter):
    """lark's PythonIndenter with positioned INDENT/DEDENT tokens, a depth limit, no asserts.

    It also remembers the last two tokens it handed to the parser, so an UnexpectedToken
    error can say what came *before* the bad token ("expected an expression after '='"),
    and the first line of every statement longer than ``long_statement`` tokens: only those
    can be deeper than the parser's depth limit, so only those are walked (parser.py).
    """

    long_statement = 200

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.paren_level = 0
        self.indent_level = [0]
        self.previous: Token | None = None
        self.last: Token | None = None
        self.long_lines: list[int] = []
        return self._process_tracked(stream)

    def _emit(self, token: Token) -> Token:
        self.previous, self.last = self.last, token
        return token

    def _process_tracked(self, stream: Iterator[Token]) -> Iterator[Token]:
        token = None
        count, limit, first_line = 0, self.long_statement, 1
        for token in stream:
            kind = token.type
            if kind == "_NEWLINE":
                if self.paren_level <= 0:
                    if count > limit:
                        self.long_lines.append(first_line)
                    count = 0
                    yield self._emit(token)
                    yield from self._indentation(token)
                continue
            if not count:
                first_line = token.line
            count += 1
            if count > MAX_STATEMENT_TOKENS:
                raise IndentationProblem(syntax.StatementTooLong, first_line, 1,
                                         limit=MAX_STATEMENT_TOKENS)
            yield self._emit(token)
            if kind in ("LPAR", "LSQB", "LBRACE"):
                self.paren_level += 1
            elif kind in ("RPAR", "RSQB", "RBRACE"):
                self.paren_level -= 1
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            if token is None:
                yield self._emit(Token("_DEDENT", "", 0, 1, 1, 1, 1, 0))
            else:
                yield self._emit(Token.new_borrow_pos("_DEDENT", "", token))

    def _indentation(self, newline: Token) -> Iterator[Token]:
        indent_str = newline.value.rsplit("\n", 1)[1]
        indent = _indent_width(indent_str)
        line, column = newline.end_line, newline.end_column
        levels = self.indent_level
        if indent > levels[-1]:
            if len(levels) > MAX_INDENT_DEPTH:
                raise IndentationProblem(syntax.IndentTooDeep, line, 1, limit=MAX_INDENT_DEPTH)
            levels.append(indent)
            yield self._emit(Token("_INDENT", indent_str, newline.end_pos - len(indent_str),
                                   line, 1, line, column, newline.end_pos))
            return
        while indent < levels[-1]:
            levels.pop()
            yield self._emit(Token("_DEDENT", "", newline.end_pos, line, column, line, column,
                                   newline.end_pos))
        if indent != levels[-1]:
            raise IndentationProblem(
                syntax.BadIndentation,
                line,
                column,
                detail="unindent does not match any outer indentation level",
            )
