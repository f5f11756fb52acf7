"""``mfile submit`` against the FakeScheduler: dependency wiring, dry run, resume, stage, lock,
retries, cancellation after a refused job, and the changed-source warning."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from codegen_ir import era5_program
from mfile.cli import main
from mfile.errors import UsageError
from mfile.codegen.jobs import assemble_plan
from mfile.codegen.profile import load_profile
from mfile.codegen.render import write_run_dir
from mfile.commands.submit import submit_command
from mfile.diagnostics import Reporter
from mfile.plan.manifest import HeaderInfo, SourceInfo
from mfile.slurm.scheduler import FakeScheduler, SchedulerError


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUDGET_ACCOUNTS", "deepacf")
    source = tmp_path / "era5.mfile"
    source.write_text("# the M-File\n")
    header = tmp_path / "MantikHeader"
    header.write_text("name: unet\n")
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    profile = load_profile("juwels-booster")
    plan = assemble_plan(era5_program(), "era5", profile, SourceInfo(path=str(source), sha256=sha(source)),
                      (HeaderInfo(ref="demo/unet:2.1", path=str(header), sha256=sha(header)),), Reporter())
    assert plan is not None
    return write_run_dir(plan, profile, tmp_path / "runs")


def _submit(run_dir: Path, scheduler=None, dry_run=False, resume=False, stage=None):
    out, err, sleeps = io.StringIO(), io.StringIO(), []
    scheduler = scheduler if scheduler is not None else FakeScheduler()
    code = submit_command(run_dir, dry_run, resume, stage, scheduler, out=out, err=err, sleep=sleeps.append)
    return code, scheduler, out.getvalue(), err.getvalue(), sleeps


def _by_script(fake: FakeScheduler) -> dict[str, tuple[tuple[str, ...], str]]:
    return {script: (options, job_id) for script, options, job_id in fake.submitted}


def _done(run_dir: Path, *tasks: str, status: str = "done") -> None:
    for task in tasks:
        (run_dir / "state" / f"{task}.json").write_text(json.dumps({"status": status}))


def test_queues_every_job_with_afterok_edges(run_dir: Path) -> None:
    code, fake, out, err, _ = _submit(run_dir)
    assert code == 0 and err == ""
    assert [s for s, _, _ in fake.submitted] == [
        "jobs/era5.sbatch", "jobs/normalize.sbatch", "jobs/train.sbatch", "jobs/tune.sbatch",
        "jobs/tune.select.sbatch", "jobs/save.sbatch"]
    jobs = _by_script(fake)
    ids = {Path(s).stem: job_id for s, (_, job_id) in jobs.items()}
    assert jobs["jobs/era5.sbatch"][0] == (f"--chdir={run_dir}",)
    assert jobs["jobs/normalize.sbatch"][0] == (f"--chdir={run_dir}", f"--dependency=afterok:{ids['era5']}", "--kill-on-invalid-dep=yes")
    assert jobs["jobs/tune.select.sbatch"][0][1] == f"--dependency=afterany:{ids['tune']}"  # picks the best that succeeded
    assert jobs["jobs/save.sbatch"][0][1] == f"--dependency=afterok:{ids['tune.select']}"
    assert out.splitlines()[0] == f"era5: {ids['era5']}"
    record = json.loads((run_dir / "state" / "jobs.json").read_text())
    assert [(j["name"], j["job_id"]) for j in record["jobs"]] == [(Path(s).stem, i) for s, _, i in fake.submitted]
    assert not (run_dir / "state" / "jobs.json.tmp").exists()


def test_dry_run_prints_every_command_and_queues_nothing(run_dir: Path) -> None:
    code, fake, out, _, _ = _submit(run_dir, dry_run=True)
    assert code == 0 and fake.attempts == 0
    lines = out.splitlines()
    assert lines[0].startswith("# dry run")
    assert lines[1] == f"sbatch --parsable --chdir={run_dir} jobs/era5.sbatch"
    assert lines[2] == f"sbatch --parsable --chdir={run_dir} --dependency=afterok:@era5 --kill-on-invalid-dep=yes jobs/normalize.sbatch"
    assert len(lines) == 7
    assert not (run_dir / "state" / "jobs.json").exists()


def test_resume_skips_done_tasks_and_their_edges(run_dir: Path) -> None:
    _done(run_dir, "era5", "normalize")
    _done(run_dir, "train", status="failed")
    code, fake, _, _, _ = _submit(run_dir, resume=True)
    assert code == 0
    jobs = _by_script(fake)
    assert sorted(jobs) == ["jobs/save.sbatch", "jobs/train.sbatch", "jobs/tune.sbatch", "jobs/tune.select.sbatch"]
    assert jobs["jobs/train.sbatch"][0] == (f"--chdir={run_dir}",)  # what it needs is done


def test_resume_with_everything_done_queues_nothing(run_dir: Path) -> None:
    _done(run_dir, "era5", "normalize", "train", "tune", "save")
    code, fake, out, _, _ = _submit(run_dir, resume=True)
    assert code == 0 and fake.attempts == 0 and "nothing to submit" in out


def test_resume_queues_a_task_whose_input_files_changed_and_everything_after_it(run_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "era5"
    data.mkdir()
    (data / "t2m_202001.nc").write_bytes(b"jan")
    jan = data / "t2m_202001.nc"
    reads = [{"pattern": "t2m_*.nc", "globs": [str(data / "t2m_*.nc")],
              "files": [[str(jan), jan.stat().st_size, jan.stat().st_mtime_ns]]}]  # fmt: skip
    (run_dir / "state" / "era5.json").write_text(json.dumps({"status": "done", "reads": reads}))
    _done(run_dir, "normalize", "train", "tune", "save")
    code, fake, _, err, _ = _submit(run_dir, resume=True)
    assert code == 0 and fake.attempts == 0 and err == ""
    (data / "t2m_202002.nc").write_bytes(b"feb")
    code, fake, _, err, _ = _submit(run_dir, resume=True)
    assert [Path(s).stem for s, _, _ in fake.submitted] == ["era5", "normalize", "train", "tune", "tune.select", "save"]
    assert err == "mfile: stale: era5: 1 new file matches t2m_*.nc\n"


def test_stage_queues_what_it_needs_that_is_not_done(run_dir: Path) -> None:
    code, fake, _, _, _ = _submit(run_dir, stage="train")
    assert [s for s, _, _ in fake.submitted] == ["jobs/era5.sbatch", "jobs/normalize.sbatch", "jobs/train.sbatch"]
    _done(run_dir, "era5")
    code, fake, _, _, _ = _submit(run_dir, stage="train")
    assert code == 0 and [s for s, _, _ in fake.submitted] == ["jobs/normalize.sbatch", "jobs/train.sbatch"]
    assert fake.submitted[0][1] == (f"--chdir={run_dir}",)


def test_unknown_stage_is_a_usage_error(run_dir: Path) -> None:
    with pytest.raises(UsageError, match="no stage 'nope'.*prepare, train, tune, deploy"):
        _submit(run_dir, stage="nope")


def test_a_second_concurrent_submit_refuses(run_dir: Path) -> None:
    with open(run_dir / "state" / "submit.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("12345\n")
        held.flush()
        with pytest.raises(UsageError, match=r"another `mfile submit` is running.*pid 12345"):
            _submit(run_dir)
    assert _submit(run_dir)[0] == 0  # released: the next one goes ahead


def test_a_resume_while_the_last_submissions_jobs_still_run_refuses_and_queues_nothing(run_dir: Path) -> None:
    """Two resumes one after the other (the lock only covers the submission itself): the
    second sees the first's jobs still live and queues nothing twice (issue 14)."""
    first = FakeScheduler()
    assert _submit(run_dir, scheduler=first, resume=True)[0] == 0
    ids = {Path(s).stem: job_id for s, _, job_id in first.submitted}
    second = FakeScheduler(next_id=2000, running={ids["era5"]: "RUNNING", ids["normalize"]: "PENDING"})
    with pytest.raises(UsageError, match=rf"still queued or running \(era5 {ids['era5']} running, "
                                         rf"normalize {ids['normalize']} pending\).*scancel"):
        _submit(run_dir, scheduler=second, resume=True)
    assert second.attempts == 0
    assert [row["job_id"] for row in json.loads((run_dir / "state" / "jobs.json").read_text())["jobs"]] == \
        [job_id for _, _, job_id in first.submitted]  # the first submission's record stays
    # Once they have ended (failed, say: no record says done), the resume goes ahead.
    assert _submit(run_dir, scheduler=FakeScheduler(next_id=3000), resume=True)[0] == 0


