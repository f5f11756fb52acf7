"""Resource exhaustion: each hostile input ends in its diagnostic within bounded time and memory.

Every case runs ``mfile check`` (or ``compile``) in a fresh process under ``RLIMIT_AS`` (address
space) and a wall-clock timeout, both generous enough for a busy CI machine and far below what
the attack would take without its limit. The limits are constants in the code; the last test
checks docs/security.md lists each of them with its value.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from security_support import CASE_ITEMS, REPO

MEMORY_LIMIT = 1536 * 1024 * 1024  # bytes of address space for one check
TIMEOUT = 90.0  # seconds, wall clock (the machine may be shared)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mfile.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_limited, env=env)


def check_codes(tmp_path: Path, text: str | bytes, items: Path = CASE_ITEMS) -> set[str]:
    src = tmp_path / "attack.mfile"
    src.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = run_limited(["check", str(src), "--items", str(items), "--format", "json"], tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return {d["code"] for d in json.loads(result.stdout)}


def test_a_billion_point_grid(tmp_path: Path) -> None:
    values = "[" + ", ".join(str(i) for i in range(1000)) + "]"
    text = (
        "a = HyperParameter()\nb = HyperParameter()\nc = HyperParameter()\n"
        'net = MantikItem(name="test/net28:1").configure(params={"batch_size": a, "learning_rate": b, "epochs": c})\n'
        'ev = evaluate(metric="accuracy")\ncomp = pipeline_component(net, ev)\n'
        f's = HyperParameterSearch(comp, hyperparameters={{"a": {values}, "b": {values}, "c": {values}}}, metric=comp.ev.accuracy)\n'
        'data = MantikItem(name="test/digits:1")\n'
        'p = MantikPipeline(stages={"s": [data, s.set_input(input=data.output, ev_data=data.output)]})\n'
    )
    assert "E503" in check_codes(tmp_path, text)


def _searches(n: int, points_each: int) -> str:
    """``n`` searches of ``points_each`` points each (two hyperparameters), one pipeline."""
    side = int(points_each ** 0.5)
    values = "[" + ", ".join(str(i) for i in range(1, side + 1)) + "]"
    rows = ['data = MantikItem(name="test/digits:1")']
    stages = []
    for k in range(n):
        rows += [
            f"a{k} = HyperParameter()", f"b{k} = HyperParameter()",
            f'net{k} = MantikItem(name="test/net28:1").configure(params={{"batch_size": a{k}, "learning_rate": b{k}}})',
            f'ev{k} = evaluate(metric="accuracy")', f"comp{k} = pipeline_component(net{k}, ev{k})",
            f's{k} = HyperParameterSearch(comp{k}, hyperparameters={{"a{k}": {values}, "b{k}": {values}}}, metric=comp{k}.ev{k}.accuracy)',
        ]
        stages.append(f's{k}.set_input(input=data.output, ev{k}_data=data.output)')
    rows.append(f'p = MantikPipeline(stages={{"s": [data, {", ".join(stages)}]}})')
    return "\n".join(rows) + "\n"


def test_forty_searches_just_under_the_grid_limit(tmp_path: Path) -> None:
    """Each search is under MAX_GRID_POINTS; together they are bounded by MAX_TOTAL_GRID_POINTS
    (before that limit: internal error: MemoryError under this test's memory bound)."""
    codes = check_codes(tmp_path, _searches(40, 99_856))
    assert "E504" in codes and "E503" not in codes, codes


def test_searches_under_the_total_limit_pass(tmp_path: Path) -> None:
    src = tmp_path / "ok.mfile"
    src.write_text(_searches(2, 99_856))  # 2 x 316^2 = 199,712 points, under 200,000
    result = run_limited(["check", str(src), "--items", str(CASE_ITEMS), "--format", "json"], tmp_path)
    assert "E504" not in result.stdout and "Traceback" not in result.stderr, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_sexagesimal_integer_header(tmp_path: Path) -> None:
    """YAML 1.1 reads 1:0:0:... as a base-60 integer in quadratic time (40 s for 1 MiB)."""
    item = tmp_path / "items" / "x" / "sexa" / "1"
    item.mkdir(parents=True)
    big = "1" + ":0" * (1024 * 1024 // 2 - 100)
    (item / "MantikHeader").write_text(f"name: sexa\nkind: dataset\nx: {big}\ntype:\n  columns:\n    x: float64\n")
    text = 'b = MantikItem(name="x/sexa:1")\np = MantikPipeline(stages={"s": [b]})\n'
    started = time.monotonic()
    assert "E303" in check_codes(tmp_path, text, tmp_path / "items")
    assert time.monotonic() - started < 30


def test_a_yaml_billion_laughs_header(tmp_path: Path) -> None:
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    item = tmp_path / "items" / "x" / "laughs" / "1"
    item.mkdir(parents=True)
    (item / "MantikHeader").write_text("name: laughs\nkind: dataset\n" + "\n".join(rows) + "\ntype:\n  columns:\n    x: float64\n")
    text = 'l = MantikItem(name="x/laughs:1")\np = MantikPipeline(stages={"s": [l]})\n'
    assert "E303" in check_codes(tmp_path, text, tmp_path / "items")


def test_a_100k_stage_pipeline(tmp_path: Path) -> None:
    stages = ", ".join(f'"s{i}": [d]' for i in range(100_000))
    assert "E515" in check_codes(tmp_path, f'd = MantikItem(name="test/digits:1")\np = MantikPipeline(stages={{{stages}}})\n')


def test_30k_stages_under_the_token_limit_render_linearly(tmp_path: Path) -> None:
    """30,000 diagnostics on one 400 kB line: the text renderer once printed the line for each."""
    stages = ", ".join(f'"s{i}": [d]' for i in range(30_000))
    src = tmp_path / "attack.mfile"
    src.write_text(f'd = MantikItem(name="test/digits:1")\np = MantikPipeline(stages={{{stages}}})\n')
    result = run_limited(["check", str(src), "--items", str(CASE_ITEMS)], tmp_path)
    assert result.returncode == 1
    assert result.stdout.count("error[E121]") == 29_999
    assert len(result.stdout) < 20_000_000


@pytest.mark.parametrize("name,text,code", [
    ("nested brackets", "x = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n", "E510"),
    ("nested lists", "x = " + "[" * 10_000 + "]" * 10_000 + "\n", "E510"),
    ("operator chain", "x = " + "+".join(["1"] * 10_000) + "\n", "E511"),
    ("power chain", "x = " + "**".join(["2"] * 10_000) + "\n", "E511"),
    ("unary chain", "x = " + "-" * 10_000 + "1\n", "E511"),
    ("attribute chain", "x = a" + ".b" * 10_000 + "\n", "E511"),
    ("call chain", "x = f" + "()" * 10_000 + "\n", "E511"),
    ("method chain", 'x = MantikItem(name="test/digits:1")' + ".configure()" * 10_000 + "\n", "E511"),
    ("integer growth", "a = 2 ** 64\n" + "".join(f"a = a * a\n" for _ in range(40)), "E112"),
    ("huge literal", "x = " + "9" * 100_000 + "\n", "E514"),
    ("indentation", "".join(" " * i + "if x:\n" for i in range(0, 2000, 4)), None),
])
def test_deep_and_long_expressions(tmp_path: Path, name: str, text: str, code: str | None) -> None:
    codes = check_codes(tmp_path, text)
    if code is not None:
        assert code in codes, codes


def test_a_50_mb_m_file(tmp_path: Path) -> None:
    line = b"x = 1  # padding padding padding padding padding padding padding padding\n"
    assert "E501" in check_codes(tmp_path, line * (50 * 1024 * 1024 // len(line) + 1))


def test_a_50_mb_header(tmp_path: Path) -> None:
    item = tmp_path / "items" / "x" / "big" / "1"
    item.mkdir(parents=True)
    (item / "MantikHeader").write_bytes(b"name: big\nkind: dataset\n" + b"# pad\n" * (50 * 1024 * 1024 // 6))
    text = 'b = MantikItem(name="x/big:1")\np = MantikPipeline(stages={"s": [b]})\n'
    codes = check_codes(tmp_path, text, tmp_path / "items")
    assert codes & {"E300", "E301", "E303"}, codes


def test_a_deep_yaml_header(tmp_path: Path) -> None:
    item = tmp_path / "items" / "x" / "deep" / "1"
    item.mkdir(parents=True)
    (item / "MantikHeader").write_text("name: deep\nkind: dataset\nx: " + "[" * 50_000 + "]" * 50_000 + "\n")
    text = 'b = MantikItem(name="x/deep:1")\np = MantikPipeline(stages={"s": [b]})\n'
    assert check_codes(tmp_path, text, tmp_path / "items") & {"E303", "E301"}


def test_search_grid_over_the_array_and_submit_limits_at_compile(tmp_path: Path) -> None:
    """A grid under MAX_GRID_POINTS but over the site's submit limit stops at compile (E409):
    the M-File is otherwise clean, so E409 is what stops it (and the only error)."""
    values = "[" + ", ".join(str(i) for i in range(1, 1200)) + "]"
    text = (
        "a = HyperParameter()\n"
        'net = MantikItem(name="test/net28:1").configure(params={"batch_size": a})\n'
        'ev = evaluate(metric="accuracy")\ncomp = pipeline_component(net, ev)\n'
        'comp.net.set_input_name("data_train")\ncomp.ev.set_input_name("data_test")\n'
        f's = HyperParameterSearch(comp, hyperparameters={{"a": {values}}}, metric=comp.ev.metric)\n'
        'data = MantikItem(name="test/digits:1")\n'
        'p = MantikPipeline(stages={"s": [data, s.set_input(data_train=data.output, data_test=data.output)]})\n'
    )
    src = tmp_path / "grid.mfile"
    src.write_text(text)
    assert run_limited(["check", str(src), "--items", str(CASE_ITEMS)], tmp_path).returncode == 0
    result = run_limited(["compile", str(src), "--items", str(CASE_ITEMS), "--profile", "juwels-booster",
                          "-o", str(tmp_path / "out"), "--format", "json"], tmp_path,
                         env={**os.environ, "BUDGET_ACCOUNTS": "project1"})  # fmt: skip
    assert result.returncode == 1, result.stderr
    errors = [d["code"] for d in json.loads(result.stdout) if d["severity"] == "error"]
    assert errors == ["E409"], result.stdout[-2000:]
    assert not (tmp_path / "out" / "p").exists()


LIMITS = {
    "mfile.mfile_grammar.source": ["MAX_BYTES"],
    "mfile.mfile_grammar.scan": ["MAX_BRACKET_DEPTH", "MAX_INDENT_DEPTH", "MAX_STATEMENT_TOKENS"],
    "mfile.mfile_grammar.transform": ["MAX_EXPR_DEPTH", "MAX_PROBLEMS", "MAX_INT_DIGITS"],
    "mfile.compiler.headers.yamlnodes": ["MAX_BYTES", "MAX_NODES", "MAX_DEPTH", "MAX_INT_CHARS"],
    "mfile.compiler.search": ["MAX_GRID_POINTS", "MAX_TOTAL_GRID_POINTS"],
    "mfile.compiler.scope": ["MAX_NAME_LENGTH"],
    "mfile.compiler.folding": ["MAX_EXPONENT", "MAX_INT_BITS"],
    "mfile.diagnostics": ["MAX_EXCERPT"],
}


@pytest.mark.parametrize("module,names", sorted(LIMITS.items()))
def test_every_limit_is_documented_with_its_value(module: str, names: list[str]) -> None:
    import importlib

    doc = (REPO / "docs" / "security.md").read_text()
    mod = importlib.import_module(module)
    for name in names:
        value = getattr(mod, name)
        row = next((line for line in doc.splitlines() if f"`{module.removeprefix('mfile.')}.{name}`" in line), None)
        assert row is not None, f"docs/security.md has no row for {module}.{name}"
        shown = {str(value), f"{value:,}", f"{value:_}"}
        assert any(re.search(rf"(?<![\d,_]){re.escape(s)}(?![\d,_])", row) for s in shown), (row, value)
