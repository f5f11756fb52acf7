"""Boundary and variant cases that kill mutants the rest of the suite let live (docs/mutation.md).

Expected values are written out by hand here, not computed with the code under test.
"""

from __future__ import annotations

import pytest

from mfile.plan.types import (
    Array,
    Column,
    Fundamental,
    Model,
    Nullable,
    Struct,
    Tabular,
    Tensor,
    cast_kind,
    compare,
    select_columns,
)

# --------------------------------------------------------------------------- plan/types.py


@pytest.mark.parametrize(
    ("produced", "wanted", "kind"),
    [
        ("int32", "int32", "same"),
        ("bool", "int8", "widen"),
        ("bool", "uint8", "widen"),
        ("bool", "float32", "widen"),
        ("bool", "string", "incompatible"),
        ("int8", "int16", "widen"),
        ("int16", "int8", "narrow"),
        ("int32", "uint64", "narrow"),
        ("int64", "float32", "widen"),
        ("int8", "bool", "narrow"),
        ("uint8", "uint16", "widen"),
        ("uint16", "uint8", "narrow"),
        ("uint8", "int16", "widen"),
        ("uint16", "int16", "narrow"),  # equal width: the sign bit does not fit
        ("uint32", "int16", "narrow"),
        ("uint8", "float32", "widen"),
        ("uint8", "bool", "narrow"),
        ("float32", "float64", "widen"),
        ("float64", "float32", "narrow"),
        ("float32", "int64", "narrow"),
        ("float32", "uint8", "narrow"),
        ("float32", "bool", "narrow"),
        ("string", "int32", "incompatible"),
        ("int32", "string", "incompatible"),
        ("float32", "string", "incompatible"),
    ],
)
def test_cast_kind_each_pair(produced: str, wanted: str, kind: str) -> None:
    assert cast_kind(produced, wanted) == kind


def _f(name: str) -> Fundamental:
    return Fundamental(name=name)  # type: ignore[arg-type]


def _t(*shape: int | None, of: str = "float32") -> Tensor:
    return Tensor(shape=shape, component=of)  # type: ignore[arg-type]


def _tab(**cols) -> Tabular:
    return Tabular(columns=tuple(Column(name=n, type=t) for n, t in cols.items()))


def _found(produced, wanted):
    return [(m.severity, m.path, m.reason) for m in compare(produced, wanted)]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_tensor_shape_each_dimension_is_compared(axis: int) -> None:
    want = [4, 5, 6]
    have = list(want)
    have[axis] += 1
    assert _found(_t(*have), _t(*want)) == [("error", "value", f"shape differs in dimension {axis}")]


def test_tensor_shape_several_dimensions_named_and_none_is_any() -> None:
    assert _found(_t(1, 5, 7), _t(4, 5, 6)) == [("error", "value", "shape differs in dimension 0, 2")]
    assert _found(_t(None, 5), _t(4, 5)) == []
    assert _found(_t(4, 5), _t(4, None)) == []
    assert _found(_t(4, 5), _t(4, 5)) == []


@pytest.mark.parametrize(("have", "want"), [((4,), (4, 5)), ((4, 5, 1), (4, 5)), ((), (1,))])
def test_tensor_rank_differs(have, want) -> None:
    assert _found(_t(*have), _t(*want)) == [("error", "value", f"rank {len(have)} is not {len(want)}")]


def test_tensor_component_and_kind() -> None:
    assert _found(_t(3, of="float64"), _t(3, of="float32")) == [("error", "value", "float64 would narrow to float32")]
    assert _found(_t(3, of="float32"), _t(3, of="float64")) == [("widen", "value", "float32 widens to float64")]
    assert _found(_f("float32"), _t(3)) == [("error", "value", "expected a tensor")]


def test_void_on_either_side_matches_anything() -> None:
    assert compare(_f("void"), _t(3)) == []
    assert compare(_t(3), _f("void")) == []


def test_nullable() -> None:
    assert _found(Nullable(underlying=_f("int32")), _f("int32")) == [
        ("error", "value", "a nullable value cannot feed a non-nullable port")
    ]
    assert compare(_f("int32"), Nullable(underlying=_f("int32"))) == []
    assert compare(Nullable(underlying=_f("int32")), Nullable(underlying=_f("int32"))) == []
    assert _found(Nullable(underlying=_f("int64")), Nullable(underlying=_f("int32"))) == [
        ("error", "value", "int64 would narrow to int32")
    ]


def test_tables_missing_dropped_and_nested_paths() -> None:
    wanted = _tab(a=_f("int32"), b=_t(2))
    produced = _tab(a=_f("int64"), c=_f("bool"))
    assert _found(produced, wanted) == [
        ("error", "a", "int64 would narrow to int32"),
        ("error", "b", "column 'b' is missing"),
        ("dropped", "c", "column 'c' is not used"),
    ]
    m = compare(produced, wanted)[1]
    assert (m.wanted, m.got) == ("tensor[2] of float32", "nothing")
    m = compare(produced, wanted)[2]
    assert (m.wanted, m.got) == ("nothing", "bool")


def test_one_column_tables_unwrap_on_either_side() -> None:
    assert _found(_f("int64"), _tab(x=_f("int32"))) == [("error", "x", "int64 would narrow to int32")]
    assert _found(_tab(x=_f("int64")), _f("int32")) == [("error", "x", "int64 would narrow to int32")]
    assert _found(_f("int32"), _tab(x=_f("int32"), y=_f("int32"))) == [("error", "value", "expected a table of columns")]
    # a two-column table does not unwrap into a scalar
    assert _found(_tab(x=_f("int32"), y=_f("int32")), _f("int32")) == [("error", "value", "expected a scalar")]


def test_arrays_structs_models() -> None:
    assert _found(Array(underlying=_f("int64")), Array(underlying=_f("int32"))) == [
        ("error", "value", "int64 would narrow to int32")
    ]
    assert _found(_f("int32"), Array(underlying=_f("int32"))) == [("error", "value", "expected an array")]
    s = lambda **c: Struct(fields=tuple(Column(name=n, type=t) for n, t in c.items()))  # noqa: E731
    assert _found(s(a=_f("int64")), s(a=_f("int32"))) == [("error", "a", "int64 would narrow to int32")]
    assert _found(_f("int32"), s(a=_f("int32"))) == [("error", "value", "expected a struct")]
    # a model's input is contravariant: the wanted model's input must fit the produced one's
    produced = Model(input=_f("int64"), output=_f("int32"))
    wanted = Model(input=_f("int32"), output=_f("int64"))
    assert _found(produced, wanted) == [
        ("widen", "input", "int32 widens to int64"),
        ("widen", "output", "int32 widens to int64"),
    ]
    assert _found(Model(input=_f("int32"), output=_f("int64")), Model(input=_f("int64"), output=_f("int32"))) == [
        ("error", "input", "int64 would narrow to int32"),
        ("error", "output", "int64 would narrow to int32"),
    ]
    assert _found(_f("int32"), wanted) == [("error", "value", "expected a trained model")]
    assert _found(_t(2), _f("int32")) == [("error", "value", "expected a scalar")]


