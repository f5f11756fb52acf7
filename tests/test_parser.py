"""The M-File parser: AST shapes and spans, refused constructs, syntax errors, hostile input.

Tests assert codes and positions ``(code, line, column)``, not wording (STYLE.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfile.diagnostics import Diagnostic, Reporter, Span
from mfile.mfile_grammar import ast
from mfile.mfile_grammar.parser import parse
from mfile.mfile_grammar.source import MAX_BYTES, read_source

CASES = Path(__file__).parent / "cases"


def run(src: str) -> tuple[ast.Module | None, list[tuple[str, int, int]]]:
    reporter = Reporter()
    module = parse(src, "t.mfile", reporter)
    return module, [(r.code, r.span.line, r.span.column) for r in reporter.sorted()]


def ok(src: str) -> ast.Module:
    module, codes = run(src)
    assert codes == [] and module is not None
    return module


def S(line: int, col: int, end_line: int, end_col: int) -> Span:
    return Span("t.mfile", line, col, end_line, end_col)


# --------------------------------------------------------------------------- allowed syntax


def test_empty_and_blank_files_are_empty_modules():
    for src in ["", "\n\n", "# only a comment", "   \n\t\n", "\f\n"]:
        module = ok(src)
        assert module.body == () and module.docstring is None


def test_assignment_with_call_and_keywords_has_exact_spans():
    module = ok('get_data = MantikItem(name="mantikai/binary:v1")\n')
    (stmt,) = module.body
    assert stmt == ast.Assign(
        S(1, 1, 1, 49),
        (ast.Name(S(1, 1, 1, 9), "get_data"),),
        ast.Call(
            S(1, 12, 1, 49),
            ast.Name(S(1, 12, 1, 22), "MantikItem"),
            (),
            (
                ast.Keyword(
                    S(1, 23, 1, 48), "name", S(1, 23, 1, 27),
                    ast.Constant(S(1, 28, 1, 48), "mantikai/binary:v1"),
                ),
            ),
        ),
    )


def test_method_chain_over_lines_and_attribute_spans():
    src = 'train = MantikItem(name="a/b").configure(\n    params={"batch_size": bs},\n)\n'
    (stmt,) = ok(src).body
    call = stmt.value
    assert isinstance(call, ast.Call) and call.span == S(1, 9, 3, 2)
    attr = call.func
    assert isinstance(attr, ast.Attribute) and attr.attr == "configure"
    assert attr.attr_span == S(1, 32, 1, 41)
    (kw,) = call.keywords
    assert kw.name == "params" and kw.name_span == S(2, 5, 2, 11)
    (entry,) = kw.value.entries
    assert entry.key == ast.Constant(S(2, 13, 2, 25), "batch_size")
    assert entry.value == ast.Name(S(2, 27, 2, 29), "bs")


def test_unpacking_assignments():
    for src in ["a, b = x\n", "(a, b) = x\n", "[a, b] = x\n", "a, b, = x\n"]:
        (stmt,) = ok(src).body
        assert stmt.unpack and [t.id for t in stmt.targets] == ["a", "b"], src
    (stmt,) = ok("a, = x\n").body
    assert stmt.unpack and [t.id for t in stmt.targets] == ["a"]


def test_literals():
    src = (
        "a = 1_000\nb = 0x1F\nc = 1e-3\nd = .5\ne = True\nf = None\ng = False\n"
        "h = 'x' \"y\"\ni = r'\\n'\nj = '\\x41\\n'\nk = '''multi\nline'''\nl = 0o17 + 0b101\n"
        'm = u"u"\nn = 5.\n'
    )
    values = [s.value for s in ok(src).body]
    assert [v.value for v in values[:11]] == [
        1000, 31, 0.001, 0.5, True, None, False, "xy", "\\n", "A\n", "multi\nline",
    ]
    assert values[11] == ast.BinOp(
        S(13, 5, 13, 17), "+", ast.Constant(S(13, 5, 13, 9), 15), ast.Constant(S(13, 12, 13, 17), 5)
    )
    assert values[12].value == "u" and values[13].value == 5.0


def test_containers_and_trailing_commas():
    (a, b, c, d, e) = ok("a = [1, 2,]\nb = (1,)\nc = {'k': [], 'l': {},}\nd = ()\ne = f(1, x=2,)\n").body
    assert isinstance(a.value, ast.ListExpr) and len(a.value.elts) == 2
    assert isinstance(b.value, ast.TupleExpr) and len(b.value.elts) == 1
    assert b.value.span == S(2, 5, 2, 9)
    assert [en.key.value for en in c.value.entries] == ["k", "l"]
    assert d.value == ast.TupleExpr(S(4, 5, 4, 7), ())
    assert len(e.value.args) == 1 and e.value.keywords[0].name == "x"


def test_arithmetic_precedence_is_pythons():
    (stmt,) = ok("x = -2 ** 2 * 3 + 4 // 5 % 6 - (7 + 8)\n").body
    v = stmt.value
    assert v.op == "-" and v.right.op == "+"
    left = v.left
    assert left.op == "+"
    mul = left.left
    assert mul.op == "*" and mul.left == ast.UnaryOp(
        S(1, 5, 1, 12), "-",
        ast.BinOp(S(1, 6, 1, 12), "**", ast.Constant(S(1, 6, 1, 7), 2), ast.Constant(S(1, 11, 1, 12), 2)),
    )
    assert left.right.op == "%" and left.right.left.op == "//"


def test_module_docstring_is_not_in_body():
    module = ok('"""Doc\nstring."""\nx = 1\n"not a docstring"\n')
    assert module.docstring == ast.Constant(S(1, 1, 2, 11), "Doc\nstring.")
    assert len(module.body) == 2 and isinstance(module.body[1], ast.ExprStmt)


def test_line_structure_comments_continuation_crlf_formfeed():
    src = "# c\r\nx = [1,  # inside\r\n     2]\r\ny = 1 + \\\r\n    2\r\n\f\r\nz = (\r\n\r\n  3)\r\n"
    x, y, z = ok(src).body
    assert x.span == S(2, 1, 3, 8)
    assert y.value.right == ast.Constant(S(5, 5, 5, 6), 2)
    assert z.value == ast.Constant(S(9, 3, 9, 4), 3)


def test_expression_statements_and_seed_shapes():
    module = ok(
        'train_and_evaluate.train.set_input_name("data_train")\n'
        "dsl.builtins.join(inputs=[pre.output, labels], reference=\"join1\", how=\"inner\")\n"
    )
    first, second = module.body
    assert isinstance(first, ast.ExprStmt) and first.value.func.attr == "set_input_name"
    assert second.value.func.value.attr == "builtins"


def test_seed_example_parses_cleanly():
    module = ok(SEED_EXAMPLE)
    assert module.docstring is not None
    assert len(module.body) > 10


# The seed's example M-File (seed/000_b6677776337d1c9d.txt lines 380-490, PDF line-wrapping
# repaired), plus arithmetic and string forms. Not a case file: its items do not exist.
SEED_EXAMPLE = '"""\nMantikfile\nThis snippet shows all configuration that is not directly related to pipeline definition.\n"""\n# Initialize tasks as instance of `MantikItem`, pass additional configuration\n\nget_data = MantikItem(name="mantikai/binary:v1").configure(\n    params={"file": "<filename>"}\n)\n\nimages, labels = get_data.get_output_reference()\npre_process = MantikItem(name="<user>/pre-processor")\nbatch_size = HyperParameter()\ntrain = MantikItem(name="<user>/mnist_linear:v1").configure(\n    params={"batch_size": batch_size}\n)\nevaluate = evaluate(metric="rmse")\ntrain_and_evaluate = pipeline_component(train, evaluate)\ntrain_and_evaluate.train.set_input_name("data_train")\ntrain_and_evaluate.evaluate.set_input_name("data_test")\n\nhyperparameter_search = HyperParameterSearch(\n    train_and_evaluate,\n    hyperparameters={"batch_size": [64, 128, 256]},\n    metric=train_and_evaluate.evaluate.metric,\n)\ndeploy = save_model()\nbatch_pipeline = MantikPipeline(\n    stages={\n        "stage1": [\n            get_data,\n            pre_process.set_input(images),\n            dsl.builtins.join(\n                inputs=[pre_process.output, labels], reference="join1", how="inner"\n            ), # reference arg is for referencing\n        ],\n        "stage2": [\n            dsl.builtins.train_test_split(data=[join1.output], reference="split"),\n            hyperparameter_search.set_input(\n                data_train=split.output.train, data_test=split.output.test\n            ),\n        ],\n        "stage3": [deploy.set_input(hyperparameter_search.best_model)],\n    }\n)\npredict = makeMantikItem(batch_pipeline.stage3.deploy.best_model)\nx = -1.5e-3 * (2 + 3) ** 2 // 4 % 3 - 0x1F + 1_000\ns = \'a\' "b" r\'\\n\' """c\nd""" \'\\x41\'\n'


# --------------------------------------------------------------------------- refused constructs


REFUSED = [
    ("def f(x):\n    import os\n    return 1\n", [("E010", 1, 1)]),
    ("class A(B):\n    pass\n", [("E011", 1, 1)]),
    ("x = lambda a: a\n", [("E012", 1, 5)]),
    ("@dec\ndef f():\n    pass\n", [("E013", 1, 1), ("E010", 2, 1)]),
    ("import os\n", [("E014", 1, 1)]),
    ("from a.b import c as d\n", [("E014", 1, 1)]),
    ("x = 1\nfor i in range(3):\n    x = i\nelse:\n    pass\n", [("E015", 2, 1)]),
    ("while True: pass\n", [("E015", 1, 1)]),
    ("if a:\n    b = 1\nelif c:\n    d\nelse:\n    e\n", [("E016", 1, 1)]),
    ("x = a if b else c\n", [("E017", 1, 5)]),
    ("with open(f) as g:\n    pass\n", [("E018", 1, 1)]),
    ("try:\n    x\nexcept E as e:\n    y\nfinally:\n    z\n", [("E019", 1, 1)]),
    ("x = [i for i in y]\n", [("E020", 1, 5)]),
    ("x = {k: v for k, v in y}\n", [("E020", 1, 5)]),
    ("x = {i for i in y if i}\n", [("E020", 1, 5)]),
    ("f(i for i in y)\n", [("E020", 1, 3)]),
    ("x = (i for i in y)\n", [("E020", 1, 5)]),
    ('x = f"a{b}"\n', [("E021", 1, 5)]),
    ('x = "a" f"{b}"\n', [("E021", 1, 9)]),
    ('x = b"abc"\n', [("E022", 1, 5)]),
    ('x = rb"abc"\n', [("E022", 1, 5)]),
    ("f(*args)\n", [("E023", 1, 3)]),
    ("f(a, **kw)\n", [("E023", 1, 6)]),
    ("*a, b = c\n", [("E023", 1, 1)]),
    ("x = [*a]\n", [("E023", 1, 6)]),
    ("x = {**d}\n", [("E023", 1, 6)]),
    ("x = a[0]\n", [("E024", 1, 6)]),
    ("a[0] = 1\n", [("E024", 1, 2)]),
    ("x = a[1:2]\n", [("E024", 1, 6)]),
    ("x += 1\n", [("E025", 1, 3)]),
    ("x **= 2\n", [("E025", 1, 3)]),
    ("return 1\n", [("E026", 1, 1)]),
    ("yield x\n", [("E027", 1, 1)]),
    ("x = yield\n", [("E027", 1, 5)]),
    ("global a\n", [("E028", 1, 1)]),
    ("nonlocal a, b\n", [("E028", 1, 1)]),
    ("del a\n", [("E029", 1, 1)]),
    ('assert a, "m"\n', [("E030", 1, 1)]),
    ("async def f(): pass\n", [("E031", 1, 1)]),
    ("x = await y\n", [("E031", 1, 5)]),
    ("f(n := 10)\n", [("E032", 1, 3)]),
    ("x = a == b\n", [("E033", 1, 7)]),
    ("x = a not in b\n", [("E033", 1, 7)]),
    ("x = a is not b\n", [("E033", 1, 7)]),
    ("x = a and b\n", [("E034", 1, 7)]),
    ("x = a or b\n", [("E034", 1, 7)]),
    ("x = not a\n", [("E034", 1, 5)]),
    ("x = a | b\n", [("E035", 1, 7)]),
    ("x = ~a\n", [("E035", 1, 5)]),
    ("x = a << 2\n", [("E035", 1, 7)]),
    ("x = a @ b\n", [("E035", 1, 7)]),
    ("a = 1; b = 2\n", [("E036", 1, 6)]),
    ("a.b = 1\n", [("E037", 1, 1)]),
    ("f() = 1\n", [("E037", 1, 1)]),
    ("1 = x\n", [("E037", 1, 1)]),
    ("(a, b), c = d\n", [("E037", 1, 1)]),
    ("a = b = 1\n", [("E038", 1, 5)]),
    ("a: int = 1\n", [("E039", 1, 4)]),
    ("x = {1, 2}\n", [("E040", 1, 5)]),
    ("x = ...\n", [("E041", 1, 5)]),
    ("raise E\n", [("E042", 1, 1)]),
    ("pass\n", [("E043", 1, 1)]),
    ("break\n", [("E043", 1, 1)]),
    ("continue\n", [("E043", 1, 1)]),
    ("f(a=1, 2)\n", [("E044", 1, 8)]),
    ("f(a=1, a=2)\n", [("E045", 1, 8)]),
    ("x = 1j\n", [("E046", 1, 5)]),
    ("x = 007\n", [("E047", 1, 5)]),
    ("x = 'a\\N{nope}'\n", [("E009", 1, 5)]),
    ("x = '\\x4'\n", [("E009", 1, 5)]),
    ("größe = 1\n", [("E008", 1, 1)]),
    ("x = a.größe\n", [("E008", 1, 7)]),
    ("f(größe=1)\n", [("E008", 1, 3)]),
]


@pytest.mark.parametrize("src,expected", REFUSED, ids=[s.split("\n")[0][:30] for s, _ in REFUSED])
def test_refused_construct_is_reported_and_parsing_continues(src, expected):
    module, codes = run(src + "after = 1\n")
    assert codes == expected
    assert module is not None
    last = module.body[-1]
    assert isinstance(last, ast.Assign) and last.targets[0].id == "after"


def test_refused_constructs_become_rejected_nodes():
    module, _ = run("import os\nx = a[0]\ndef f():\n    pass\n")
    a, b, c = module.body
    assert a == ast.RejectedStmt(S(1, 1, 1, 10), "import")
    assert b.value == ast.Rejected(S(2, 5, 2, 9), "subscript")
    assert isinstance(c, ast.RejectedStmt) and c.construct == "def"


def test_only_the_outermost_refused_construct_is_reported():
    _, codes = run("x = [a[0] for a in b if a == 1]\nf(*[lambda: 1])\n")
    assert codes == [("E020", 1, 5), ("E023", 2, 3)]


def test_several_problems_in_one_statement_are_all_reported():
    _, codes = run("x = f(a[0], *b, c=d == e)\n")
    assert codes == [("E024", 1, 8), ("E023", 1, 13), ("E033", 1, 21)]


def test_every_syntax_code_is_documented_in_the_table():
    from mfile.mfile_grammar import syntax

    table = syntax.__doc__
    codes = {c for c, k in Diagnostic.registry.items() if k.__module__ == syntax.__name__}
    assert len(codes) >= 50
    for code in codes:
        assert re.search(rf"^{code}\s+{Diagnostic.registry[code].__name__}\s", table, re.M), code
        assert Diagnostic.registry[code].hint, code


# --------------------------------------------------------------------------- syntax errors


SYNTAX_ERRORS = [
    ("x = $y\n", [("E007", 1, 5)]),
    ("x = \u201ca\u201d\n", [("E007", 1, 5)]),
    ("x = 1\u00a0+ 2\n", [("E007", 1, 6)]),
    ("x = a b\n", [("E001", 1, 7)]),
    ("f(a b)\n", [("E001", 1, 5)]),
    ("x =\n", [("E001", 1, 3)]),
    ("x = 1 +\n", [("E001", 1, 7)]),
    ("x = (\n", [("E003", 1, 5)]),
    ("x = f(a,\ny = 2\n", [("E003", 1, 6)]),
    ("x = )\n", [("E004", 1, 5)]),
    ("x = [1, 2)\n", [("E005", 1, 10)]),
    ('x = "abc\n', [("E002", 1, 5)]),
    ('x = 1\ny = """abc\n\n', [("E002", 2, 5)]),
    ("  x = 1\n", [("E006", 1, 1)]),
    ("x = 1\n  y = 2\n", [("E006", 2, 1)]),
    ("\tx = 1\n", [("E006", 1, 1)]),
    ("def f():\nx = 1\n", [("E006", 2, 1)]),
    ("if a:\n        b\n    c\n", [("E006", 3, 5)]),
    ("class = 1\n", [("E001", 1, 7)]),
    ('print "x"\n', [("E001", 1, 7)]),
    ("x = 1 if\n", [("E001", 1, 7)]),
    ("x = 1 \\ 2\n", [("E007", 1, 7)]),
]


