"""``mfile status`` on a real run directory (era5 plan, jobs.json written by ``mfile submit``)
with Slurm's answers replayed from outputs captured on the local cluster."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codegen_ir import era5_program
from mfile.cli import main
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.codegen.render import write_run_dir
from mfile.commands.submit import submit_command
from mfile.diagnostics import Reporter
from mfile.plan.manifest import HeaderInfo, SourceInfo
from mfile.slurm.scheduler import FakeScheduler
from mfile.slurm.query import CommandResult, SlurmQuery
from mfile.commands.status import status_command
from mfile.plan.state import read_jobs
from test_status_query import Fake, disabled_sacct, fixture, ids

# Which captured job stands for which job of the era5 run directory.
ROLES = {"era5": "ok", "normalize": "failed", "train": "depfail", "tune": "array", "tune.select": "waiting",
         "save": "killed"}


def era5_run_dir(tmp_path: Path, job_ids: dict[str, str] | None = None) -> Path:
    """A compiled era5 run directory whose jobs.json (as `mfile submit` writes it) names
    ``job_ids`` (job name -> id; default: the captured jobs of ROLES)."""
    source = tmp_path / "era5.mfile"
    source.write_text("# the M-File\n")
    header = tmp_path / "MantikHeader"
    header.write_text("name: unet\n")
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    profile = load_profile("juwels-booster")  # era5 asks for GPUs
    plan = assemble_plan(era5_program(), "era5", profile, SourceInfo(path=str(source), sha256=sha(source)),
                      (HeaderInfo(ref="demo/unet:2.1", path=str(header), sha256=sha(header)),), Reporter())
    assert plan is not None
    run = write_run_dir(plan, profile, tmp_path / "runs")
    assert submit_command(run, False, False, None, FakeScheduler(), out=io.StringIO(), err=io.StringIO()) == 0
    data = json.loads((run / "state" / "jobs.json").read_text())
    if job_ids is None:
        captured = ids()
        job_ids = {name: captured[role] for name, role in ROLES.items()}
    for row in data["jobs"]:
        row["job_id"] = job_ids[row["name"]]
    (run / "state" / "jobs.json").write_text(json.dumps(data))
    return run


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    run = era5_run_dir(tmp_path)
    # codegen's log name for the failed job: logs/<pipeline>.<job>-<id>.err
    (run / "logs" / f"era5.normalize-{ids()['failed']}.err").write_text(fixture("failed.err"))
    return run


def replay() -> Fake:
    return Fake({"squeue": CommandResult(0, fixture("squeue.txt"), ""), "sacct": disabled_sacct(),
                 "scontrol": CommandResult(0, fixture("scontrol.txt"), "")})


def rows(text: str) -> dict[str, list[str]]:
    table = text.splitlines()[2:]
    return {line.split()[0]: line.split() for line in table if line and not line.startswith(" ")}


def test_read_jobs_formats(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "jobs.json").write_text(json.dumps({"jobs": {"prep": "12", "hp": "13;juwels", "hp.select": 14}}))
    jobs, when = read_jobs(tmp_path)
    assert [(j.name, j.task, j.kind, j.job_id) for j in jobs] == [
        ("prep", "prep", "task", "12"), ("hp", "hp", "task", "13"), ("hp.select", "hp", "select", "14")]
    assert when is None
    (tmp_path / "state" / "jobs.json").write_text("{broken")
    with pytest.raises(ValueError, match="unreadable"):
        read_jobs(tmp_path)


def test_one_line_per_job_with_states_and_the_failed_log(run_dir: Path) -> None:
    out = io.StringIO()
    code = status_command(run_dir, query=SlurmQuery(replay()), out=out)
    text = out.getvalue()
    i = ids()
    table = rows(text)
    assert code == 1  # something failed
    assert table["era5"][1:3] == ["completed", i["ok"]]
    assert table["normalize"][1:3] == ["failed", i["failed"]] and "exit 3:0" in " ".join(table["normalize"])
    assert table["train"][1:3] == ["cancelled", i["depfail"]]
    assert "a job it needs failed" in " ".join(table["train"])
    assert table["tune"][1:3] == ["running", f"{i['array']}[6]"]
    assert "6 elements: 2 running, 4 pending" in " ".join(table["tune"])
    assert table["tune.select"][1:3] == ["pending", i["waiting"]] and "(Dependency)" in table["tune.select"]
    assert table["save"][1:3] == ["cancelled", i["killed"]] and table["save"][3] == "0:00:02"
    assert table["era5"][4] == "vm"
    # The failed task's log: codegen's name for it, found by job id (the path scontrol gives is gone).
    assert f"logs/era5.normalize-{i['failed']}.err (last 2 lines):" in text
    assert "    | ValueError: boom" in text
    assert text.splitlines()[0].endswith("(submitted " + json.loads((run_dir / "state" / "jobs.json").read_text())["submitted_at"] + ")")


def test_tasks_without_a_job_are_skipped_as_done_or_not_submitted(run_dir: Path) -> None:
    data = json.loads((run_dir / "state" / "jobs.json").read_text())
    data["jobs"] = [r for r in data["jobs"] if r["name"] in ("tune", "tune.select")]
    (run_dir / "state" / "jobs.json").write_text(json.dumps(data))
    (run_dir / "state" / "era5.json").write_text(json.dumps({"status": "done"}))
    out = io.StringIO()
    code = status_command(run_dir, query=SlurmQuery(replay()), out=out)
    table = rows(out.getvalue())
    assert table["era5"][1] == "skipped-as-done" and table["normalize"][1] == "not-submitted"
    assert table["save"][1] == "not-submitted"
    assert code == 0  # nothing failed: the search is still running


def test_watch_until_final_then_records_decide(run_dir: Path) -> None:
    """Slurm forgets the jobs (MinJobAge, no accounting): the completion records say done."""
    data = json.loads((run_dir / "state" / "jobs.json").read_text())
    data["jobs"] = [r for r in data["jobs"] if r["name"] in ("era5", "tune", "tune.select")]
    (run_dir / "state" / "jobs.json").write_text(json.dumps(data))
    for task in ("normalize", "train", "save"):
        (run_dir / "state" / f"{task}.json").write_text(json.dumps({"status": "done"}))
    answers = [CommandResult(0, fixture("squeue.txt"), ""),
               CommandResult(int(fixture("squeue_invalid.rc")), "", fixture("squeue_invalid.err"))]
    fake = Fake({"sacct": disabled_sacct(), "scontrol": CommandResult(0, "", "")})
    squeue_calls: list[list[str]] = []

    def runner(argv):  # squeue answers change between refreshes
        if argv[0] == "squeue":
            squeue_calls.append(list(argv))
            return answers[min(len(squeue_calls), len(answers)) - 1]
        return fake(argv)

    sleeps: list[float] = []
    out = io.StringIO()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # the search finished between two refreshes
            (run_dir / "state" / "tune.json").write_text(json.dumps({"status": "done"}))

    code = status_command(run_dir, watch=True, interval=0.1, query=SlurmQuery(runner), out=out, sleep=sleep)
    assert sleeps == [0.5]  # never faster than MIN_INTERVAL
    assert len(squeue_calls) == 2
    last = out.getvalue().split("\n\n")[-1]
    table = rows(last)
    assert table["tune"][1] == "completed" and table["tune.select"][1] == "completed"
    assert "the completion record says done" in " ".join(table["tune"])
    assert code == 0


def test_lost_job_without_record_is_unknown_and_fails(run_dir: Path) -> None:
    fake = Fake({"squeue": CommandResult(int(fixture("squeue_invalid.rc")), "", fixture("squeue_invalid.err")),
                 "sacct": disabled_sacct(), "scontrol": CommandResult(0, "", "")})
    out = io.StringIO()
    assert status_command(run_dir, query=SlurmQuery(fake), out=out) == 1
    assert rows(out.getvalue())["era5"][1] == "unknown"


def test_cli_status_of_a_non_run_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_watch_stops_when_slurm_is_not_installed(run_dir: Path) -> None:
    out = io.StringIO()
    query = SlurmQuery(lambda argv: CommandResult(127, "", f"{argv[0]} not found: is Slurm installed here?"))
    code = status_command(run_dir, watch=True, query=query, out=out, sleep=lambda s: pytest.fail("waited"))
    assert code == 1
    assert "warning: cannot ask Slurm: squeue not found" in out.getvalue()
    assert rows(out.getvalue())["era5"][1] == "unknown"