def test_when_slurm_cannot_say_what_still_runs_submit_warns_and_goes_ahead(run_dir: Path) -> None:
    assert _submit(run_dir)[0] == 0

    class Unreachable(FakeScheduler):
        def live(self, job_ids):
            raise SchedulerError("Unable to contact slurm controller", transient=True)

    code, fake, _, err, _ = _submit(run_dir, scheduler=Unreachable(next_id=2000), resume=True)
    assert code == 0 and fake.attempts == 6 and "cannot ask Slurm whether" in err


def test_transient_sbatch_failures_are_retried_with_backoff(run_dir: Path) -> None:
    fake = FakeScheduler(failures=[SchedulerError("Socket timed out on send/recv operation", transient=True),
                                   SchedulerError("Resource temporarily unavailable", transient=True)])
    code, fake, _, err, sleeps = _submit(run_dir, scheduler=fake)
    assert code == 0 and len(fake.submitted) == 6
    assert sleeps == [1.0, 2.0]
    assert err.count("retrying") == 2


def test_a_refused_job_cancels_what_this_submit_queued(run_dir: Path) -> None:
    class RefuseTrain(FakeScheduler):
        def submit(self, script, options, cwd):
            if str(script).endswith("train.sbatch"):
                raise SchedulerError("Invalid account or account/partition combination specified")
            return super().submit(script, options, cwd)

    code, fake, _, err, sleeps = _submit(run_dir, scheduler=RefuseTrain())
    assert code == 1 and sleeps == []  # a permanent error is not retried
    assert fake.cancelled == [job_id for _, _, job_id in fake.submitted] and len(fake.cancelled) == 2
    assert "Invalid account" in err and "cancelled the 2 job(s)" in err


