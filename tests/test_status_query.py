"""Parsing of squeue / scontrol / sacct output captured from the real local cluster
(tests/fixtures/slurm/capture.sh), and the polite poller (one squeue + at most one detail call)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pytest

from mfile.slurm.query import (
    CommandResult,
    SlurmQuery,
    format_elapsed,
    parse_elapsed,
    parse_sacct,
    parse_scontrol,
    parse_scontrol_fields,
    parse_squeue,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "slurm"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def ids() -> dict[str, str]:
    return dict(line.split("=", 1) for line in fixture("ids.env").split())


class Fake:
    """Answers each Slurm command with a captured output; records every call."""

    def __init__(self, answers: dict[str, CommandResult]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(list(argv))
        return self.answers[argv[0]]


def disabled_sacct() -> CommandResult:
    return CommandResult(int(fixture("sacct_disabled.rc")), fixture("sacct_disabled.out"), fixture("sacct_disabled.err"))


@pytest.mark.parametrize(
    "text, seconds",
    [("0:00", 0), ("0:03", 3), ("12:34", 754), ("1:02:03", 3723), ("2-01:00:00", 176400), ("00:00:02", 2),
     ("17", 17), ("", None), ("INVALID", None), ("UNLIMITED", None)],
)
def test_elapsed(text: str, seconds: int | None) -> None:
    assert parse_elapsed(text) == seconds


def test_format_elapsed() -> None:
    assert [format_elapsed(s) for s in (None, 0, 75, 3723, 176400)] == ["-", "0:00:00", "0:01:15", "1:02:03", "2-1:00:00"]


def test_squeue_fixture() -> None:
    i = ids()
    jobs = {job.key: job for job in parse_squeue(fixture("squeue.txt"))}
    assert jobs[i["ok"]].state == "COMPLETED" and jobs[i["ok"]].nodes == "vm"
    assert jobs[i["failed"]].category == "failed" and jobs[i["failed"]].reason == "NonZeroExitCode"
    dep = jobs[i["depfail"]]
    assert (dep.category, dep.reason, dep.nodes, dep.final) == ("cancelled", "DependencyNeverSatisfied", "", True)
    assert jobs[i["killed"]].category == "cancelled" and jobs[i["killed"]].elapsed_s == 2
    assert jobs[i["running"]].category == "running" and not jobs[i["running"]].final
    assert (jobs[i["waiting"]].category, jobs[i["waiting"]].reason) == ("pending", "Dependency")
    # The throttled array: two elements running, the other four as one pending range.
    array = [job for job in jobs.values() if job.job_id == i["array"]]
    assert sorted((j.array_task, j.category, j.count) for j in array) == [
        ("0", "running", 1), ("1", "running", 1), ("[2-5%2]", "pending", 4)]
    assert next(j for j in array if j.count == 4).reason == "JobArrayTaskLimit"
    failed_elements = [j.array_task for j in jobs.values() if j.job_id == i["arrfail"] and j.category == "failed"]
    assert failed_elements == ["1"]


def test_scontrol_fixture() -> None:
    i = ids()
    jobs = {job.key: job for job in parse_scontrol(fixture("scontrol.txt"))}
    failed = jobs[i["failed"]]
    assert (failed.state, failed.exit_code) == ("FAILED", "3:0")
    assert failed.stderr is not None and failed.stderr.endswith(f"/failed-{i['failed']}.err")
    # An array element is listed under the array's id (the id sbatch printed), not its raw id.
    assert jobs[f"{i['arrfail']}_1"].exit_code == "1:0" and jobs[f"{i['arrfail']}_1"].state == "FAILED"
    assert jobs[f"{i['array']}_[2-5%2]"].count == 4
    assert jobs[i["killed"]].exit_code == "0:15" and jobs[i["killed"]].state == "CANCELLED"
    # StartTime=Unknown: RunTime is garbage (decades), so no elapsed time is claimed.
    assert jobs[i["depfail"]].elapsed_s is None
    assert jobs[i["depfail"]].reason == "DependencyNeverSatisfied"
    assert {j.job_id for j in jobs.values()} == set(i.values())


def test_scontrol_values_with_spaces() -> None:
    fields = parse_scontrol_fields("JobId=7 JobName=a b WorkDir=/x y/z StdErr=/x y/z/e.err Power= Comment=k=v")
    assert fields["JobName"] == "a b" and fields["WorkDir"] == "/x y/z" and fields["StdErr"] == "/x y/z/e.err"
    assert fields["Power"] == ""


def test_sacct_rows_from_the_jobcomp_file() -> None:
    # Real `sacct -P` rows (read by `sacct -c` from the jobcomp file, as there is no database here).
    i = ids()
    jobs = {job.key: job for job in parse_sacct(fixture("sacct_jobcomp.txt"))}
    assert (jobs[i["failed"]].state, jobs[i["failed"]].exit_code) == ("FAILED", "3:0")
    assert jobs[i["depfail"]].state == "CANCELLED" and jobs[i["depfail"]].nodes == ""
    assert jobs[i["killed"]].elapsed_s == 2


def test_sacct_array_ids_and_cancelled_by() -> None:
    jobs = parse_sacct("4711_3|CANCELLED by 1234|0:15|12|jwb0001\n4711_[4-9%2]|PENDING|0:0|0|None assigned\n"
                       "4711_3.batch|CANCELLED|0:15|12|jwb0001\n")
    assert [(j.key, j.state, j.count, j.nodes) for j in jobs] == [
        ("4711_3", "CANCELLED", 1, "jwb0001"), ("4711_[4-9%2]", "PENDING", 6, "")]


def test_poller_one_squeue_and_one_detail_call_then_cache() -> None:
    i = ids()
    fake = Fake({"squeue": CommandResult(0, fixture("squeue.txt"), ""), "sacct": disabled_sacct(),
                 "scontrol": CommandResult(0, fixture("scontrol.txt"), "")})
    query = SlurmQuery(fake)
    wanted = list(i.values())
    states = query.refresh(wanted)
    assert [c[0] for c in fake.calls] == ["squeue", "sacct", "scontrol"]
    squeue = fake.calls[0]
    assert "--states=all" in squeue and sorted(squeue[3].removeprefix("--jobs=").split(",")) == sorted(wanted)
    assert query.accounting is False
    assert states[i["failed"]][0].exit_code == "3:0"  # squeue's line, completed by scontrol
    assert states[i["failed"]][0].stderr is not None

    fake.calls.clear()
    query.refresh(wanted)
    # Accounting is known to be off: no sacct again; final jobs are cached: only live ones asked.
    assert [c[0] for c in fake.calls] == ["squeue"]
    asked = fake.calls[0][3].removeprefix("--jobs=").split(",")
    assert sorted(asked) == sorted([i["running"], i["waiting"], i["array"]])


def test_poller_uses_sacct_when_accounting_works() -> None:
    i = ids()
    fake = Fake({"squeue": CommandResult(0, fixture("squeue.txt"), ""),
                 "sacct": CommandResult(0, fixture("sacct_jobcomp.txt"), "")})
    query = SlurmQuery(fake)
    states = query.refresh([i["failed"], i["ok"]])
    assert [c[0] for c in fake.calls] == ["squeue", "sacct"] and query.accounting is True
    assert states[i["failed"]][0].exit_code == "3:0"


def test_jobs_squeue_forgot_come_from_sacct() -> None:
    i = ids()
    fake = Fake({"squeue": CommandResult(int(fixture("squeue_invalid.rc")), "", fixture("squeue_invalid.err")),
                 "sacct": CommandResult(0, fixture("sacct_jobcomp.txt"), "")})
    states = SlurmQuery(fake).refresh([i["ok"]])
    assert states[i["ok"]][0].state == "COMPLETED"


def test_squeue_failure_is_reported_not_raised() -> None:
    fake = Fake({"squeue": CommandResult(1, "", "squeue: error: Unable to contact slurm controller (connect failure)\n")})
    query = SlurmQuery(fake)
    assert query.refresh(["5"]) == {}
    assert query.error is not None and "Unable to contact" in query.error