@pytest.mark.parametrize("src,expected", SYNTAX_ERRORS, ids=[repr(s)[:30] for s, _ in SYNTAX_ERRORS])
def test_syntax_error_has_a_precise_position(src, expected):
    module, codes = run(src)
    assert module is None
    assert codes == expected


def test_syntax_error_messages_name_the_problem():
    def message(src: str) -> str:
        reporter = Reporter()
        parse(src, "t", reporter)
        (report,) = reporter.reports
        return report.message

    assert message("x =\n") == "invalid syntax: expected an expression after '='"
    assert message("f(a,\n  b\n") == "unclosed '(' opened at 1:2"
    assert message("x = )\n").startswith("unexpected ')'")
    assert message('x = "abc\n') == "unterminated string"
    assert "after name 'a'" in message("x = a b\n")


# --------------------------------------------------------------------------- hostile input


def test_deep_brackets_stop_at_the_limit_before_parsing():
    start = time.perf_counter()
    module, codes = run("x = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n")
    assert module is None and codes == [("E510", 1, 105)]
    module, codes = run("x = " + "[" * 100 + "]" * 100 + "\n")
    assert module is not None and codes == []
    assert time.perf_counter() - start < 2


def test_long_operator_chains_are_cut_at_the_depth_limit():
    for src in ["x = " + " + ".join(["1"] * 5000), "x = " + "-" * 5000 + "1",
                "x = a" + ".b" * 5000, "x = f" + "()" * 5000]:
        module, codes = run(src + "\ny = 2\n")
        assert codes == [("E511", 1, 5)], src[:20]
        assert isinstance(module.body[0], ast.RejectedStmt)
        assert module.body[1].targets[0].id == "y"
    module, codes = run("x = " + " + ".join(["1"] * 150) + "\n")
    assert codes == [] and isinstance(module.body[0], ast.Assign)


