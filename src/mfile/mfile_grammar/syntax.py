"""Syntax diagnostics (E0xx) and the parser's limits (E51x): one class per code.

Reading the file (``source.py``) reports E901 unreadable, E902 not UTF-8, E903 binary and
E501 too large, all defined in ``mfile/diagnostics.py``. The parser reports:

=====  ===========================  ==========================================================
code   class                        what
=====  ===========================  ==========================================================
E001   InvalidSyntax                any other syntax error (names the unexpected token and
                                    what was expected, e.g. "expected an expression after '='")
E002   UnterminatedString           a string or triple-quoted string never closed
E003   UnclosedBracket              "unclosed '(' opened at 3:10"
E004   UnexpectedClosingBracket     "unexpected ')'": nothing is open
E005   MismatchedBracket            "']' does not match '(' opened at 3:10"
E006   BadIndentation               unexpected indent, inconsistent dedent, missing block
E007   InvalidCharacter             a character that is no token ('$', '?', smart quotes, NBSP)
E008   NonAsciiName                 identifiers must be ASCII (they become task ids and file
                                    names); decided here, see docs
E009   InvalidEscape                a string escape Python would refuse (``\\x4``, ``\\N{nope}``)
E010   FunctionDef                  ``def``
E011   ClassDef                     ``class``
E012   Lambda                       ``lambda``
E013   Decorator                    ``@decorator``
E014   Import                       ``import x`` / ``from x import y``
E015   Loop                         ``for`` / ``while``
E016   IfStatement                  ``if`` / ``elif`` / ``else``
E017   ConditionalExpression        ``a if c else b``
E018   WithStatement                ``with``
E019   TryStatement                 ``try`` / ``except`` / ``finally``
E020   Comprehension                list/dict/set comprehensions and generator expressions
E021   FString                      ``f"..."``
E022   StringPrefix                 any other prefix but r/u (``b""``, ``rb""``, ...)
E023   Starred                      ``*args`` / ``**kwargs`` / ``*a, b = ...`` / ``{**d}``
E024   Subscript                    ``a[0]``, ``a[1:2]``
E025   AugmentedAssign              ``a += 1`` and the other ``op=``
E026   Return                       ``return``
E027   Yield                        ``yield`` / ``yield from``
E028   GlobalStatement              ``global`` / ``nonlocal``
E029   Delete                       ``del``
E030   Assert                       ``assert``
E031   Async                        ``async`` / ``await``
E032   Walrus                       ``:=``
E033   Comparison                   ``== != < > <= >= in not in is is not``
E034   BooleanOperator              ``and`` / ``or`` / ``not``
E035   BitwiseOperator              ``| & ^ ~ << >>`` and matrix ``@``
E036   Semicolon                    ``a = 1; b = 2`` (both statements are kept)
E037   InvalidAssignTarget          assignment to an attribute, call, literal, nested tuple
E038   ChainedAssign                ``a = b = 1``
E039   AnnotatedAssign              ``a: int = 1``
E040   SetLiteral                   ``{1, 2}``
E041   EllipsisLiteral              ``...``
E042   Raise                        ``raise``
E043   ControlStatement             ``pass`` / ``break`` / ``continue``
E044   PositionalAfterKeyword       ``f(a=1, 2)``
E045   DuplicateKeyword             ``f(a=1, a=2)``
E046   ComplexNumber                ``1j``
E047   InvalidNumber                ``007`` (leading zeros)
E510   NestingTooDeep               brackets nested deeper than 100 (checked before parsing)
E511   ExpressionTooDeep            an expression more than 200 levels deep (``1+1+...``)
E512   IndentTooDeep                more than 100 levels of indentation
E513   TooManyProblems              more than 500 problems in one file: the rest are dropped
E514   NumberTooLong                an integer literal with more than 4300 digits
E515   StatementTooLong             a statement of more than 200,000 tokens (parsing stops)
E516   NameTooLong                  a name of more than 100 characters (names become file names)
=====  ===========================  ==========================================================

Inside a refused construct nothing else is reported (``def f(): import x`` gives E010 only):
one diagnostic per outermost problem, so fixing it shows what is left.
"""

from __future__ import annotations

from mfile.diagnostics import Diagnostic

_PAYLOAD = "put code in an item payload (payload.py) and call the item from the M-File"


class InvalidSyntax(Diagnostic):
    code = "E001"
    message = "invalid syntax: {detail}"
    hint = "an M-File is Python syntax restricted to assignments, calls and literals"


