"""python -m mfile.runtime on hand-built plans: kinds, records, skip/stale, failures, data checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, MODEL, VOID, bind, item, mpi_env, run, table, task, write_plan  # noqa: E402

XL = table(x="float64", label="float64")


def chain(gen_params=None):
    gen = task("gen", item("gen", "dataset"), gen_params or {"n": 60}, outputs=(("output", GEN),))
    split = task("split", item("split", "algorithm"), {"fraction": 0.5},
                 inputs=[bind("input", "gen", type=XL, columns=("x", "label"))],
                 outputs=(("train", XL), ("test", XL)))  # fmt: skip
    fit = task("fit", item("fit", "trainable"), {"epochs": 200, "lr": 0.2},
               inputs=[bind("input", "split", "train", type=XL)], outputs=(("model", MODEL), ("stats", VOID)))  # fmt: skip
    pred = task("pred", item("fit", "trainable"), mode="predict",
                inputs=[bind("model", "fit", "model", type=MODEL), bind("input", "split", "test", type=table(x="float64"), columns=("x",))],
                outputs=(("output", table(label="float64")),))  # fmt: skip
    dep = task("dep", item("deploy", "deployment"), {"endpoint": "here"},
               inputs=[bind("model", "fit", "model", type=MODEL)], outputs=(("model", MODEL),))  # fmt: skip
    return [gen, split, fit, pred, dep]


def run_all(plan, ids, *args):
    for t in ids:
        res = run(plan, t, *args)
        assert res.returncode == 0, res.stderr
    return res


def test_chain_of_every_kind(tmp_path):
    plan = write_plan(tmp_path / "p", chain())
    run_all(plan, ["gen", "split", "fit", "pred", "dep"])
    data = tmp_path / "p" / "data"
    gen = xr.open_dataset(data / "gen" / "output" / "part-0000.nc")
    assert gen["img"].shape == (60, 4, 3) and gen.attrs["sample_dim"] == "sample"
    assert json.loads((data / "gen" / "output" / "port.json").read_text())["parts"] == ["part-0000.nc"]
    model = data / "fit" / "model"
    assert {"MantikHeader", "model.json", "payload.py", "weights.json", "stats.json"} <= {p.name for p in model.iterdir()}
    assert json.loads((model / "model.json").read_text())["item"] == "test/fit:1"
    assert json.loads((data / "fit" / "stats" / "stats.json").read_text())["epochs"] == 200
    pred = xr.open_dataset(data / "pred" / "output" / "part-0000.nc")
    test = xr.open_dataset(data / "split" / "test" / "part-0000.nc")
    assert pred.sizes["sample"] == 30
    # label is (x > 5): a linear fit gets the sign of most samples right.
    assert ((pred["label"].values > 0.5) == (test["label"].values > 0.5)).mean() > 0.7
    deployed = json.loads((data / "dep" / "model" / "deployment.json").read_text())
    assert deployed["endpoint"] == "here" and deployed["stats"]["epochs"] == 200
    for t in ["gen", "split", "fit", "pred", "dep"]:
        rec = json.loads((tmp_path / "p" / "state" / f"{t}.json").read_text())
        assert rec["status"] == "done" and len(rec["key"]) == 64 and rec["host"]
    assert not list(data.glob("*/.*")), "temporary, work and checkpoint dirs are cleaned up"


def test_rerun_skips_and_upstream_change_makes_downstream_stale(tmp_path):
    tasks = chain()
    plan = write_plan(tmp_path / "p", tasks)
    run_all(plan, ["gen", "split", "fit"])
    state = tmp_path / "p" / "state"
    before = {t: (state / f"{t}.json").read_text() for t in ["gen", "split", "fit"]}
    res = run(plan, "split")
    assert res.returncode == 0 and "skipped: up to date" in res.stderr
    assert (state / "split.json").read_text() == before["split"]
    # --force reruns; same inputs give the same key.
    res = run(plan, "split", "--force")
    assert "skipped" not in res.stderr and json.loads((state / "split.json").read_text())["key"] == json.loads(before["split"])["key"]
    # New params upstream: gen reruns, and split is stale because gen's output digest changed.
    tasks[0] = task("gen", item("gen", "dataset"), {"n": 40}, outputs=(("output", GEN),))
    write_plan(tmp_path / "p", tasks)
    assert "skipped" not in run(plan, "gen").stderr
    res = run(plan, "split")
    assert res.returncode == 0 and "skipped" not in res.stderr
    assert json.loads((state / "split.json").read_text())["key"] != json.loads(before["split"])["key"]
    # A deleted output makes a task not up to date even with its record.
    import shutil

    shutil.rmtree(tmp_path / "p" / "data" / "split" / "test")
    assert "skipped" not in run(plan, "split").stderr


def test_payload_failure_leaves_nothing_complete(tmp_path):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    bad = task("bad", item("fail", "algorithm"), {"why": "because"}, inputs=[bind("input", "gen")])
    plan = write_plan(tmp_path / "p", [gen, bad])
    run_all(plan, ["gen"])
    stale = tmp_path / "p" / "data" / "bad" / ".output.tmp-deadbeef"
    stale.mkdir(parents=True)
    res = run(plan, "bad")
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert "task 'bad'" in last and "test/fail:1" in last and "ValueError: deliberate failure: because" in last
    assert 'fail/1/payload.py", line' in res.stderr and "execute.py" not in res.stderr
    assert not (tmp_path / "p" / "state" / "bad.json").exists()
    assert not (tmp_path / "p" / "data" / "bad" / "output").exists()
    assert not stale.exists(), "a previous run's temporary dir is cleaned up"


def test_killed_task_has_no_record(tmp_path):
    tasks = [task("gen", item("gen", "dataset"), {"n": 10}, outputs=(("output", GEN),))]
    plan = write_plan(tmp_path / "p", tasks)
    run_all(plan, ["gen"])
    tasks[0] = task("gen", item("gen", "dataset"), {"n": 10, "sleep": 30}, outputs=(("output", GEN),))
    write_plan(tmp_path / "p", tasks)
    proc = subprocess.Popen([sys.executable, "-m", "mfile.runtime", str(plan), "gen"], stderr=subprocess.PIPE, text=True, env=mpi_env())
    deadline = time.monotonic() + 30
    while (tmp_path / "p" / "state" / "gen.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (tmp_path / "p" / "state" / "gen.json").exists(), "the old record goes before outputs change"


def test_an_item_error_is_its_message_without_a_traceback(tmp_path):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    bad = task("bad", item("fail", "algorithm"), {"why": "too short", "worded": True}, inputs=[bind("input", "gen")])
    plan = write_plan(tmp_path / "p", [gen, bad])
    run_all(plan, ["gen"])
    res = run(plan, "bad")
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert "task 'bad'" in last and "the input is not usable: too short" in last
    assert "Traceback" not in res.stderr and "own code" not in res.stderr


@pytest.mark.parametrize(
    ("what", "needles"),
    [
        ("string_x", ["output 'output'", "column 'x'", "expected float64", "got string"]),
        ("wrong_shape", ["column 'img'", "tensor[4, 3] of float32", "[5, 3]", "dimension 0 is 5, expected 4"]),
        ("missing_column", ["column 'x' is missing", "the data has: y"]),
    ],
)
def test_output_type_errors_name_port_column_expected_actual(tmp_path, what, needles):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    want = table(img=([4, 3], "float32")) if what == "wrong_shape" else table(x="float64")
    bad = task("bad", item("badtype", "algorithm"), {"what": what}, inputs=[bind("input", "gen")], outputs=(("output", want),))
    plan = write_plan(tmp_path / "p", [gen, bad])
    run_all(plan, ["gen"])
    res = run(plan, "bad")
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "p" / "data" / "bad" / "output").exists()


def test_widening_is_cast_and_logged(tmp_path):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    ok = task("ok", item("badtype", "algorithm"), {"what": "int_x"}, inputs=[bind("input", "gen")], outputs=(("output", table(x="float64")),))
    plan = write_plan(tmp_path / "p", [gen, ok])
    run_all(plan, ["gen"])
    res = run(plan, "ok")
    assert res.returncode == 0 and "int32 widened to float64" in res.stderr
    assert xr.open_dataset(tmp_path / "p" / "data" / "ok" / "output" / "part-0000.nc")["x"].dtype == "float64"


def test_input_type_error_and_missing_upstream(tmp_path):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    narrow = task("narrow", item("zscore", "algorithm"), inputs=[bind("input", "gen", type=table(img=([5, None], "float32")), columns=("img",))])
    plan = write_plan(tmp_path / "p", [gen, narrow])
    res = run(plan, "narrow")
    assert res.returncode == 1 and "reads output 'output' of task 'gen', which is not done" in res.stderr
    run_all(plan, ["gen"])
    res = run(plan, "narrow")
    assert res.returncode == 1
    assert "input 'input' of task 'narrow'" in res.stderr and "column 'img'" in res.stderr and "got shape [4, 3]" in res.stderr


def test_sigusr1_checkpoints_exits_75_and_resumes(tmp_path):
    gen = task("gen", item("gen", "dataset"), {"n": 40}, outputs=(("output", GEN),))
    fit = task("fit", item("fit", "trainable"), {"epochs": 30, "pause_at": 10},
               inputs=[bind("input", "gen", type=XL, columns=("x", "label"))], outputs=(("model", MODEL), ("stats", VOID)))  # fmt: skip
    plan = write_plan(tmp_path / "p", [gen, fit])
    run_all(plan, ["gen"])
    res = run(plan, "fit")
    assert res.returncode == 75, res.stderr
    assert "checkpointed at epoch 10" in res.stderr
    assert not (tmp_path / "p" / "state" / "fit.json").exists()
    assert not (tmp_path / "p" / "data" / "fit" / "model").exists()
    assert list((tmp_path / "p" / "data" / "fit" / ".checkpoint").glob("*/state.json"))
    res = run(plan, "fit")
    assert res.returncode == 0 and "resuming from epoch 10" in res.stderr
    weights = json.loads((tmp_path / "p" / "data" / "fit" / "model" / "weights.json").read_text())
    assert weights["resumed"] is True
    assert not (tmp_path / "p" / "data" / "fit" / ".checkpoint").exists()


def test_bad_invocations_exit_2(tmp_path):
    plan = write_plan(tmp_path / "p", [task("gen", item("gen", "dataset"), outputs=(("output", GEN),))])
    assert run(tmp_path / "nope.json", "gen").returncode == 2
    res = run(plan, "nope")
    assert res.returncode == 2 and "has no task 'nope' (it has: gen)" in res.stderr
    assert run(plan, "gen", "--select").returncode == 2
    assert run(plan, "gen", "--point-from-env").returncode == 2


def test_runtime_in_slurm_step_env_uses_srun_rank(tmp_path):
    """Under srun with one task the Slurm variables are read and no MPI is needed."""
    plan = write_plan(tmp_path / "p", [task("gen", item("gen", "dataset"), outputs=(("output", GEN),))])
    env = mpi_env() | {"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_STEP_ID": "0", "SLURM_JOB_ID": "4242"}
    res = run(plan, "gen", env=env)
    assert res.returncode == 0
    assert json.loads((tmp_path / "p" / "state" / "gen.json").read_text())["job_id"] == "4242"
    # A batch step's SLURM_NTASKS=4 without srun is not four ranks.
    env = mpi_env() | {"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "4243"}
    assert run(plan, "gen", "--force", env=env).returncode == 0


def test_early_sigusr1_requeues_instead_of_killing(tmp_path):
    """SIGUSR1 during start-up (imports) must not kill the task: it is requeued (75)."""
    tasks = [task("gen", item("gen", "dataset"), {"n": 10, "sleep": 1}, outputs=(("output", GEN),))]
    plan = write_plan(tmp_path / "p", tasks)
    proc = subprocess.Popen([sys.executable, "-m", "mfile.runtime", str(plan), "gen"], stderr=subprocess.PIPE, text=True, env=mpi_env())
    time.sleep(0.3)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "stopped on SIGUSR1" in err
    assert not (tmp_path / "p" / "state" / "gen.json").exists() and not (tmp_path / "p" / "data" / "gen" / "output").exists()


def test_json_output_missing_metric_column(tmp_path):
    gen = task("gen", item("gen", "dataset"), outputs=(("output", GEN),))
    fit = task("fit", item("fit", "trainable"), {"epochs": 2}, inputs=[bind("input", "gen", type=XL, columns=("x", "label"))],
               outputs=(("model", MODEL), ("stats", table(accuracy="float64"))))  # fmt: skip
    plan = write_plan(tmp_path / "p", [gen, fit])
    run_all(plan, ["gen"])
    res = run(plan, "fit")
    assert res.returncode == 1
    assert "output 'stats' of task 'fit' (item test/fit:1): column 'accuracy' is missing (the payload returned keys: loss, epochs)" in res.stderr
    assert not (tmp_path / "p" / "data" / "fit" / "model").exists()


def test_a_changed_payload_or_mfile_version_reruns_with_the_reason(tmp_path):
    import shutil

    from rt_plans import ITEMS

    root = tmp_path / "items"
    shutil.copytree(ITEMS / "test" / "gen", root / "test" / "gen")
    gen = task("gen", item("gen", "dataset", root=root), {"n": 10}, outputs=(("output", GEN),))
    plan = write_plan(tmp_path / "p", [gen])
    assert run(plan, "gen").returncode == 0
    assert "skipped: up to date" in run(plan, "gen").stderr
    payload = root / "test" / "gen" / "1" / "payload.py"
    payload.write_text(payload.read_text() + "\n# an edit that changes nothing the task computes\n")
    again = run(plan, "gen")
    assert again.returncode == 0 and "the payload of test/gen:1 changed" in again.stderr, again.stderr
    assert "skipped: up to date" in run(plan, "gen").stderr
    record_path = tmp_path / "p" / "state" / "gen.json"
    record = json.loads(record_path.read_text())
    assert record["runtime"]["mfile"] and [r["payload_sha256"] for r in record["items"]]
    record["runtime"]["mfile"] = "0.0.1"  # as if an older mfile had written it (its key differs too)
    record["key"] = "0" * 64
    record_path.write_text(json.dumps(record))
    older = run(plan, "gen")
    assert "the mfile version changed ('0.0.1' ->" in older.stderr, older.stderr