def test_a_huge_statement_stops_the_parse_early():
    start = time.perf_counter()
    module, codes = run("x = 1\ny = " + "-" * 250_000 + "1\n")
    assert module is None and codes == [("E515", 2, 1)]
    assert time.perf_counter() - start < 10


def test_deep_indentation_is_limited():
    src = "".join(" " * i + "if a:\n" for i in range(150)) + " " * 150 + "pass\n"
    module, codes = run(src)
    assert module is None and codes == [("E512", 102, 1)]


def test_too_many_problems_are_capped():
    module, codes = run("x = a[0]\n" * 2000)
    assert len(codes) == 501 and codes[-1][0] == "E513"
    assert module is not None and len(module.body) == 2000


def test_long_line_and_large_file_parse_in_bounded_time():
    start = time.perf_counter()
    ok("x = '" + "a" * 1_000_000 + "'\n")
    ok("y = [" + "1, " * 20_000 + "]\n")
    ok("z = " + "a" * 100_000 + "\n")
    assert time.perf_counter() - start < 10


def test_huge_integer_literal_is_reported_not_raised():
    _, codes = run("x = " + "9" * 5000 + "\n")
    assert codes == [("E514", 1, 5)]
    module = ok("x = 0x" + "f" * 5000 + "\n")
    assert module.body[0].value.value > 0


