"""Fuzzing the front end: ``decode_source``/``read_source`` + ``parse`` never raise, never hang.

Three generators: a grammar-aware one (random statements built from the allowed *and* the
refused constructs, checked against CPython's own parser as an oracle), byte-level mutation
of real M-Files, and random bytes. Example counts are bounded so the file runs in seconds.
"""

from __future__ import annotations

import ast as python_ast
import re
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfile.diagnostics import Diagnostic, Reporter
from mfile.mfile_grammar import ast
from mfile.mfile_grammar.parser import parse
from mfile.mfile_grammar.source import decode_source, read_source

# The recursive strategies' own repr is large; hypothesis warns about it, harmlessly.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

CASES = Path(__file__).parent / "cases"
SEEDS = [p.read_bytes() for p in sorted(CASES.glob("*/*.mfile"))][:40] or [b"x = 1\n"]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECONDS_PER_PARSE = 2.0


def front_end(data: bytes) -> tuple[ast.Module | None, Reporter]:
    """What ``mfile check`` does with a file's bytes, timed and checked for sane output."""
    reporter = Reporter()
    start = time.perf_counter()
    text = decode_source(data, "fuzz.mfile", reporter)
    module = parse(text, "fuzz.mfile", reporter) if text is not None else None
    assert time.perf_counter() - start < SECONDS_PER_PARSE
    for report in reporter.reports:
        assert report.code in Diagnostic.registry
        assert report.span.line >= 1 and report.span.column >= 1
        assert not re.search(r"\{[a-z_]+\}", report.message)  # every placeholder filled in
    if text is not None and module is None:
        assert reporter.has_errors  # None only after saying why
    return module, reporter


# --------------------------------------------------------------------------- grammar-aware

NAMES = st.sampled_from(["a", "b", "data", "train", "split", "MantikItem", "HyperParameter", "x1"])
ATOMS = st.one_of(
    NAMES,
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(['"s"', "'t'", '"""u\nv"""', "r'\\d'", "True", "None", "0x1F", "1_000", "1e-3"]),
    # refused atoms
    st.sampled_from(['f"{a}"', 'b"x"', "...", "{1, 2}", "1j", "lambda q: q"]),
)


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} + {p[1]}"),
        pair.map(lambda p: f"({p[0]}) * {p[1]}"),
        pair.map(lambda p: f"{p[0]} ** -{p[1]}"),
        children.map(lambda c: f"-{c}"),
        children.map(lambda c: f"[{c}, 1,]"),
        children.map(lambda c: f"({c},)"),
        pair.map(lambda p: f"{{{p[0]}: {p[1]}}}"),
        children.map(lambda c: f"({c}).attr"),
        pair.map(lambda p: f"{p[0]}({p[1]}, key=k)"),
        # refused expressions
        pair.map(lambda p: f"{p[0]}[{p[1]}]"),
        pair.map(lambda p: f"{p[0]} if {p[1]} else 0"),
        pair.map(lambda p: f"{p[0]} == {p[1]}"),
        pair.map(lambda p: f"{p[0]} and not {p[1]}"),
        pair.map(lambda p: f"{p[0]} | {p[1]}"),
        children.map(lambda c: f"[q for q in {c}]"),
        children.map(lambda c: f"f(*{c}, **k)"),
        children.map(lambda c: f"(n := {c})"),
    )


EXPRS = st.recursive(ATOMS, _compound, max_leaves=12)


def _statement() -> st.SearchStrategy[str]:
    e = EXPRS
    return st.one_of(
        st.tuples(NAMES, e).map(lambda p: f"{p[0]} = {p[1]}"),
        st.tuples(NAMES, NAMES, e).map(lambda p: f"{p[0]}, {p[1]} = {p[2]}"),
        e,
        st.tuples(NAMES, e).map(lambda p: f"{p[0]} += {p[1]}"),
        st.tuples(NAMES, e).map(lambda p: f"{p[0]}.b = {p[1]}"),
        st.tuples(NAMES, e).map(lambda p: f"def {p[0]}():\n    return {p[1]}"),
        st.tuples(NAMES, e).map(lambda p: f"for {p[0]} in {p[1]}:\n    pass"),
        st.tuples(e, e).map(lambda p: f"if {p[0]}:\n    x = {p[1]}\nelse:\n    y = 1"),
        st.tuples(NAMES, e).map(lambda p: f"class {p[0]}:\n    v = {p[1]}"),
        st.tuples(e, NAMES).map(lambda p: f"with {p[0]} as {p[1]}:\n    pass"),
        st.sampled_from(["import os", "from a import b", "global a", "del a", "pass",
                         "assert a", "raise E", "@d\ndef g(): pass", "a = 1; b = 2",
                         "try:\n    a\nexcept E:\n    b", "while a:\n    break"]),
    )


PROGRAMS = st.lists(_statement(), max_size=12).map(lambda stmts: "\n".join(stmts) + "\n")


@FUZZ
@given(PROGRAMS)
def test_generated_programs_parse_like_cpython(src):
    module, reporter = front_end(src.encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            python_ast.parse(src)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return
    # Python's grammar accepts it, so ours must too: refused constructs are reported, not fatal.
    assert module is not None, reporter.reports
    assert all(r.code < "E500" for r in reporter.reports)


ALLOWED = st.lists(
    st.tuples(NAMES, st.recursive(
        st.one_of(NAMES, st.integers(0, 99).map(str), st.just('"s"')),
        lambda c: st.one_of(
            st.tuples(c, c).map(lambda p: f"{p[0]} + {p[1]}"),
            c.map(lambda x: f"[{x}]"),
            st.tuples(c, c).map(lambda p: f"{p[0]}({p[1]}, k=1)"),
            c.map(lambda x: f"({x}).attr"),
            st.tuples(c, c).map(lambda p: f"{{{p[0]}: {p[1]}}}"),
        ),
        max_leaves=10,
    )).map(lambda p: f"{p[0]} = {p[1]}"),
    max_size=10,
).map(lambda stmts: "\n".join(stmts) + "\n")


@FUZZ
@given(ALLOWED)
def test_allowed_programs_have_no_diagnostics_and_one_node_per_statement(src):
    module, reporter = front_end(src.encode())
    assert reporter.reports == [] and module is not None
    assert len(module.body) == len(python_ast.parse(src).body)


# --------------------------------------------------------------------------- byte level


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(
                [b"(", b")", b"[", b"'", b'"""', b"\\", b"\n  ", b"\t", b"\r", b"\x00", b"\xff",
                 b"\xe2\x80\x9c", b"def ", b":", b"#", b"\f", b"=", b","]))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 10))]
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_mfiles_never_raise(data):
    front_end(data)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data):
    front_end(data)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200))
def test_read_source_never_raises(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.mfile"
    path.write_bytes(data)
    reporter = Reporter()
    text = read_source(path, reporter)
    assert (text is None) == bool(reporter.reports)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_never_raises(text):
    # parse() is also called on text that did not come from a file (tests, editors, stdin).
    reporter = Reporter()
    module = parse(text, "fuzz.mfile", reporter)
    assert module is not None or reporter.has_errors
