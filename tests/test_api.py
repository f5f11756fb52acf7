"""The Python API (``mfile.check``/``compile``/``run``/``submit``/``status``) as a notebook user
calls it: docs/api.md as a doctest, the objects it returns, the notebook rendering, and that
``import mfile`` and ``mfile check`` stay light."""

from __future__ import annotations

import doctest
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import mfile
from mfile.slurm.query import CommandResult, SlurmQuery
from mfile.slurm.scheduler import FakeScheduler, SchedulerError

ROOT = Path(__file__).resolve().parent.parent
E2E_ITEMS = ROOT / "tests" / "fixtures" / "e2e" / "items"

CHAIN = """
src = MantikItem(name="e2e/numbers:1")
norm = MantikItem(name="mfile/normalize:1")
chain = MantikPipeline(stages={"load": [src], "work": [norm.set_input(src.output)]})
"""


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    path = tmp_path / "chain.mfile"
    path.write_text(CHAIN, encoding="utf-8")
    return path


def test_docs_api_md_runs_as_a_doctest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("data", "runs"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGET_ACCOUNTS", raising=False)
    monkeypatch.delenv("MFILE_ITEMS_PATH", raising=False)
    try:
        result = doctest.testfile(
            str(ROOT / "docs" / "api.md"), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
        )
    finally:
        os.environ.pop("BUDGET_ACCOUNTS", None)  # the page sets it; monkeypatch restores the rest
    assert result.attempted >= 20
    assert result.failed == 0


def test_import_mfile_does_not_load_the_api() -> None:
    code = "import sys, mfile; print('mfile.api' in sys.modules, mfile.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", mfile.__version__]


def test_every_lazy_name_is_in_the_api_module() -> None:
    from mfile import api

    assert set(mfile.API) == set(api.__all__)
    assert all(getattr(mfile, name) is getattr(api, name) for name in mfile.API)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mfile.nope  # noqa: B018