def test_parse_leaves_the_garbage_collector_as_it_found_it():
    import gc

    assert gc.isenabled()
    run("x = 1\n")
    assert gc.isenabled()
    gc.disable()
    try:
        run("x = (\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


# --------------------------------------------------------------------------- read_source


def read(path: Path) -> tuple[str | None, list[tuple[str, int, int]]]:
    reporter = Reporter()
    text = read_source(path, reporter)
    return text, [(r.code, r.span.line, r.span.column) for r in reporter.reports]


def test_read_source_strips_bom_and_keeps_text(tmp_path):
    path = tmp_path / "a.mfile"
    path.write_bytes(b"\xef\xbb\xbfx = 1\r\n")
    assert read(path) == ("x = 1\r\n", [])


def test_read_source_reports_bad_paths(tmp_path):
    assert read(tmp_path / "missing.mfile") == (None, [("E901", 1, 1)])
    assert read(tmp_path) == (None, [("E901", 1, 1)])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read(fifo) == (None, [("E901", 1, 1)])  # would block forever if opened


def test_read_source_reports_permission_denied(tmp_path):
    path = tmp_path / "secret.mfile"
    path.write_text("x = 1\n")
    path.chmod(0)
    if os.geteuid() != 0:
        assert read(path) == (None, [("E901", 1, 1)])
        return
    # Root reads anything: check in a child that keeps uid 0 but loses the capabilities that
    # override file permissions (CI runs as root; this must not be a skip there).
    code = ("import sys; from mfile.diagnostics import Reporter; from mfile.mfile_grammar.source import read_source; "
            "r = Reporter(); t = read_source(sys.argv[1], r); print(t is None, [x.code for x in r.reports])")
    child = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c", code,
                            str(path)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert child.stdout.split() == ["True", "['E901']"], child.stderr


def test_read_source_reports_binary_and_invalid_utf8_with_position(tmp_path):
    path = tmp_path / "bin.mfile"
    path.write_bytes(b"x = 1\nab\x00c")
    assert read(path) == (None, [("E903", 2, 3)])
    path.write_bytes(b"x = 1\ny = '\xc3\xa9\xff'\n")
    reporter = Reporter()
    assert read_source(path, reporter) is None
    (report,) = reporter.reports
    assert (report.code, report.span.line, report.span.column) == ("E902", 2, 7)
    assert "byte 13" in report.message


def test_read_source_refuses_files_over_the_limit(tmp_path):
    path = tmp_path / "big.mfile"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    start = time.perf_counter()
    assert read(path) == (None, [("E501", 1, 1)])
    assert time.perf_counter() - start < 1
    path.write_bytes(b"#" * MAX_BYTES)
    text, codes = read(path)
    assert codes == [] and len(text) == MAX_BYTES


# --------------------------------------------------------------------------- case files


def _expectations(text: str) -> list[tuple[str, int, int]]:
    found = re.findall(r"^# expect: (E\d{3}) (\d+):(\d+)\s*$", text, re.M)
    return [(code, int(line), int(col)) for code, line, col in found]


@pytest.mark.parametrize("path", sorted(CASES.glob("*/syntax_*.mfile")), ids=lambda p: p.name)
def test_syntax_case_files(path):
    text = path.read_text(encoding="utf-8")
    module, codes = run(text)
    expected = _expectations(text)
    if path.parent.name == "ok":
        assert expected == [] and codes == [] and module is not None
    else:
        assert expected, "an err case needs '# expect:' lines"
        order = lambda c: (c[1], c[2], c[0])  # noqa: E731
        assert sorted(codes, key=order) == sorted(expected, key=order)


MANY_ERRORS = [
    # every statement with an error is reported, each at its own place; the good ones are quiet
    ("a = (1 2)\nb = 1\nc = = 3\nd = [1, 2\n    3]\ne = 1\n", [("E001", 1, 8), ("E001", 3, 5), ("E001", 5, 5)]),
    ("x =\ny = 2\nz =\n", [("E001", 1, 3), ("E001", 3, 3)]),
    ("a = 1 2\n\n# comment\nb = 3 4\n", [("E001", 1, 7), ("E001", 4, 7)]),
    # an unclosed bracket is found before parsing; an indent stops parsing after it
    ("a = 1 2\nb = (\n", [("E003", 2, 5)]),
    ("a = 1 2\n  b = 2\n", [("E001", 1, 7), ("E006", 2, 1)]),
]


@pytest.mark.parametrize("src,expected", MANY_ERRORS, ids=[repr(s)[:30] for s, _ in MANY_ERRORS])
def test_each_statement_with_a_syntax_error_is_reported(src, expected):
    module, codes = run(src)
    assert module is None
    assert codes == expected


def test_syntax_errors_are_capped_per_file():
    from mfile.mfile_grammar.parser import MAX_SYNTAX_ERRORS

    module, codes = run("x = 1 2\n" * (MAX_SYNTAX_ERRORS + 5))
    assert module is None and len(codes) == MAX_SYNTAX_ERRORS
    assert codes == [("E001", line, 7) for line in range(1, MAX_SYNTAX_ERRORS + 1)]