class UnterminatedString(Diagnostic):
    code = "E002"
    message = "unterminated {what}"
    hint = "close the string with {quote} on the same line (triple quotes may span lines)"


class UnclosedBracket(Diagnostic):
    code = "E003"
    message = "unclosed '{open}' opened at {line}:{column}"
    hint = "add the matching '{close}'"


class UnexpectedClosingBracket(Diagnostic):
    code = "E004"
    message = "unexpected '{close}': no bracket is open"
    hint = "remove it, or add the missing '{open}' before it"


class MismatchedBracket(Diagnostic):
    code = "E005"
    message = "'{close}' does not match '{open}' opened at {line}:{column}"
    hint = "close '{open}' with '{expected}' first"


class BadIndentation(Diagnostic):
    code = "E006"
    message = "{detail}"
    hint = "M-File statements start at column 1; indent only inside brackets"


class InvalidCharacter(Diagnostic):
    code = "E007"
    message = "invalid character {char} ({name})"
    hint = "remove it"


class NonAsciiName(Diagnostic):
    code = "E008"
    message = "name {name!r} is not ASCII"
    hint = "use ASCII letters, digits and '_': names become task ids, file names and Slurm job names"


class InvalidEscape(Diagnostic):
    code = "E009"
    message = "invalid escape in string: {reason}"
    hint = r"write a backslash as '\\' or use a raw string r'...'"


class FunctionDef(Diagnostic):
    code = "E010"
    message = "function definitions ('def') are not allowed"
    hint = "M-Files cannot define functions; " + _PAYLOAD


class ClassDef(Diagnostic):
    code = "E011"
    message = "class definitions are not allowed"
    hint = "M-Files cannot define classes; " + _PAYLOAD


class Lambda(Diagnostic):
    code = "E012"
    message = "'lambda' is not allowed"
    hint = "M-Files cannot define functions; " + _PAYLOAD


class Decorator(Diagnostic):
    code = "E013"
    message = "decorators are not allowed"
    hint = "remove the decorator; M-Files cannot define functions or classes"


class Import(Diagnostic):
    code = "E014"
    message = "'{keyword}' is not allowed"
    hint = (
        "all M-File builtins are predefined; remove the import "
        '(items are named with MantikItem(name="namespace/name:version"))'
    )


class Loop(Diagnostic):
    code = "E015"
    message = "'{keyword}' loops are not allowed"
    hint = "list the tasks explicitly; for a parameter sweep use HyperParameterSearch"


class IfStatement(Diagnostic):
    code = "E016"
    message = "'if' statements are not allowed"
    hint = "list the tasks explicitly; write one pipeline per variant"


class ConditionalExpression(Diagnostic):
    code = "E017"
    message = "conditional expressions ('a if c else b') are not allowed"
    hint = "write the value you want; list the tasks explicitly"


class WithStatement(Diagnostic):
    code = "E018"
    message = "'with' statements are not allowed"
    hint = "resources are set per task with configure(resources={{...}}); " + _PAYLOAD


class TryStatement(Diagnostic):
    code = "E019"
    message = "'try' statements are not allowed"
    hint = "failures are handled per task by the runtime (mfile submit --resume); remove the try"


class Comprehension(Diagnostic):
    code = "E020"
    message = "{what} are not allowed"
    hint = "list the elements explicitly"


class FString(Diagnostic):
    code = "E021"
    message = "f-strings are not allowed"
    hint = "write the string out in full; pass other values as separate arguments"


class StringPrefix(Diagnostic):
    code = "E022"
    message = "string prefix {prefix!r} is not allowed"
    hint = "use a plain string '...' (raw strings r'...' are allowed)"


class Starred(Diagnostic):
    code = "E023"
    message = "unpacking with '{star}' is not allowed"
    hint = "write each argument or element out by name"


class Subscript(Diagnostic):
    code = "E024"
    message = "subscripts ('a[...]') are not allowed"
    hint = "use attribute access (task.output.train) or set_input with names"


class AugmentedAssign(Diagnostic):
    code = "E025"
    message = "augmented assignment '{op}' is not allowed"
    hint = "assign the value once: x = 1 + 2 (constant arithmetic is allowed)"


class Return(Diagnostic):
    code = "E026"
    message = "'return' is not allowed"
    hint = "an M-File is not a function; remove the return"


class Yield(Diagnostic):
    code = "E027"
    message = "'yield' is not allowed"
    hint = "list the tasks explicitly"