def test_type_strings_and_select_columns() -> None:
    assert str(_t(None, 3)) == "tensor[*, 3] of float32"
    assert str(Nullable(underlying=_f("int8"))) == "nullable int8"
    assert str(Array(underlying=_f("int8"))) == "array of int8"
    assert str(Struct(fields=(Column(name="a", type=_f("int8")),))) == "struct{a: int8}"
    assert str(Model(input=_f("int8"), output=_f("bool"))) == "model(int8 -> bool)"
    assert str(_tab(a=_f("int8"), b=_f("bool"))) == "{a: int8, b: bool}"
    table = _tab(a=_f("int8"), b=_f("bool"), c=_f("string"))
    assert select_columns(table, ("c", "a")).names == ("a", "c")
    assert select_columns(_f("int8"), ("a",)) == _f("int8")
    assert table.column("b") == _f("bool") and table.column("z") is None


# --------------------------------------------------------------------------- codegen/jobs.py, commands/submit.py

import io  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from mfile import api  # noqa: E402
from mfile.codegen.jobs import Job, array_chunks, job_name, last_job, plan_jobs, resolve_account  # noqa: E402
from mfile.commands.submit import submit_command  # noqa: E402
from mfile.plan.state import tasks_to_run  # noqa: E402
from mfile.slurm.scheduler import FakeScheduler  # noqa: E402

E2E = Path(__file__).parent / "fixtures" / "e2e"
# What each task of fanin.mfile reads, as the M-File says it (not as the planner computes it).
FANIN = {"src": set(), "split": {"src"}, "fit": {"split"}, "score": {"fit", "split"}}


@pytest.mark.parametrize(
    ("points", "size", "chunks"),
    [
        (1, 4, [(0, 1)]),
        (3, 4, [(0, 3)]),
        (4, 4, [(0, 4)]),
        (5, 4, [(0, 4), (4, 1)]),
        (9, 4, [(0, 4), (4, 4), (8, 1)]),
        (12, 4, [(0, 4), (4, 4), (8, 4)]),
        (0, 4, []),
    ],
)
def test_array_chunks_below_at_above_the_limit(points: int, size: int, chunks) -> None:
    assert array_chunks(points, size) == chunks


def test_job_basics() -> None:
    assert Job("a", "a", "task").dependency == "afterok"
    assert Job("a", "a", "array").dependency == "afterok"
    assert Job("a.select", "a", "select").dependency == "afterany"
    assert Job("a", "a", "task").script == "jobs/a.sbatch"
    assert Job("a", "a", "task").elements == 1
    assert Job("a", "a", "array", count=7).elements == 7
    assert job_name("p", "a b/c") == "p.a_b_c"
    assert len(job_name("p", "x" * 300)) == 200


def test_resolve_account_takes_the_first_budget() -> None:
    profile = api._profile("juwels-booster")
    env = profile.account_env
    assert env
    assert resolve_account(profile, {env: " deepacf, other"}) == "deepacf"
    assert resolve_account(profile, {env: "a b"}) == "a"
    assert resolve_account(profile, {env: "   "}) == profile.account
    assert resolve_account(profile, {}) == profile.account


@pytest.fixture
def fanin(tmp_path: Path) -> Path:
    (compiled,) = api.compile(E2E / "fanin.mfile", items=[E2E / "items"], profile="local", out=tmp_path / "runs")
    assert compiled.run_dir is not None
    return compiled.run_dir


def test_plan_jobs_keeps_every_parent_of_a_fan_in(fanin: Path) -> None:
    (compiled,) = api.compile(E2E / "fanin.mfile", items=[E2E / "items"], profile="local", write=False)
    jobs = plan_jobs(compiled.plan, compiled.profile)
    assert {j.name: set(j.after) for j in jobs} == FANIN
    assert [j.name for j in jobs].index("score") == 3
    assert all(j.kind == "task" and j.count == 0 and j.offset == 0 for j in jobs)


def _submit(run_dir: Path, resume: bool = False, stage: str | None = None, dry_run: bool = False):
    out, err = io.StringIO(), io.StringIO()
    fake = FakeScheduler()
    code = submit_command(run_dir, dry_run, resume, stage, fake, out=out, err=err, sleep=lambda s: None)
    return code, fake, out.getvalue(), err.getvalue()


def _deps(options) -> set[str]:
    dep = [o for o in options if o.startswith("--dependency=")]
    if not dep:
        return set()
    kind, _, ids = dep[0].removeprefix("--dependency=").partition(":")
    assert kind == "afterok"
    return set(ids.split(":"))


def test_submit_waits_for_every_parent(fanin: Path) -> None:
    code, fake, out, _ = _submit(fanin)
    assert code == 0
    ids = {Path(s).stem: i for s, _, i in fake.submitted}
    for script, options, _ in fake.submitted:
        task = Path(script).stem
        assert _deps(options) == {ids[p] for p in FANIN[task]}, task
        assert ("--kill-on-invalid-dep=yes" in options) == bool(FANIN[task])
    rows = json.loads((fanin / "state" / "jobs.json").read_text())["jobs"]
    assert {r["name"]: set(r["after"]) for r in rows} == {t: {ids[p] for p in ps} for t, ps in FANIN.items()}


def test_dry_run_names_every_parent(fanin: Path) -> None:
    code, fake, out, _ = _submit(fanin, dry_run=True)
    assert code == 0 and fake.submitted == []
    (score,) = [line for line in out.splitlines() if line.endswith("jobs/score.sbatch")]
    assert "--dependency=afterok:@split:@fit" in score or "--dependency=afterok:@fit:@split" in score


def _mark_done(run_dir: Path, *tasks: str) -> None:
    for task in tasks:
        (run_dir / "state" / f"{task}.json").write_text(json.dumps({"status": "done"}))


def test_resume_keeps_only_the_parents_still_queued(fanin: Path) -> None:
    _mark_done(fanin, "src", "split")
    code, fake, _, _ = _submit(fanin, resume=True)
    assert code == 0
    ids = {Path(s).stem: i for s, _, i in fake.submitted}
    assert set(ids) == {"fit", "score"}
    by = {Path(s).stem: o for s, o, _ in fake.submitted}
    assert _deps(by["fit"]) == set()
    assert _deps(by["score"]) == {ids["fit"]}
    rows = json.loads((fanin / "state" / "jobs.json").read_text())["jobs"]
    assert sorted(r["name"] for r in rows) == ["fit", "score"]


def test_tasks_to_run_variants(fanin: Path) -> None:
    (compiled,) = api.compile(E2E / "fanin.mfile", items=[E2E / "items"], profile="local", write=False)
    plan = compiled.plan
    assert tasks_to_run(plan, fanin, False, None) == ["src", "split", "fit", "score"]
    assert tasks_to_run(plan, fanin, True, None) == ["src", "split", "fit", "score"]
    assert tasks_to_run(plan, fanin, False, "score") == ["src", "split", "fit", "score"]
    assert tasks_to_run(plan, fanin, False, "prepare") == ["src", "split"]
    _mark_done(fanin, "src", "split", "fit")
    assert tasks_to_run(plan, fanin, False, "score") == ["score"]
    assert tasks_to_run(plan, fanin, False, None) == ["src", "split", "fit", "score"]
    assert tasks_to_run(plan, fanin, True, None) == ["score"]
    assert tasks_to_run(plan, fanin, True, "train") == []
    (fanin / "state" / "split.json").unlink()
    # split is redone, so everything after it is too, even though fit's record says done
    assert tasks_to_run(plan, fanin, True, None) == ["split", "fit", "score"]
    assert tasks_to_run(plan, fanin, False, "train") == ["split", "fit"]


# --------------------------------------------------------------------------- runtime/records.py, plan/state.py

import os  # noqa: E402

from mfile.plan import state  # noqa: E402
from mfile.runtime import records  # noqa: E402

ITEMS = [("a/b:1", "h1", "p1")]