def test_warns_when_the_mfile_or_a_header_changed_since_compile(run_dir: Path) -> None:
    (run_dir.parent.parent / "era5.mfile").write_text("# edited\n")
    (run_dir.parent.parent / "MantikHeader").unlink()
    code, _, _, err, _ = _submit(run_dir, dry_run=True)
    assert code == 0
    assert "M-File" in err and "changed since compile" in err
    assert "header of demo/unet:2.1" in err and "gone since compile" in err


def test_cli_submit_dry_run_and_bad_run_dir(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["submit", "--dry-run", str(run_dir)])
    assert result.exit_code == 0 and "jobs/save.sbatch" in result.output
    result = runner.invoke(main, ["submit", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_a_pipeline_reading_another_waits_for_its_queued_job(run_dir: Path) -> None:
    from codegen_ir import MODEL, item, pipeline, program, task
    from mfile.plan.ir import Binding

    _submit(run_dir)  # the era5 pipeline is queued: its jobs.json names the job of `save`
    save_id = next(j["job_id"] for j in json.loads((run_dir / "state" / "jobs.json").read_text())["jobs"] if j["name"] == "save")
    reads = Binding(port="model", source_task="save", source_port="model", source_pipeline="era5", type=MODEL)
    predict = task("predict", "s", item("demo/unet:2.1", "trainable"), 3, inputs=[reads])
    profile = load_profile("juwels-booster")
    plan = assemble_plan(program(pipeline("infer", [predict], {"s": ["predict"]})), "infer", profile,
                      SourceInfo(path=str(run_dir.parent.parent / "era5.mfile"), sha256="0" * 64), (), Reporter())
    assert plan is not None and plan.needs_pipelines == ("era5",)
    infer = write_run_dir(plan, profile, run_dir.parent)
    code, fake, out, err, _ = _submit(infer, scheduler=FakeScheduler(next_id=2000))
    assert code == 0
    assert fake.submitted[0][1] == (f"--chdir={infer}", f"--dependency=afterok:{save_id}", "--kill-on-invalid-dep=yes")
    assert f"waits for job {save_id}" in err
    # Once era5's save is done, nothing to wait for.
    (run_dir / "state" / "save.json").write_text(json.dumps({"status": "done"}))
    code, fake, _, err, _ = _submit(infer, scheduler=FakeScheduler(next_id=3000))
    assert fake.submitted[0][1] == (f"--chdir={infer}",) and "waits" not in err
    # Not done and never queued: a warning that the task will fail.
    (run_dir / "state" / "save.json").unlink()
    (run_dir / "state" / "jobs.json").unlink()
    code, fake, _, err, _ = _submit(infer, dry_run=True)
    assert "has not finished save and it is not queued" in err