class GlobalStatement(Diagnostic):
    code = "E028"
    message = "'{keyword}' is not allowed"
    hint = "every name in an M-File is global already; remove the statement"


class Delete(Diagnostic):
    code = "E029"
    message = "'del' is not allowed"
    hint = "remove the statement; an unused name is harmless"


class Assert(Diagnostic):
    code = "E030"
    message = "'assert' is not allowed"
    hint = "types are checked by mfile check; data is checked at run time against the item headers"


class Async(Diagnostic):
    code = "E031"
    message = "'{keyword}' is not allowed"
    hint = "tasks run in parallel when the pipeline allows it; remove '{keyword}'"


class Walrus(Diagnostic):
    code = "E032"
    message = "assignment expressions (':=') are not allowed"
    hint = "assign with '=' in a statement of its own"


class Comparison(Diagnostic):
    code = "E033"
    message = "comparison '{op}' is not allowed"
    hint = "M-Files have no run-time conditions; write the value you want"


class BooleanOperator(Diagnostic):
    code = "E034"
    message = "boolean operator '{op}' is not allowed"
    hint = "M-Files have no run-time conditions; write True or False"


class BitwiseOperator(Diagnostic):
    code = "E035"
    message = "operator '{op}' is not allowed"
    hint = "constant arithmetic allows + - * / // % ** only"


class Semicolon(Diagnostic):
    code = "E036"
    message = "';' between statements is not allowed"
    hint = "put each statement on its own line"


class InvalidAssignTarget(Diagnostic):
    code = "E037"
    message = "cannot assign to {what}"
    hint = "assign to a plain name (a = ...) or a tuple of names (a, b = ...)"


class ChainedAssign(Diagnostic):
    code = "E038"
    message = "chained assignment ('a = b = ...') is not allowed"
    hint = "assign once and reuse the name: a = ...; b = a"


class AnnotatedAssign(Diagnostic):
    code = "E039"
    message = "type annotations are not allowed"
    hint = "remove ': type'; types come from the item headers"


class SetLiteral(Diagnostic):
    code = "E040"
    message = "set literals ('{{a, b}}') are not allowed"
    hint = "use a list [a, b], or a dict {{key: value}}"


class EllipsisLiteral(Diagnostic):
    code = "E041"
    message = "'...' is not allowed"
    hint = "write the value out"


class Raise(Diagnostic):
    code = "E042"
    message = "'raise' is not allowed"
    hint = "report problems from the item payload; the runtime marks the task failed"


class ControlStatement(Diagnostic):
    code = "E043"
    message = "'{keyword}' is not allowed"
    hint = "remove it; an M-File is a list of assignments and calls"


class PositionalAfterKeyword(Diagnostic):
    code = "E044"
    message = "positional argument follows keyword argument"
    hint = "put positional arguments first, or name this one too"


class DuplicateKeyword(Diagnostic):
    code = "E045"
    message = "keyword argument {name!r} repeated"
    hint = "give each keyword once"


class ComplexNumber(Diagnostic):
    code = "E046"
    message = "complex number {text!r} is not allowed"
    hint = "use int or float values"


class InvalidNumber(Diagnostic):
    code = "E047"
    message = "invalid number {text!r}: {reason}"
    hint = "write decimal integers without leading zeros (0o17 for octal)"


class NestingTooDeep(Diagnostic):
    code = "E510"
    message = "brackets nested more than {limit} deep"
    hint = "flatten the expression: assign inner parts to names first"


class ExpressionTooDeep(Diagnostic):
    code = "E511"
    message = "expression nested more than {limit} levels deep"
    hint = "split the expression: assign parts of it to names first"


class IndentTooDeep(Diagnostic):
    code = "E512"
    message = "more than {limit} levels of indentation"
    hint = "M-File statements start at column 1"


class TooManyProblems(Diagnostic):
    code = "E513"
    message = "more than {limit} problems in this file; the rest are not reported"
    hint = "fix these first"


class NumberTooLong(Diagnostic):
    code = "E514"
    message = "integer literal with {digits} digits, over the limit of {limit}"
    hint = "write large values as floats (1e100)"


class NameTooLong(Diagnostic):
    code = "E516"
    message = "name of {length} characters, over the limit of {limit}"
    hint = "names become task ids, file names and Slurm job names: choose a shorter one"


class StatementTooLong(Diagnostic):
    code = "E515"
    message = "statement longer than {limit} tokens"
    hint = "split it: assign parts of it to names first"