def _key(**over):
    args = dict(task_id="t", mode="run", items=ITEMS, params={"x": 1}, inputs={"input": ["up:output:d1"]},
                runtime={"mfile": "1", "image": [], "modules": None})
    args.update(over)
    return records.task_key(**args)


@pytest.mark.parametrize(
    "change",
    [
        {"task_id": "u"}, {"mode": "predict"}, {"items": [("a/b:1", "h2", "p1")]},
        {"items": [("a/b:1", "h1", "p2")]}, {"params": {"x": 2}}, {"inputs": {"input": ["up:output:d2"]}},
        {"runtime": {"mfile": "2", "image": [], "modules": None}}, {"extra": {"grid": 1}},
    ],
)
def test_task_key_covers_each_part(change) -> None:
    assert _key(**change) != _key()
    assert _key() == _key()


def _record(tmp_path: Path, **over) -> Path:
    path = tmp_path / "state" / "t.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    args = dict(task_id="t", key=_key(), inputs={"input": ["up:output:d1"]}, params={"x": 1}, items=ITEMS,
                outputs={}, started="then", wall_s=1.23456, ranks=2,
                runtime={"mfile": "1", "image": [], "modules": None})
    args.update(over)
    records.write_record(path, **args)
    return path


def _why(path: Path, **over) -> list[str]:
    now = dict(items=ITEMS, params={"x": 1}, inputs={"input": ["up:output:d1"]},
               runtime={"mfile": "1", "image": [], "modules": None})
    now.update(over)
    key = _key(**{k: v for k, v in over.items()})
    return records.why_stale(path, key, [], **now)


def test_write_record_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    rec = json.loads(_record(tmp_path, point=3, extra={"best": 1}).read_text())
    assert rec["status"] == "done" and rec["format"] == records.RECORD_FORMAT and rec["task"] == "t"
    assert rec["point"] == 3 and rec["best"] == 1 and rec["ranks"] == 2 and rec["wall_s"] == 1.235
    assert rec["items"] == [{"ref": "a/b:1", "header_sha256": "h1", "payload_sha256": "p1"}]
    assert rec["params_sha256"] == records.sha256_text('{"x":1}')
    assert rec["reads"] == [] and rec["job_id"] == "77" and rec["started"] == "then"
    assert rec["inputs"] == {"input": ["up:output:d1"]}


def test_job_id_of_an_array_element(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "100")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "90")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    assert records.job_id() == "90_4"
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID")
    assert records.job_id() == "100_4"
    monkeypatch.delenv("SLURM_JOB_ID")
    assert records.job_id() is None


def test_why_stale_names_each_part(tmp_path: Path) -> None:
    path = _record(tmp_path)
    assert _why(path) == []
    assert records.why_stale(tmp_path / "none.json", "k", []) == [records.NOT_DONE]
    assert _why(path, items=[("a/b:1", "h2", "p1")]) == ["the header of a/b:1 changed"]
    assert _why(path, items=[("a/b:1", "h1", "p2")]) == ["the payload of a/b:1 changed"]
    assert _why(path, items=[("c/d:1", "h1", "p1")]) == ["the header of c/d:1 changed"]
    assert _why(path, params={"x": 2}) == ["params changed"]
    assert _why(path, inputs={"input": ["up:output:d2"]}) == ["upstream output up:output changed"]
    assert _why(path, inputs={"input": ["up:output:d1", "up2[3]:output:d9"]}) == ["upstream output up2 changed"]
    assert _why(path, runtime={"mfile": "2", "image": [], "modules": None}) == ["the mfile version changed ('1' -> '2')"]
    assert _why(path, runtime={"mfile": "1", "image": ["x"], "modules": None}) == [
        "the runtime image changed ([] -> ['x'])"]
    assert _why(path, runtime={"mfile": "1", "image": [], "modules": ["m"]}) == [
        "the module set changed (None -> ['m'])"]
    # the key differs but no part named: the plan itself changed
    assert records.why_stale(path, "other", []) == ["the plan changed (task, mode or search settings)"]
    assert records.why_stale(path, _key(), [tmp_path / "gone"]) == [f"output {tmp_path / 'gone'} is missing"]
    assert records.why_stale(path, _key(), [path]) == []


def test_a_record_of_an_older_format_is_stale(tmp_path: Path) -> None:
    path = _record(tmp_path)
    rec = json.loads(path.read_text())
    rec["format"] = 2
    path.write_text(json.dumps(rec))
    assert records.why_stale(path, "other", [], items=ITEMS) == [
        "the completion record is from an older mfile (format 2)"]


def test_output_digest(tmp_path: Path) -> None:
    path = _record(tmp_path, outputs={"o": {"sha256": "abc"}, "bad": "x"})
    assert records.output_digest(path, "o") == "abc"
    assert records.output_digest(path, "bad") is None
    assert records.output_digest(path, "none") is None
    assert records.output_digest(tmp_path / "missing.json", "o") is None


def test_digest_path_counts_and_names(tmp_path: Path) -> None:
    port = tmp_path / "port"
    (port / "sub").mkdir(parents=True)
    (port / "a").write_bytes(b"12345")
    (port / "sub" / "b").write_bytes(b"xy")
    d = records.digest_path(port)
    assert (d["files"], d["bytes"]) == (2, 7)
    single = records.digest_path(port / "a")
    assert (single["files"], single["bytes"]) == (1, 5)
    (port / "sub" / "b").rename(port / "sub" / "c")  # same bytes, another name
    assert records.digest_path(port)["sha256"] != d["sha256"]


def test_digest_path_above_the_content_limit_uses_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "big"
    f.write_bytes(b"abcd")
    os.utime(f, ns=(1, 1))
    monkeypatch.setattr(records, "CONTENT_HASH_LIMIT", 4)  # at the limit: content counts
    at = records.digest_path(f)["sha256"]
    f.write_bytes(b"abce")
    os.utime(f, ns=(1, 1))
    assert records.digest_path(f)["sha256"] != at
    monkeypatch.setattr(records, "CONTENT_HASH_LIMIT", 3)  # above: size and mtime only
    above = records.digest_path(f)["sha256"]
    f.write_bytes(b"abcf")
    os.utime(f, ns=(1, 1))
    assert records.digest_path(f)["sha256"] == above


def _reads(tmp_path: Path, n: int) -> tuple[list[dict], list[Path]]:
    files = []
    for i in range(n):
        f = tmp_path / f"in{i}.nc"
        f.write_text("x")
        files.append(f)
    pattern = str(tmp_path / "in*.nc")
    return [{"pattern": "in*.nc", "globs": [str(tmp_path / "nothing*"), pattern],
             "files": state.fingerprint(state.expand_globs([pattern]))}], files


def test_read_changes_lists_up_to_the_limit(tmp_path: Path) -> None:
    reads, files = _reads(tmp_path, 5)
    assert state.read_changes(reads) == []
    for f in files[:3]:
        f.write_text("xx")
    assert state.read_changes(reads) == [f"input {f} changed" for f in files[:3]]
    files[3].write_text("xx")
    assert state.read_changes(reads) == [f"input {f} changed" for f in files[:3]] + ["1 more inputs matching in*.nc changed"]