def _check_imports(chain: Path) -> set[str]:
    """Every module ``mfile check`` imports (``python -X importtime`` lists them)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mfile.cli", "check", str(chain), "--items", str(E2E_ITEMS)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "mfile.compiler.frontend" in imported  # the listing is real
    return imported


def test_mfile_check_start_up_loads_no_jinja2_api_lsp_slurm_or_heavy_libraries(chain: Path) -> None:
    imported = _check_imports(chain)
    heavy = {m for m in imported if m.split(".")[0] in {"jinja2", "numpy", "xarray", "torch", "pygls", "lsprotocol"}}
    ours = {m for m in imported if m.startswith(("mfile.api", "mfile.lsp", "mfile.slurm", "mfile.local", "mfile.runtime",
                                                 "mfile.codegen.render", "mfile.codegen.graph", "mfile.codegen.budget"))}  # fmt: skip
    assert heavy == set() and ours == set()


def test_mfile_check_start_up_loads_no_codegen(chain: Path) -> None:
    assert {m for m in _check_imports(chain) if m.startswith("mfile.codegen")} == set()


def test_check_returns_diagnostic_objects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mfile"
    bad.write_text('a = MantikItem(name="e2e/numbers:1")\np = MantikPipeline(stages={"s": [b]})\n', encoding="utf-8")
    found = mfile.check(bad, items=[E2E_ITEMS])
    assert not found.ok and isinstance(found, list)
    (d,) = found
    assert (d.code, d.severity, d.file, d.line, d.column, d.end_line, d.end_column) == ("E101", "error", str(bad), 2, 34, 2, 35)
    assert "'b'" in d.message and d.hint
    assert str(d).startswith(f"{bad}:2:34: error[E101] ")
    assert found.errors == [d] and found.warnings == []
    assert "^" in found.text()
    html = MarkdownIt("commonmark").enable("table").render(found._repr_markdown_())
    assert html.count("<tr>") == 2 and "<td>E101</td>" in html and f"<td>{bad}:2:34</td>" in html
    assert mfile.check(bad.parent / "nothing-here.mfile")._repr_markdown_() != "no problems found"  # E901


def test_check_takes_a_directory_and_one_root_given_bare(tmp_path: Path, chain: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.mfile").write_text("x = MantikItem(name='e2e/nope:1')\n", encoding="utf-8")
    found = mfile.check(tmp_path, items=str(E2E_ITEMS))
    assert found.codes == ["E334"] and found[0].file.endswith("other.mfile")


def test_check_with_a_profile_adds_the_site_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    greedy = tmp_path / "greedy.mfile"
    greedy.write_text(CHAIN.replace('MantikItem(name="mfile/normalize:1")',
                                    'MantikItem(name="mfile/normalize:1").configure(resources={"gpus": 8, "time": "48:00:00"})'),
                      encoding="utf-8")  # fmt: skip
    assert mfile.check(greedy, items=[E2E_ITEMS]).ok
    found = mfile.check(greedy, items=[E2E_ITEMS], profile="juwels-booster")
    assert not found.ok and {d.code[:2] for d in found.errors} == {"E4"}
    assert all(d.line == 3 for d in found.errors)  # at the configure call's resources
    with pytest.raises(mfile.UsageError, match="unknown profile 'nowhere'"):
        mfile.check(greedy, profile="nowhere")


def test_compile_without_out_writes_nothing_and_errors_raise(tmp_path: Path, chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (compiled,) = mfile.compile(chain, items=[E2E_ITEMS], write=False)
    assert compiled.run_dir is None and compiled.tasks == ["src", "norm"]
    assert not (tmp_path / "runs").exists()
    assert "t_src -->" in compiled.graph() and compiled.graph("dot").startswith('digraph "chain"')
    assert "total" in compiled.budget()
    with pytest.raises(mfile.UsageError, match="graph format"):
        compiled.graph("svg")
    with pytest.raises(mfile.CompileError) as caught:
        mfile.compile(chain, items=[E2E_ITEMS], pipelines="chian", write=False)
    assert caught.value.diagnostics.codes == [c for c in caught.value.diagnostics.codes if c.startswith("E")]
    assert "chian" in str(caught.value) and "'chain'" in str(caught.value)


def test_a_compiled_pipeline_renders_its_graph_and_budget_in_a_notebook(tmp_path: Path, chain: Path) -> None:
    (compiled,) = mfile.compile(chain, items=[E2E_ITEMS], out=tmp_path / "runs")
    markdown = compiled._repr_markdown_()
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    # The graph: a mermaid code block (JupyterLab renders it as a picture) with both tasks and the edge.
    assert '<pre><code class="language-mermaid">flowchart LR' in html
    assert 't_src[&quot;src&lt;br/&gt;e2e/numbers:1 (dataset)&quot;]' in html
    assert "t_src --&gt;|&quot;input: {x: float64, label: int64}&quot;| t_norm" in html
    # The budget: a table, one row per job and a total, the numbers of budget_table().
    assert html.count("<tr>") == 1 + 2 + 1
    assert "<td>src</td>" in html and "<td>norm</td>" in html and "<td><strong>total</strong></td>" in html
    assert '<td style="text-align:right">1.00</td>' in html  # two half-hour jobs on one node: 1.00 node-hours
    assert str(tmp_path / "runs" / "chain") in html


def test_markdown_escapes_names_that_would_break_a_table() -> None:
    from mfile.api import _md

    assert _md("a|b_c\nd") == "a\\|b\\_c d"


def test_submit_and_status(tmp_path: Path, chain: Path) -> None:
    (compiled,) = mfile.compile(chain, items=[E2E_ITEMS], out=tmp_path / "runs")
    assert compiled.run_dir is not None
    dry = mfile.submit(compiled.run_dir, dry_run=True)
    assert len(dry.commands) == 2 and dry.jobs == ()
    assert "--dependency=afterok:@src" in dry.commands[1]
    fake = FakeScheduler(next_id=500)
    queued = mfile.submit(compiled.run_dir, scheduler=fake)
    assert queued.job_ids == {"src": "500", "norm": "501"}
    assert json.loads((compiled.run_dir / "state" / "jobs.json").read_text())["jobs"][0]["job_id"] == "500"

    with pytest.raises(mfile.SubmitFailed, match="Invalid account"):
        mfile.submit(compiled.run_dir, scheduler=FakeScheduler(failures=[SchedulerError("Invalid account")]))

    def squeue(argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            return CommandResult(0, "500|RUNNING|0:42|jwb0001|None\n501|PENDING|0:00||Dependency\n", "")
        return CommandResult(0, "", "")

    seen = mfile.status(compiled.run_dir, query=SlurmQuery(squeue))
    assert seen.states == {"src": "running", "norm": "pending"} and not seen.finished
    html = MarkdownIt("commonmark").enable("table").render(seen._repr_markdown_())
    assert "<td>running</td>" in html and "<td>500</td>" in html
    with pytest.raises(mfile.UsageError, match="not a run directory"):
        mfile.status(tmp_path)


@pytest.mark.slow
def test_run_without_naming_the_only_pipeline(tmp_path: Path, chain: Path) -> None:
    result = mfile.run(chain, items=[E2E_ITEMS], out=tmp_path / "runs", jobs=2)
    assert result.ok and result.done == ("src", "norm") and result.not_done == ()
    assert "2 done" in result.log
    again = mfile.run(chain, items=[E2E_ITEMS], out=tmp_path / "runs")
    assert again.ok and "2 up to date" in again.log
    first = mfile.run(chain, items=[E2E_ITEMS], out=tmp_path / "fresh", stage="load")
    assert first.ok and first.done == ("src",) and first.not_done == ("norm",)


def test_run_with_two_pipelines_asks_which(tmp_path: Path) -> None:
    two = tmp_path / "two.mfile"
    two.write_text(CHAIN + 'other = MantikPipeline(stages={"s": [src]})\n', encoding="utf-8")
    with pytest.raises(mfile.UsageError, match=r"defines 2 pipelines \(chain, other\)"):
        mfile.run(two, items=[E2E_ITEMS], out=tmp_path / "runs")


def test_the_project_file_gives_items_profile_and_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(E2E_ITEMS, tmp_path / "roots")
    (tmp_path / "mfile.toml").write_text('items = ["roots"]\nprofile = "juwels-booster"\noutput = "out"\n', encoding="utf-8")
    sub = tmp_path / "pipelines"
    sub.mkdir()
    greedy = sub / "greedy.mfile"
    greedy.write_text(CHAIN.replace('MantikItem(name="mfile/normalize:1")',
                                    'MantikItem(name="mfile/normalize:1").configure(resources={"gpus": 8})'), encoding="utf-8")  # fmt: skip
    monkeypatch.chdir(sub)  # paths in the project file are relative to it, not to the working directory
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    assert mfile.check(greedy).codes == ["E403"]  # roots and profile from mfile.toml
    assert mfile.check(greedy, profile="local").codes == ["E402"]  # an argument wins, as a flag does
    assert mfile.check(greedy, items=[]).codes == ["E334"]  # items=[]: no roots, not the project's
    (sub / "chain.mfile").write_text(CHAIN, encoding="utf-8")
    (compiled,) = mfile.compile(sub / "chain.mfile")
    assert compiled.run_dir == tmp_path / "out" / "chain" and compiled.profile.name == "juwels-booster"


def test_the_api_needs_only_the_core_install() -> None:
    """`pip install mfile` (no runtime or lsp extra) is enough for the API: nothing heavy loads."""
    code = ("import sys, mfile; mfile.check; heavy = {'numpy', 'xarray', 'torch', 'mpi4py', 'dask', 'pygls', 'netCDF4'}; "
            "print(sorted(heavy & set(sys.modules)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}).stdout  # fmt: skip
    assert out.strip() == "[]"
