"""The benchmark generators write valid workflows, the same DAG for every tool, and the
harness's own pieces (sbatch counting, the fit, the profile grouping) compute what they say.

Peer checks use the peers' venv (``benchmarks/.work/peers-venv``), created here on first use
as ``benchmarks/run.py`` does; they skip only when it cannot be created (no package index).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gen_mfile  # noqa: E402
from suite import common, profile, report  # noqa: E402
from suite.planning import Planner, bench_profile  # noqa: E402

import gen_kfp  # noqa: E402  (benchmarks/peers is on the path once suite is imported)
import gen_snakefile  # noqa: E402

MFILE = [sys.executable, "-m", "mfile.cli"]


@pytest.fixture(scope="session")
def peers() -> common.Peers:
    got = common.ensure_peers(log=lambda _m: None)
    if not got.ok:
        pytest.skip(f"peers' venv unavailable: {got.reason}")
    return got


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gen_mfile.write_item_root(tmp_path_factory.mktemp("items"))


def _mfile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MFILE, *args], capture_output=True, text=True, cwd=REPO)


def test_shape_counts_are_exact() -> None:
    for n in (10, 100, 1000, 5000):
        shape = gen_mfile.planning_shape(n)
        assert shape.tasks == n
        text = gen_mfile.planning_mfile(n)
        assert text.count("= MantikItem(") == n
        assert text.count(".set_input(") == n - 1
    with pytest.raises(ValueError):
        gen_mfile.planning_shape(11)  # N - 4 must be even: no silent rounding
    grid = gen_mfile.sweep_grid(1000)
    assert len(grid["lr"]) * len(grid["batch_size"]) == 1000


@pytest.mark.parametrize("text", [gen_mfile.planning_mfile(10), gen_mfile.planning_mfile(100),
                                  gen_mfile.sweep_mfile(1000), gen_mfile.chain_mfile(20)])  # fmt: skip
def test_mfile_check_accepts_generated_mfiles(text: str, items: Path, tmp_path: Path) -> None:
    src = tmp_path / "bench.mfile"
    src.write_text(text)
    r = _mfile("check", str(src), "--items", str(items), "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mfile_compile_writes_one_script_per_task(items: Path, tmp_path: Path) -> None:
    src = tmp_path / "bench.mfile"
    src.write_text(gen_mfile.planning_mfile(10))
    r = _mfile("compile", str(src), "--items", str(items), "--profile", "local", "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    scripts = sorted(p.stem for p in (tmp_path / "out" / "bench" / "jobs").glob("*.sbatch"))
    chain, members = gen_mfile.task_ids(gen_mfile.planning_shape(10))
    assert scripts == sorted(chain + [name for m in members for name in m])


def test_snakefile_dry_run_plans_the_same_dag(peers: common.Peers, tmp_path: Path) -> None:
    sf = tmp_path / "Snakefile"
    sf.write_text(gen_snakefile.planning_snakefile(10))
    r = subprocess.run([peers.bin("snakemake"), "-n", "-s", str(sf), "-d", str(tmp_path), "--cores", "1"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", r.stdout, re.M))
    shape = gen_mfile.planning_shape(10)
    assert int(stats["total"]) == 10 + 1  # + the target rule `all`
    assert int(stats["train"]) == int(stats["score"]) == shape.members
    assert 'container: "' in sf.read_text()


def test_snakemake_sweep_plans_one_job_per_point(peers: common.Peers, tmp_path: Path) -> None:
    sf = tmp_path / "Snakefile"
    sf.write_text(gen_snakefile.sweep_snakefile(12))
    r = subprocess.run([peers.bin("snakemake"), "-n", "-s", str(sf), "-d", str(tmp_path), "--executor", "slurm", "--jobs", "20"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"^train_and_score\s+12\s*$", r.stdout, re.M)


def test_kfp_compiles_the_same_dag(peers: common.Peers, tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(gen_kfp.planning_script(10))
    r = subprocess.run([peers.bin("python"), str(script), str(tmp_path / "p.yaml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    yaml_text = (tmp_path / "p.yaml").read_text()
    assert yaml_text.count("taskInfo:") == 10
    assert "images/bench-step.sif" in yaml_text


def test_planner_rejects_a_run_that_planned_too_little(items: Path, tmp_path: Path) -> None:
    planner = Planner(tmp_path, 10, common.Peers(None, "not needed for mfile"), items, bench_profile(tmp_path))
    got, err = planner.once("mfile", timeout=120)
    assert got is not None and err == ""
    (planner.dir / "bench.mfile").write_text(gen_mfile.planning_mfile(12))  # 12 tasks where 10 are expected
    got, err = planner.once("mfile", timeout=120)
    assert got is None and "expected 10" in err


def test_sbatch_logger_counts_calls_and_fakes_ids(tmp_path: Path) -> None:
    sb = common.sbatch_logger(tmp_path, real=False)
    env = sb.env()
    outs = [subprocess.run(["sbatch", *args], env=env, capture_output=True, text=True).stdout.strip()
            for args in (["--parsable", "a.sbatch"], ["b.sbatch"])]  # fmt: skip
    assert re.fullmatch(r"\d+", outs[0]) and outs[1].startswith("Submitted batch job ")
    assert [args for _, args in sb.calls()] == ["--parsable a.sbatch", "b.sbatch"]
    assert "SBATCH_HOLD" not in env


def test_linear_fit() -> None:
    f = common.linear_fit([10, 100, 1000], [1.0 + 0.002 * x for x in (10, 100, 1000)])
    assert f["slope"] == pytest.approx(0.002) and f["intercept"] == pytest.approx(1.0) and f["r2"] == pytest.approx(1.0)
    q = common.linear_fit([100, 1000], [1.0, 100.0])
    assert q["exponent"] == pytest.approx(2.0)


def test_profile_groups_samples_by_phase() -> None:
    raw = "\n".join([
        "main (mfile/cli.py:1);parse (mfile/mfile_grammar/parser.py:80);feed (lark/lalr.py:3) 6",
        "main (mfile/cli.py:1);_find_and_load (<frozen importlib._bootstrap>:1165);<module> (pydantic/main.py:1) 3",
        "main (mfile/cli.py:1);write_run_dir (mfile/codegen/render.py:119) 1",
    ])  # fmt: skip
    assert dict(profile.breakdown(raw)) == {
        "parse (mfile_grammar + lark)": pytest.approx(0.6),
        "imports at start-up": pytest.approx(0.3),
        "codegen: render.py": pytest.approx(0.1),
    }


def test_report_renders_partial_results() -> None:
    results = {"machine": {"date": "d"}, "sections": {"planning": {
        "command": "c", "quick": True, "date": "d", "wall_s": 1.0,
        "result": {"sizes": [10, 1000], "times": {"mfile": {"10": 0.3, "1000": 1.0}, "snakemake": {"10": 1.0, "1000": 2.0}},
                   "fit": {}, "errors": {"kfp@1000": "exit 1: boom"}}}}}  # fmt: skip
    text = report.markdown(results, {})
    assert "| 1,000 | 1.000 | 2.000 | 2.0× |" in text
    assert "**missed**: 2.00× against 5×" in text
    assert "kfp@1000 failed:** exit 1: boom" in text
    assert "## 4. Lint throughput" in text and "Not run yet." in text


def test_peers_unavailable_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A requirement pip rejects before asking any index: the venv exists, the install fails.
    monkeypatch.setattr(common, "WORK", tmp_path)
    monkeypatch.setattr(common, "PEERS_VENV", tmp_path / "peers-venv")
    monkeypatch.setattr(common, "PEER_REQUIREMENTS", ("not a valid requirement !!",))
    got = common.ensure_peers(log=lambda _m: None)
    assert not got.ok and got.reason.startswith("pip could not install the peers")
    text = report.markdown({"sections": {"lint": {"command": "c", "quick": True, "date": "d", "wall_s": 1.0, "result": {
        "files": 200, "tasks_per_file": 10, "mfile": {"seconds": 2.0, "runs": 1, "per_file_s": 0.01},
        "peers_unavailable": got.reason}}}}, {})  # fmt: skip
    assert "Peer columns unavailable: pip could not install" in text


def _goal_results(check_s: float, snake_over_mfile: float, copies: int) -> dict:
    """Results as the sections leave them, with the figures a goal is judged on."""
    run = {"command": "c", "quick": True, "date": "d", "wall_s": 1.0}
    return {"sections": {
        "goals": {**run, "result": {
            "check": {"check_s": check_s, "pass_s": 0.02, "check_cpu_s": check_s, "pass_cpu_s": 0.02, "runs": 5},
            "plan": {"100": {"bytes": 300_000, "header_copies": copies, "distinct_headers": 2},
                     "1000": {"bytes": 3_000_000, "header_copies": copies, "distinct_headers": 2}},
        }},
        "planning": {**run, "result": {"sizes": [10, 1000], "times": {"mfile": {"10": 0.4, "1000": 1.0},
                                          "snakemake": {"10": 2.0, "1000": snake_over_mfile}}}},
    }}  # fmt: skip


def test_goals_are_judged_by_their_ratio() -> None:
    from suite import goals

    rows = {g.id: g for g in goals.evaluate(_goal_results(check_s=0.08, snake_over_mfile=1.9, copies=2))}
    assert rows["check-startup"].ratio == pytest.approx(4.0) and rows["check-startup"].met
    assert rows["compile-vs-snakemake"].ratio == pytest.approx(1.9) and not rows["compile-vs-snakemake"].met
    assert rows["plan-headers-once"].ratio == 1.0 and rows["plan-headers-once"].met
    assert "compile-vs-snakemake" in report.markdown(_goal_results(0.08, 1.9, 2), {})


def test_quick_run_fails_only_when_a_recorded_goal_regresses(tmp_path: Path) -> None:
    from suite import goals

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# table\n" + goals.record(goals.evaluate(_goal_results(0.08, 1.9, 2))) + "\n")
    assert goals.recorded(doc)["plan-headers-once"]["met"] is True
    # Within the tolerance, or a goal that was missed anyway: CI passes.
    assert goals.guard(goals.evaluate(_goal_results(0.11, 1.5, 2)), doc) == []
    # A goal recorded as met and now missed by more than the tolerance: CI fails, naming it.
    problems = goals.guard(goals.evaluate(_goal_results(0.2, 1.9, 1000)), doc)
    assert [p.split(":")[0] for p in problems] == ["check-startup", "plan-headers-once"]


def test_quick_run_leaves_docs_alone() -> None:
    run_py = (REPO / "benchmarks" / "run.py").read_text()
    assert "QUICK_RESULTS if args.quick" in run_py
    assert "elif not args.no_docs:" in run_py  # docs are written only by a full run