def test_read_changes_new_gone_and_none(tmp_path: Path) -> None:
    reads, files = _reads(tmp_path, 2)
    (tmp_path / "in9.nc").write_text("x")
    assert state.read_changes(reads) == ["1 new file matches in*.nc"]
    (tmp_path / "in8.nc").write_text("x")
    assert state.read_changes(reads) == ["2 new files match in*.nc"]
    for f in tmp_path.glob("in[89].nc"):
        f.unlink()
    files[0].unlink()
    assert state.read_changes(reads) == [f"input {files[0]} is gone"]
    files[1].unlink()
    assert state.read_changes(reads) == ["in*.nc matches no file any more"]
    assert state.read_changes(None) == []
    assert state.read_changes({"x": 1}) == ["the completion record's list of input files is unreadable"]
    assert state.read_changes([{"pattern": "p"}]) == ["the completion record's list of input files is unreadable"]


def test_is_done_needs_a_done_record_whose_reads_match(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "state").mkdir(parents=True)
    assert not state.is_done(run, "t")
    (run / "state" / "t.json").write_text(json.dumps({"status": "failed"}))
    assert not state.is_done(run, "t") and state.done_tasks(run) == []
    reads, files = _reads(tmp_path, 1)
    (run / "state" / "t.json").write_text(json.dumps({"status": "done", "reads": reads}))
    (run / "state" / "u.json").write_text("not json")
    assert state.is_done(run, "t") and state.done_tasks(run) == ["t"]
    assert state.stale_inputs(run, "t") == []
    files[0].write_text("changed")
    assert not state.is_done(run, "t")
    assert state.stale_inputs(run, "t") == [f"input {files[0]} changed"]
    assert state.stale_inputs(run, "none") == []


def test_read_jobs_formats(tmp_path: Path) -> None:
    run = tmp_path
    (run / "state").mkdir()
    assert state.read_jobs(run) == ([], None)
    path = run / "state" / "jobs.json"
    path.write_text(json.dumps({"submitted_at": "T", "jobs": [
        {"name": "s.part1", "task": "s", "kind": "array", "job_id": "5;cluster"},
        {"task": "a", "job_id": 6}, {"name": "x"}]}))
    assert state.read_jobs(run) == ([state.JobRow("s.part1", "s", "array", "5"), state.JobRow("a", "a", "task", "6")], "T")
    path.write_text(json.dumps({"format": 1, "jobs": {"s.select": 7, "b": "8;c"}}))
    assert state.read_jobs(run) == ([state.JobRow("s.select", "s", "select", "7"), state.JobRow("b", "b", "task", "8")], None)
    path.write_text(json.dumps({"submitted_by": "x", "c.part2": 9}))
    assert state.read_jobs(run) == ([state.JobRow("c.part2", "c", "task", "9")], None)
    path.write_text("{")
    with pytest.raises(ValueError, match="unreadable"):
        state.read_jobs(run)


