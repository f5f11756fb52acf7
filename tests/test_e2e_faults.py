"""Faults a cluster really has, end to end on the local Slurm (issue 14, item 3).

1. The file system fills up while a task writes its output (a tmpfs smaller than the output,
   mounted by the test on the run directory's data/): the job fails with a message naming the
   port directory and "no space", nothing half-written is left or taken as done, ``mfile status``
   shows the failure with that message, and ``mfile submit --resume`` completes once there is room.
2. Two ``mfile submit --resume`` at once on one run directory: one queues the jobs, the other
   refuses (state/submit.lock, or the first's jobs seen live), and a third resume while the
   jobs are still queued refuses too: no task is queued twice.

The scenarios that restart slurmctld or take a node down run on the two-node cluster
(tests/test_multinode.py, tests/test_multinode_faults.py): the single-node cluster is shared
with every other e2e test and is never restarted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "e2e"))
from e2e_support import (  # noqa: E402
    PYTHON,
    Jobs,
    by_id,
    compile_run_dir,
    jobs,  # noqa: F401  (fixture)
    jobs_json,
    logs_of,
    mfile,
    parse_submit,
    wait_final,
    write_mfile,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLES = 200_000  # x and label: 3.2 MB of output, on a 1 MiB file system


@pytest.fixture
def small_data_fs(tmp_path: Path) -> Iterator[tuple[Path, callable]]:
    """Compiles the pipeline, mounts a 1 MiB tmpfs on its data/, and unmounts it at the end.
    Yields the run directory and a function that grows the tmpfs (space freed)."""
    run_dir = compile_run_dir(write_mfile(tmp_path, "faults.mfile", {"N": str(SAMPLES)}), tmp_path / "out", "full")
    data = run_dir / "data"
    data.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "mfile-test-full", str(data)],
                   check=True, capture_output=True, text=True, timeout=30)

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(data)], check=True, capture_output=True, text=True,
                       timeout=30)

    try:
        yield run_dir, grow
    finally:
        subprocess.run(["umount", "--lazy", str(data)], capture_output=True, text=True, timeout=30)
        mounts = Path("/proc/mounts").read_text()
        assert str(data) not in mounts, f"{data} is still mounted"


def test_a_full_file_system_fails_the_task_by_name_and_resume_completes_after_space_is_freed(
    small_data_fs: tuple[Path, callable], jobs: Jobs  # noqa: F811
) -> None:
    run_dir, grow = small_data_fs
    t0 = time.monotonic()
    first = jobs.submit(run_dir)
    records = by_id(wait_final(first.values(), timeout=180))
    states = {name: records[job_id]["JobState"] for name, job_id in first.items()}
    assert states == {"src": "FAILED", "after": "CANCELLED"}, logs_of(run_dir)
    assert records[first["src"]]["ExitCode"] == "1:0"  # a task failure, not an internal error (2)

    log = next((run_dir / "logs").glob(f"*-{first['src']}.err")).read_text()
    port = run_dir / "data" / "src" / "output"
    assert f"no space left on device while writing {port}" in log, log
    assert "Traceback" not in log and "internal error" not in log, log
    # Nothing half-written: no port, no temporary port directory, no completion record.
    assert not port.exists() and list((run_dir / "data" / "src").glob(".output.tmp-*")) == [], \
        list((run_dir / "data" / "src").iterdir())
    assert not (run_dir / "state" / "src.json").exists()

    status = mfile("status", run_dir)
    assert status.returncode == 1, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    src_line = next(line for line in lines if line.startswith("src "))
    assert src_line.split()[1:3] == ["failed", first["src"]], status.stdout
    assert any("no space left on device" in line for line in lines[lines.index(src_line) + 1:]), status.stdout

    grow()  # space freed
    second = jobs.submit(run_dir, "--resume")
    assert list(second) == ["src", "after"]
    records = by_id(wait_final(second.values(), timeout=180))
    assert {records[j]["JobState"] for j in second.values()} == {"COMPLETED"}, logs_of(run_dir)
    status = mfile("status", run_dir)
    assert status.returncode == 0 and "2 completed" in status.stdout.splitlines()[0], status.stdout
    print(f"disk full, then resume: {time.monotonic() - t0:.1f} s")


def test_two_concurrent_resumes_queue_each_task_once(tmp_path: Path, jobs: Jobs) -> None:  # noqa: F811
    run_dir = compile_run_dir(write_mfile(tmp_path, "faults.mfile", {"N": "40"}), tmp_path / "out", "full")
    t0 = time.monotonic()
    argv = [PYTHON, "-m", "mfile.cli", "submit", str(run_dir), "--resume"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for _rc, stdout, _err in outs:
        jobs.ids.update(parse_submit(stdout).values())
    winners = [o for o in outs if o[0] == 0]
    losers = [o for o in outs if o[0] != 0]
    assert len(winners) == 1 and len(losers) == 1, outs
    assert "another `mfile submit` is running" in losers[0][2] or "still queued or running" in losers[0][2], losers
    assert parse_submit(losers[0][1]) == {}
    queued = parse_submit(winners[0][1])
    assert list(queued) == ["src", "after"]
    assert [row["job_id"] for row in jobs_json(run_dir)] == list(queued.values())

    # A third resume after the first has let go of the lock, while `after` still waits (held, so
    # that it cannot finish first): refused, because its job is still queued.
    subprocess.run(["scontrol", "hold", queued["after"]], check=True, capture_output=True, text=True, timeout=30)
    third = mfile("submit", run_dir, "--resume")
    jobs.ids.update(parse_submit(third.stdout).values())
    assert third.returncode == 2 and parse_submit(third.stdout) == {}, third.stdout + third.stderr
    assert f"after {queued['after']} pending" in third.stderr and "still queued or running" in third.stderr, \
        third.stderr
    subprocess.run(["scontrol", "release", queued["after"]], check=True, capture_output=True, text=True, timeout=30)

    records = by_id(wait_final(queued.values(), timeout=120))
    assert {r["JobState"] for r in records.values()} == {"COMPLETED"}, logs_of(run_dir)
    assert jobs.ids == set(queued.values())  # Slurm got each task once
    status = mfile("status", run_dir)
    assert status.returncode == 0 and "2 completed" in status.stdout.splitlines()[0], status.stdout
    print(f"two concurrent resumes and a third while queued: {time.monotonic() - t0:.1f} s")