def test_write_jobs_keeps_only_the_named_tasks_rows(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    state.write_jobs(tmp_path, [{"name": "a", "task": "a", "job_id": "1"}, {"name": "b", "task": "b", "job_id": "2"}], set())
    state.write_jobs(tmp_path, [{"name": "b", "task": "b", "job_id": "3"}], {"a"})
    data = json.loads((tmp_path / "state" / "jobs.json").read_text())
    assert data["format"] == state.JOBS_FORMAT and data["submitted_by"] == "mfile submit"
    assert [(r["task"], r["job_id"]) for r in data["jobs"]] == [("a", "1"), ("b", "3")]
    assert not (tmp_path / "state" / "jobs.json.tmp").exists()


# --------------------------------------------------------------------------- codegen/resources.py: one below, at, one above

from codegen_ir import item as _item  # noqa: E402
from codegen_ir import task as _task  # noqa: E402
from mfile.codegen import resources as res  # noqa: E402
from mfile.codegen.profile import Profile, load_profile  # noqa: E402
from mfile.diagnostics import Reporter, Span  # noqa: E402

# Two partitions whose every limit differs, so a check against the wrong one shows.
_SITE = {
    "small": {"cores_per_node": 8, "threads_per_core": 2, "gpus_per_node": 2, "memory_per_node_mb": 1000,
              "max_time": "01:00:00", "max_nodes": 3},
    "big": {"cores_per_node": 32, "threads_per_core": 1, "gpus_per_node": 4, "memory_per_node_mb": 8000,
            "max_time": "10:00:00", "max_nodes": 50},
    "cpu": {"cores_per_node": 4, "memory_per_node_mb": 500, "max_time": "00:30:00", "max_nodes": 2},
}


def _site(**over) -> Profile:
    data = load_profile("juwels-booster").model_dump()
    data.update(partitions=_SITE, cpu_partition="cpu", gpu_partition="big", exclusive_nodes=False,
                default_cpus_per_task=1, default_time="00:20:00")
    data.update(over)
    return Profile.model_validate(data)


def _resolve(kind: str = "trainable", profile: Profile | None = None, **resources):
    t = _task("t", "s", _item("demo/x:1.0", kind), 6, **resources)
    reporter = Reporter()
    got = res.resolve(t, profile or _site(), reporter, Span.whole_file("f"))
    return got, [r.code for r in reporter.reports]


@pytest.mark.parametrize(("partition", "limit"), [("small", 3), ("big", 50)])
def test_nodes_limit_of_each_partition(partition: str, limit: int) -> None:
    for nodes, codes in ((limit - 1, []), (limit, []), (limit + 1, ["E407"])):
        got, found = _resolve(partition=partition, nodes=nodes, tasks=nodes, parallel="data")
        assert found == codes, (partition, nodes)
        assert (got is None) == bool(codes)
        if got is not None:
            assert (got.nodes, got.tasks, got.partition) == (nodes, nodes, partition)


@pytest.mark.parametrize(("partition", "limit"), [("small", 1000), ("big", 8000)])
def test_memory_limit_of_the_requested_partition(partition: str, limit: int) -> None:
    for mb, codes in ((limit - 1, []), (limit, []), (limit + 1, ["E405"])):
        got, found = _resolve(partition=partition, memory=f"{mb}M")
        assert found == codes, (partition, mb)
        if got is not None:
            assert got.memory == f"{mb}M"


def test_memory_hint_names_the_bigger_partitions() -> None:
    t = _task("t", "s", _item("demo/x:1.0", "trainable"), 6, partition="small", memory="1001M")
    reporter = Reporter()
    res.resolve(t, _site(), reporter, Span.whole_file("f"))
    assert "big" in reporter.reports[0].hint and "cpu" not in reporter.reports[0].hint


@pytest.mark.parametrize(("partition", "limit"), [("small", 3600), ("big", 36000)])
def test_walltime_limit_of_each_partition(partition: str, limit: int) -> None:
    from mfile.plan.units import format_time

    for seconds, codes in ((limit - 1, []), (limit, []), (limit + 1, ["E406"])):
        got, found = _resolve(partition=partition, time=format_time(seconds))
        assert found == codes, (partition, seconds)
        if got is not None:
            assert got.time == format_time(seconds)


def test_default_time_is_the_profiles_capped_at_the_partition() -> None:
    got, _ = _resolve(partition="big")
    assert got.time == "00:20:00"
    got, _ = _resolve(profile=_site(default_time="05:00:00"), partition="small")
    assert got.time == "01:00:00"


@pytest.mark.parametrize(("partition", "have"), [("small", 2), ("big", 4)])
def test_gpus_per_node_of_each_partition(partition: str, have: int) -> None:
    for gpus, codes in ((have - 1, []), (have, []), (have + 1, ["E403"])):
        got, found = _resolve(kind="algorithm", partition=partition, gpus=gpus)
        assert found == codes, (partition, gpus)
        if got is not None:
            assert got.gpus == gpus and got.tasks == 1


def test_gpus_pick_the_gpu_partition_and_a_cpu_partition_refuses_them() -> None:
    got, found = _resolve(kind="algorithm", gpus=1)
    assert found == [] and got.partition == "big"
    got, found = _resolve(kind="algorithm")
    assert found == [] and got.partition == "cpu" and got.gpus == 0
    got, found = _resolve(kind="algorithm", partition="cpu", gpus=1)
    assert found == ["E402"] and got is None
    got, found = _resolve(kind="algorithm", profile=_site(gpu_partition=None), gpus=1)
    assert found == ["E402"]
    got, found = _resolve(partition="nope")
    assert found == ["E401"]


@pytest.mark.parametrize(("partition", "cpus_per_node"), [("small", 16), ("big", 32)])
def test_cpus_per_node_of_each_partition(partition: str, cpus_per_node: int) -> None:
    # 2 ranks per node: need = 2 x cpus_per_task
    half = cpus_per_node // 2
    for cpus, codes in ((half - 1, []), (half, []), (half + 1, ["E404"])):
        got, found = _resolve(partition=partition, nodes=1, tasks=2, cpus_per_task=cpus, parallel="data")
        assert found == codes, (partition, cpus)
        if got is not None:
            assert got.cpus_per_task == cpus


def test_exclusive_nodes_give_each_rank_its_share_of_the_cores() -> None:
    got, _ = _resolve(profile=_site(exclusive_nodes=True), partition="big", nodes=2, tasks=8, parallel="data")
    assert (got.nodes, got.tasks, got.cpus_per_task) == (2, 8, 8)
    got, _ = _resolve(profile=_site(exclusive_nodes=True), partition="small")
    assert got.cpus_per_task == 16  # all of a node's Slurm CPUs (hardware threads, issue 12)
    got, _ = _resolve(profile=_site(default_cpus_per_task=3), partition="big")
    assert got.cpus_per_task == 3


def test_ranks_and_nodes_derivation() -> None:
    # DDP: one rank per GPU
    got, found = _resolve(partition="big", gpus=4, tasks=8)
    assert found == [] and (got.nodes, got.tasks) == (2, 8)
    got, found = _resolve(partition="big", gpus=4, nodes=2)
    assert found == [] and (got.nodes, got.tasks) == (2, 8)
    got, found = _resolve(partition="big", gpus=2, tasks=3)  # ceil(3 / 2) = 2 nodes, 3 % 2 ranks left over
    assert found == ["E408"] and got is None
    got, found = _resolve(partition="big", nodes=2, tasks=3, parallel="data")
    assert found == ["E408"] and got is None
    got, found = _resolve(partition="big", nodes=2, parallel="data")
    assert found == [] and (got.nodes, got.tasks) == (2, 2)
    got, found = _resolve(kind="algorithm", partition="big", tasks=2)
    assert found == ["E416"]
    got, found = _resolve(kind="algorithm", partition="big", nodes=2)
    assert found == ["E416"]


@pytest.mark.parametrize("field", ["nodes", "tasks", "cpus_per_task"])
def test_counts_below_one(field: str) -> None:
    for value, codes in ((0, ["E412"]), (1, [])):
        got, found = _resolve(partition="big", **{field: value})
        assert found == codes, (field, value)


def test_negative_gpus() -> None:
    assert _resolve(partition="big", gpus=-1)[1] == ["E412"]
    assert _resolve(partition="big", gpus=0)[1] == []


def test_requeue_default_for_trainables_only() -> None:
    assert _resolve(partition="big")[0].requeue is True
    assert _resolve(kind="algorithm", partition="big")[0].requeue is False
    assert _resolve(profile=_site(requeue_trainables=False), partition="big")[0].requeue is False


@pytest.mark.parametrize(
    ("option", "code"),
    [("--comment=x", None), ("--constraint=gpu", None), ("--mem=1G", "E410"), ("-N2", "E410"),
     ("--exclusive", "E410"), ("--Bad", "E410"), ("--x=a b", "E413"), ("exclusive", "E413")],
)
def test_sbatch_extra(option: str, code: str | None) -> None:
    assert _resolve(partition="big", sbatch_extra=(option,))[1] == ([code] if code else [])


# --------------------------------------------------------------------------- compiler/typecheck.py

from mfile.compiler import typecheck as tc  # noqa: E402

_AT = Span.whole_file("f")


def _codes(reporter: Reporter) -> list[str]:
    return [r.code for r in reporter.reports]


def test_check_binding_severities() -> None:
    for produced, wanted, codes, ok in [
        (_f("int64"), _f("int32"), ["E201"], False),
        (_f("int32"), _f("int64"), ["E202"], True),
        (_tab(a=_f("int32"), b=_f("int32")), _tab(a=_f("int32")), ["E203"], True),
        (_f("void"), _f("int32"), ["E208"], True),
        (_f("void"), _f("void"), [], True),
        (_f("int32"), _f("int32"), [], True),
    ]:
        reporter = Reporter()
        assert tc.check_binding(reporter, "t", "input", produced, wanted, _AT) is ok
        assert _codes(reporter) == codes, (produced, wanted)


def test_as_model() -> None:
    m = Model(input=_f("int8"), output=_f("int8"))
    reporter = Reporter()
    assert tc.as_model(reporter, "t", "model", m, _AT) is m
    assert tc.as_model(reporter, "t", "model", _f("void"), _AT) == Model(input=_f("void"), output=_f("void"))
    assert _codes(reporter) == []
    assert tc.as_model(reporter, "t", "model", _f("int8"), _AT) is None
    assert _codes(reporter) == ["E206"]


def test_join_output_names_columns_and_clashes() -> None:
    reporter = Reporter()
    got = tc.join_output(reporter, "j", [("input_0", _tab(a=_f("int8"))), ("input_1", _t(3)),
                                        ("input_2", _tab(a=_f("bool"), b=_f("int8")))], _AT)
    assert got == _tab(a=_f("int8"), input_1=_t(3), b=_f("int8"))
    assert _codes(reporter) == ["E204"]
    assert "input_0" in reporter.reports[0].message and "input_2" in reporter.reports[0].message
    assert tc.join_output(Reporter(), "j", [("input_0", _tab(a=_f("int8"))), ("input_1", _f("void"))], _AT) == _f("void")


@pytest.mark.parametrize(
    ("size", "ok"),
    [(0, False), (0.0001, True), (0.5, True), (0.9999, True), (1, False), (1.0, False), (-0.1, False),
     (True, False), ("0.2", False), (None, True)],
)
def test_split_test_size_strictly_between_0_and_1(size, ok: bool) -> None:
    reporter = Reporter()
    tc.check_split(reporter, "s", {"test_size": size}, {}, _AT)
    assert _codes(reporter) == ([] if ok else ["E205"])


@pytest.mark.parametrize(("by", "ok"), [("time", True), ("random", True), (None, True), ("Time", False), ("x", False)])
def test_split_by(by, ok: bool) -> None:
    reporter = Reporter()
    tc.check_split(reporter, "s", {"by": by}, {}, _AT)
    assert _codes(reporter) == ([] if ok else ["E205"])


def test_split_reports_at_the_params_span() -> None:
    reporter = Reporter()
    where = Span(file="f", line=4, column=9, end_line=4, end_column=12)
    tc.check_split(reporter, "s", {"test_size": 2, "by": "x"}, {"test_size": where}, _AT)
    assert [r.span for r in reporter.reports] == [where, _AT]


@pytest.mark.parametrize(
    ("lag", "ok"),
    [("1h", True), ("6h", True), ("30min", True), ("1D", True), ("2W", True), (" 3s ", True), ("1 d", True),
     ("0h", False), ("01h", False), ("h", False), ("1y", False), ("1hh", False), (1, False), ("x1h", False)],
)
def test_timelag_lag(lag, ok: bool) -> None:
    reporter = Reporter()
    tc.timelag_output(reporter, "l", _f("void"), {"lag": lag}, {}, _AT)
    assert _codes(reporter) == ([] if ok else ["E205"])


@pytest.mark.parametrize(("steps", "ok"), [(0, False), (1, True), (2, True), (999, True), (1000, True), (1001, False),
                                           (True, False), (2.0, False)])
def test_timelag_steps_between_1_and_1000(steps, ok: bool) -> None:
    reporter = Reporter()
    tc.timelag_output(reporter, "l", _f("void"), {"steps": steps}, {}, _AT)
    assert _codes(reporter) == ([] if ok else ["E205"])


def test_timelag_output_columns() -> None:
    table = _tab(time=_f("int64"), t2m=_f("float32"), u=_f("float32"))
    reporter = Reporter()
    got = tc.timelag_output(reporter, "l", table, {"steps": 2}, {}, _AT)
    assert got.names == ("time", "t2m", "u", "t2m_lag1", "u_lag1", "t2m_lag2", "u_lag2")
    assert got.column("u_lag2") == _f("float32") and _codes(reporter) == []
    got = tc.timelag_output(reporter, "l", table, {"variables": "u, ", "steps": 1}, {}, _AT)
    assert got.names == ("time", "t2m", "u", "u_lag1") and _codes(reporter) == []
    got = tc.timelag_output(reporter, "l", table, {"variables": "v"}, {}, _AT)
    assert _codes(reporter) == ["E207"]
    # a bad steps falls back to one lag
    got = tc.timelag_output(Reporter(), "l", table, {"steps": 0}, {}, _AT)
    assert got.names == ("time", "t2m", "u", "t2m_lag1", "u_lag1")
    assert tc.timelag_output(Reporter(), "l", _t(3), {}, {}, _AT) == _t(3)


@pytest.mark.parametrize(
    ("dtype", "ok"),
    [("int64", True), ("float64", True), ("string", True), ("uint64", True), ("float32", False), ("bool", False),
     ("int32", False)],
)
def test_timelag_lag_column_must_be_time_like(dtype: str, ok: bool) -> None:
    reporter = Reporter()
    tc.timelag_output(reporter, "l", _tab(when=_f(dtype), x=_f("float32")), {"lag_column": "when"}, {}, _AT)
    assert _codes(reporter) == ([] if ok else ["E205"])


def test_timelag_lag_column_not_a_scalar() -> None:
    reporter = Reporter()
    tc.timelag_output(reporter, "l", _tab(time=_t(2), x=_f("float32")), {}, {}, _AT)
    assert _codes(reporter) == ["E205"]


def test_evaluate_types_labels_and_widths() -> None:
    model = Model(input=_tab(x=_f("float32")), output=_tab(y=_f("int64"), logits=_t(10)))
    metrics = _tab(rmse=_f("float64"))
    reporter = Reporter()
    data, out = tc.evaluate_types(reporter, "e", model, "rmse", [], _tab(x=_f("float32"), y=_f("int32")), _AT)
    assert out == metrics
    assert data == _tab(x=_f("float32"), y=_f("int32"))  # truth compared, not assigned: the data's width
    data, _ = tc.evaluate_types(reporter, "e", model, "rmse", ["logits"], _tab(x=_f("float32")), _AT)
    assert data == _tab(x=_f("float32"), logits=_t(10))
    assert _codes(reporter) == []
    tc.evaluate_types(reporter, "e", model, "rmse", ["nope"], _tab(x=_f("float32")), _AT)
    assert _codes(reporter) == ["E207"]
    reporter = Reporter()
    tc.evaluate_types(reporter, "e", model, "rmse", [], _tab(x=_f("float32")), _AT)
    assert _codes(reporter) == ["E207"] and "'y'" in reporter.reports[0].message
    assert tc.evaluate_types(Reporter(), "e", model, "rmse", [], _f("void"), _AT) == (_f("void"), metrics)
    generic = Model(input=_f("void"), output=_tab(y=_f("int64")))
    assert tc.evaluate_types(Reporter(), "e", generic, "mae", [], _f("void"), _AT) == (_f("void"), _tab(mae=_f("float64")))
    # a float label keeps the model's type
    fm = Model(input=_tab(x=_f("float32")), output=_tab(y=_f("float32")))
    data, _ = tc.evaluate_types(Reporter(), "e", fm, "rmse", [], _tab(x=_f("float32"), y=_f("float64")), _AT)
    assert data.column("y") == _f("float32")
    data, _ = tc.evaluate_types(Reporter(), "e", model, "rmse", [], _tab(x=_f("float32"), y=_f("float32")), _AT)
    assert data.column("y") == _f("int64")
    data, _ = tc.evaluate_types(Reporter(), "e", model, "rmse", [], _tab(x=_f("float32"), y=_f("uint8")), _AT)
    assert data.column("y") == _f("uint8")


def test_check_metric_and_concrete() -> None:
    reporter = Reporter()
    assert tc.check_metric(reporter, "e", "accuracy", _AT) == "accuracy"
    assert _codes(reporter) == []
    assert tc.check_metric(reporter, "e", "f1", _AT) == "rmse"
    assert _codes(reporter) == ["E205"]
    assert tc.concrete(_f("void"), _f("int8")) == _f("int8")
    assert tc.concrete(_f("int16"), _f("int8")) == _f("int16")


# --------------------------------------------------------------------------- compiler/search.py

CASE_ITEMS = Path(__file__).parent / "cases" / "items"
SEARCH = """\
data = MantikItem(name="test/digits:1")
batch_size = HyperParameter()
rate = HyperParameter()
net = MantikItem(name="test/net28:1").configure(params={{"batch_size": batch_size, "learning_rate": rate}})
scores = evaluate(metric="accuracy")
component = pipeline_component(net, scores)
component.net.set_input_name("data_train")
component.scores.set_input_name("data_test")
search = HyperParameterSearch(
    component,
    hyperparameters={{"batch_size": [32, 64, 128], "rate": [0.1, 0.01]}},
    metric={metric},
    min_points={min_points},
)
p = MantikPipeline(stages={{"s": [data, search.set_input(data_train=data.output, data_test=data.output)]}})
"""


def _search(tmp_path: Path, min_points: int = 1, metric: str = "component.scores.metric"):
    path = tmp_path / "search.mfile"
    path.write_text(SEARCH.format(min_points=min_points, metric=metric))
    found = api.check(path, items=[CASE_ITEMS])
    if not found.ok:
        return None, [d.code for d in found]
    (compiled,) = api.compile(path, items=[CASE_ITEMS], profile="local", write=False)
    (task,) = [t for t in compiled.plan.pipeline.tasks if t.kind == "search"]
    return task, [d.code for d in found]


def test_search_grid_is_the_product_in_order(tmp_path: Path) -> None:
    task, codes = _search(tmp_path)
    spec = task.search
    assert [(p["net"]["batch_size"], p["net"]["learning_rate"]) for p in spec.points] == [
        (32, 0.1), (32, 0.01), (64, 0.1), (64, 0.01), (128, 0.1), (128, 0.01)]
    assert spec.grid == {"batch_size": (32, 64, 128), "rate": (0.1, 0.01)}
    assert (spec.metric_step, spec.metric_port, spec.metric_column, spec.mode) == ("scores", "metrics", "accuracy", "max")
    assert [s.id for s in spec.steps] == ["net", "scores"]
    assert {(b.port, b.source_task, b.source_port) for b in task.inputs} == {
        ("data_train", "data", "output"), ("data_test", "data", "output")}
    assert {(b.port, b.source_task, b.source_port) for s in spec.steps for b in s.inputs} == {
        ("input", "search", "data_train"), ("data", "search", "data_test"), ("model", "net", "model")}
    assert [o.name for o in task.outputs] == ["best_model", "metrics"]
    assert str(task.outputs[0].type).startswith("model(")


@pytest.mark.parametrize(("min_points", "codes"), [(5, []), (6, []), (7, ["E129"])])
def test_min_points_at_the_grid_size(tmp_path: Path, min_points: int, codes: list[str]) -> None:
    task, found = _search(tmp_path, min_points)
    assert [c for c in found if c.startswith("E")] == codes
    if task is not None:
        assert task.search.min_points == min_points


def test_search_metric_from_the_trainers_stats(tmp_path: Path) -> None:
    task, _ = _search(tmp_path, metric="component.net.stats")
    assert task is not None
    assert (task.search.metric_step, task.search.metric_port, task.search.metric_column, task.search.mode) == (
        "net", "stats", "loss", "min")


def test_digest_path_names_files_by_their_path_inside_the_port(tmp_path: Path) -> None:
    port = tmp_path / "port"
    (port / "one").mkdir(parents=True)
    (port / "two").mkdir()
    (port / "one" / "w").write_bytes(b"1")
    before = records.digest_path(port)["sha256"]
    (port / "one" / "w").rename(port / "two" / "w")  # same name and bytes, another folder
    assert records.digest_path(port)["sha256"] != before


def test_task_key_is_the_sha256_of_its_canonical_parts() -> None:
    import hashlib

    parts = {"format": records.RECORD_FORMAT, "task": "t", "mode": "run", "items": [["a/b:1", "h1", "p1"]],
             "params": {"x": 1}, "inputs": {"input": ["up:output:d1"]}, "runtime": None, "extra": None}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    want = hashlib.sha256(text.encode()).hexdigest()
    assert records.task_key(task_id="t", mode="run", items=ITEMS, params={"x": 1},
                            inputs={"input": ["up:output:d1"]}) == want
    assert records.canonical({"p": Path("/x"), "b": 1}) == '{"b":1,"p":"/x"}'


def test_why_stale_combines_reasons(tmp_path: Path) -> None:
    path = _record(tmp_path, items=[("c/d:1", "h", "p"), ("a/b:1", "h1", "p1")])
    now = [("a/b:1", "h1", "p1"), ("c/d:1", "h", "p")]
    # the same rows in another order: neither a header nor a payload changed
    assert _why(path, items=now) == ["the items changed"]
    assert _why(path, items=[("a/b:1", "h1", "p2")], runtime={"mfile": "1", "image": [], "modules": None, "python": "3"}) == [
        "the payload of a/b:1 changed", "the python changed (None -> '3')"]
    reads, files = _reads(tmp_path, 1)
    path = _record(tmp_path, reads=reads)
    files[0].write_text("changed")
    assert records.why_stale(path, _key(), []) == [f"input {files[0]} changed"]


def test_items_and_runtime_of_tasks(tmp_path: Path) -> None:
    (tmp_path / "payload.py").write_text("x = 1\n")
    image = tmp_path / "img.sif"
    image.write_bytes(b"12345")
    with_payload = _task("a", "s", _item("demo/a:1.0", "algorithm", str(tmp_path)), 3, container=str(image))
    missing = _task("b", "s", _item("demo/b:2.0", "algorithm", str(tmp_path / "none")), 4)
    builtin = _task("c", "s", None, 5)
    import hashlib

    assert records.items_of([with_payload, missing, builtin]) == [
        ("demo/a:1.0", hashlib.sha256(b"demo/a:1.0").hexdigest(), hashlib.sha256(b"x = 1\n").hexdigest()),
        ("demo/b:2.0", hashlib.sha256(b"demo/b:2.0").hexdigest(), ""),
    ]
    (compiled,) = api.compile(E2E / "fanin.mfile", items=[E2E / "items"], profile="local", write=False)
    got = records.runtime_of(compiled.plan, [with_payload, missing, with_payload])
    st = image.stat()
    assert got == {"mfile": records.__version__, "image": [[str(image), 5, st.st_mtime_ns]],
                   "modules": compiled.profile.model_dump(mode="json")["modules"]}
    assert records.runtime_of(compiled.plan, [missing])["image"] == []
    gone = _task("d", "s", None, 6, container=str(tmp_path / "gone.sif"))
    assert records.runtime_of(compiled.plan, [gone])["image"] == [[str(tmp_path / "gone.sif")]]


def test_read_changes_looks_at_every_entry(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ra, fa = _reads(tmp_path / "a", 1)
    rb, fb = _reads(tmp_path / "b", 5)
    fb[1].write_text("changed")
    # the first entry unchanged, the second changed: both are looked at
    assert state.read_changes(ra + rb) == [f"input {fb[1]} changed"]
    fa[0].unlink()
    assert state.read_changes(ra + rb) == ["in*.nc matches no file any more", f"input {fb[1]} changed"]
    for f in fb[:4]:
        f.unlink()
    assert state.read_changes(rb) == [f"input {f} is gone" for f in fb[:3]] + ["1 more inputs matching in*.nc is gone"]


def test_fingerprint_skips_a_vanished_file_and_goes_on(tmp_path: Path) -> None:
    a, c = tmp_path / "a", tmp_path / "c"
    a.write_text("1")
    c.write_text("333")
    got = state.fingerprint([str(a), str(tmp_path / "b"), str(c)])
    assert [(p, size) for p, size, _ in got] == [(str(a), 1), (str(c), 3)]


def test_read_jobs_more_formats(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "jobs.json"
    path.write_text(json.dumps([{"name": "s.part1", "job_id": 5}, {"name": "t", "task": "t", "kind": "select", "job_id": 6}]))
    assert state.read_jobs(tmp_path) == ([state.JobRow("s.part1", "s", "task", "5"), state.JobRow("t", "t", "select", "6")], None)
    path.write_text(json.dumps({"format": 1, "submitted_by": "me", "submitted_at": "T", "a": 5}))
    assert state.read_jobs(tmp_path) == ([state.JobRow("a", "a", "task", "5")], "T")
    path.write_text(json.dumps({"submitted_at": 5, "jobs": [{"name": "a", "job_id": 1}]}))
    assert state.read_jobs(tmp_path)[1] is None


def test_write_jobs_over_a_record_without_jobs(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "jobs.json").write_text("{}")
    state.write_jobs(tmp_path, [{"name": "a", "task": "a", "job_id": "1"}], {"a"})
    data = json.loads((tmp_path / "state" / "jobs.json").read_text())
    assert data["jobs"] == [{"name": "a", "task": "a", "job_id": "1"}]
    assert data["submitted_at"].endswith("+00:00")


def test_dry_run_on_resume_names_only_the_parents_queued_now(fanin: Path) -> None:
    _mark_done(fanin, "src", "split")
    code, _, out, _ = _submit(fanin, resume=True, dry_run=True)
    assert code == 0
    (score,) = [line for line in out.splitlines() if line.endswith("jobs/score.sbatch")]
    assert "--dependency=afterok:@fit " in score
    (fit,) = [line for line in out.splitlines() if line.endswith("jobs/fit.sbatch")]
    assert "--dependency" not in fit


def test_a_search_reading_another_pipeline_waits_in_its_array_not_its_select(tmp_path: Path, monkeypatch) -> None:
    import hashlib

    from codegen_ir import FIELD, era5_program, search_spec
    from mfile.codegen.jobs import assemble_plan
    from mfile.codegen.render import write_run_dir
    from mfile.plan.ir import Binding
    from mfile.plan.manifest import HeaderInfo, SourceInfo

    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    source = tmp_path / "era5.mfile"
    source.write_text("# the M-File\n")
    header = tmp_path / "MantikHeader"
    header.write_text("name: unet\n")
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    profile = load_profile("juwels-booster")
    era5 = assemble_plan(era5_program(), "era5", profile, SourceInfo(path=str(source), sha256=sha(source)),
                         (HeaderInfo(ref="demo/unet:2.1", path=str(header), sha256=sha(header)),), Reporter())
    era5_dir = write_run_dir(era5, profile, tmp_path / "runs")
    code, fake, _, _ = _submit(era5_dir)
    assert code == 0
    norm_id = next(i for s, _, i in fake.submitted if s == "jobs/normalize.sbatch")
    spec = search_spec(2)
    # the search's first step reads era5's normalize output
    fit = spec.steps[0].model_copy(update={"inputs": (Binding(port="input", source_task="normalize", source_port="output",
                                                              source_pipeline="era5", type=FIELD),)})
    spec = spec.model_copy(update={"steps": (fit, spec.steps[1])})
    from codegen_ir import pipeline, program, task

    tune = task("tune", "s", None, 3, kind="search", search=spec)
    plan = assemble_plan(program(pipeline("infer", [tune], {"s": ["tune"]})), "infer", profile,
                         SourceInfo(path=str(source), sha256=sha(source)), (), Reporter())
    assert plan is not None and plan.needs_pipelines == ("era5",)
    infer = write_run_dir(plan, profile, tmp_path / "runs")
    code, fake, out, err = _submit(infer)
    assert code == 0, err
    by = {Path(s).stem: o for s, o, _ in fake.submitted}
    assert f"--dependency=afterok:{norm_id}" in by["tune"]
    ids = {Path(s).stem: i for s, _, i in fake.submitted}
    assert by["tune.select"][1] == f"--dependency=afterany:{ids['tune']}"
    code, _, out, _ = _submit(infer, dry_run=True)
    (select,) = [line for line in out.splitlines() if line.endswith("jobs/tune.select.sbatch")]
    assert "--dependency=afterany:@tune " in select and norm_id not in select


def _where(line: int) -> Span:
    return Span(file="f", line=line, column=3, end_line=line, end_column=9)


@pytest.mark.parametrize(
    ("param", "value", "problem"),
    [("test_size", 2, "is 2"), ("by", "x", "is 'x'")],
)
def test_split_reports_name_the_task_param_and_place(param: str, value, problem: str) -> None:
    reporter = Reporter()
    tc.check_split(reporter, "mysplit", {param: value}, {param: _where(7), "other": _where(9)}, _AT)
    (r,) = reporter.reports
    assert r.span == _where(7)
    assert "'mysplit'" in r.message and param in r.message and problem in r.message and "None" not in r.message
    assert r.hint and "None" not in r.hint and param.split("_")[0] in r.hint


@pytest.mark.parametrize(
    ("params", "param", "problem"),
    [({"lag": "0h"}, "lag", "'0h'"), ({"steps": 0}, "steps", "is 0"), ({"lag_column": "x"}, "lag_column", "'x' is a float32")],
)
def test_timelag_reports_name_the_task_param_and_place(params: dict, param: str, problem: str) -> None:
    reporter = Reporter()
    spans = {param: _where(5), "other": _where(9)}
    tc.timelag_output(reporter, "mylag", _tab(time=_f("int64"), x=_f("float32")), params, spans, _AT)
    (r,) = reporter.reports
    assert r.span == _where(5)
    assert "'mylag'" in r.message and param in r.message and problem in r.message and "None" not in r.message
    assert r.hint and "None" not in r.hint
    reporter = Reporter()
    tc.timelag_output(reporter, "mylag", _tab(time=_f("int64"), x=_f("float32")), params, {}, _AT)
    assert reporter.reports[0].span == _AT


def test_timelag_defaults_are_one_hour_and_one_step() -> None:
    reporter = Reporter()
    got = tc.timelag_output(reporter, "l", _tab(time=_f("int64"), x=_f("float32")), {}, {}, _AT)
    assert got.names == ("time", "x", "x_lag1") and reporter.reports == []
    got = tc.timelag_output(reporter, "l", _tab(time=_f("int64"), x=_f("float32")), {"variables": None}, {}, _AT)
    assert got.names == ("time", "x", "x_lag1") and reporter.reports == []


def test_missing_and_clashing_columns_name_them() -> None:
    reporter = Reporter()
    tc.timelag_output(reporter, "mylag", _tab(time=_f("int64"), a=_f("float32"), b=_f("float32")), {"variables": "zz"},
                      {"variables": _where(4)}, _AT)
    (r,) = reporter.reports
    assert r.span == _where(4) and "zz" in r.message and "mylag" in r.message and "None" not in r.message
    assert "time, a, b" in r.message + (r.hint or "")
    reporter = Reporter()
    tc.join_output(reporter, "myjoin", [("input_0", _tab(a=_f("int8"))), ("input_1", _tab(a=_f("int8")))], _where(2))
    (r,) = reporter.reports
    assert r.span == _where(2)
    assert all(s in r.message for s in ("'myjoin'", "'a'", "input_0", "input_1")) and "None" not in r.message


@pytest.mark.parametrize(("limit", "over"), [(10, True), (11, False), (12, False)])
def test_submit_limit_counts_every_array_element_and_the_select(limit: int, over: bool, monkeypatch) -> None:
    from codegen_ir import HEADERS, SOURCE_INFO, era5_program
    from mfile.codegen.jobs import check_resources

    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    profile = load_profile("juwels-booster").model_copy(update={"submit_limit": limit})
    pipe = era5_program(6).pipelines[0]  # 4 plain jobs + 6 array elements + 1 select = 11
    reporter = Reporter()
    check_resources(pipe, profile, reporter, _AT)
    found = [r for r in reporter.reports if r.code == "E409"]
    assert bool(found) == over
    if found:
        assert "'era5'" in found[0].message and "11 jobs" in found[0].message and f"limit of {limit}" in found[0].message
        assert found[0].span == _AT


@pytest.mark.parametrize(("size", "parts"), [(5, 2), (6, None), (7, None), (2, 3)])
def test_array_split_warning_at_max_array_size(size: int, parts, monkeypatch) -> None:
    from codegen_ir import era5_program
    from mfile.codegen.jobs import check_resources

    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    profile = load_profile("juwels-booster").model_copy(update={"max_array_size": size})
    pipe = era5_program(6).pipelines[0]
    reporter = Reporter()
    tasks = check_resources(pipe, profile, reporter, _AT)
    found = [r for r in reporter.reports if r.code == "E414"]
    assert len(found) == (1 if parts else 0)
    if found:
        assert f"as {parts} arrays" in found[0].message and "'tune'" in found[0].message and "6 points" in found[0].message
        assert f"({size})" in found[0].message and found[0].span.line == 9
    assert tasks[0].resources.partition == "booster"  # resolved resources replace the request
