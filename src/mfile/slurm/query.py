"""Read-side Slurm queries for ``mfile status``: ``squeue``, ``sacct``, ``scontrol show job``.

Sites throttle these commands, so a refresh asks about all of a run's jobs at once: one
``squeue -t all -j ID,ID,...`` (live jobs and those finished less than MinJobAge ago), then at
most one detail call for jobs that ended badly or that squeue no longer knows: ``sacct -j
ID,...`` when accounting works, else ``scontrol -o show job`` (every job in one call: it takes a
single id only). Final jobs are cached, so ``--watch`` never asks about them again.

Commands run as argv lists through a :data:`Runner`, so unit tests feed real outputs captured
from the local cluster (tests/fixtures/slurm/) and e2e tests use the real tools.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str]], CommandResult]


def run_command(argv: Sequence[str], timeout: float = 60.0) -> CommandResult:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return CommandResult(127, "", f"{argv[0]} not found: is Slurm installed here (or its module loaded)?")
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"{argv[0]} did not answer within {timeout:.0f} s")
    return CommandResult(proc.returncode, proc.stdout, proc.stderr)


# Slurm job states by what they mean to a user of mfile.
FINAL_OK = frozenset({"COMPLETED"})
FINAL_FAILED = frozenset(
    {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT"}
)
FINAL_CANCELLED = frozenset({"CANCELLED", "REVOKED"})
PENDING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
# Everything else (RUNNING, COMPLETING, CONFIGURING, SUSPENDED, STAGE_OUT, ...) is running.


def category(state: str) -> str:
    """pending | running | completed | failed | cancelled, for a Slurm state name."""
    if state in FINAL_OK:
        return "completed"
    if state in FINAL_FAILED:
        return "failed"
    if state in FINAL_CANCELLED:
        return "cancelled"
    if state in PENDING:
        return "pending"
    return "running"


@dataclass(frozen=True)
class JobInfo:
    """One job, or one element of an array job (``array_job_id`` and ``array_task`` set).

    ``count`` > 1 only for a line that stands for several pending array elements
    (``1011_[2-3%2]``). ``job_id`` is what sbatch printed (the array's id for an element).
    """

    job_id: str
    state: str  # Slurm base state, upper case: COMPLETED, CANCELLED (never "CANCELLED by 0")
    array_task: str | None = None
    count: int = 1
    elapsed_s: int | None = None
    nodes: str = ""
    reason: str = ""
    exit_code: str | None = None  # "code:signal" as Slurm prints it
    stdout: str | None = None
    stderr: str | None = None

    @property
    def category(self) -> str:
        return category(self.state)

    @property
    def final(self) -> bool:
        # A pending job whose dependency failed will never start (on a site without
        # kill_invalid_depend it stays pending until someone cancels it).
        return self.category not in ("pending", "running") or self.reason == "DependencyNeverSatisfied"

    @property
    def key(self) -> str:
        return self.job_id if self.array_task is None else f"{self.job_id}_{self.array_task}"


# --------------------------------------------------------------------------- field parsers

_ELAPSED = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?$")


def parse_elapsed(text: str) -> int | None:
    """Seconds of Slurm's ``[D-][HH:]MM:SS``; None for empty, ``INVALID``, ``UNLIMITED``..."""
    m = _ELAPSED.match(text.strip())
    if m is None:
        return int(text) if text.strip().isdigit() else None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def format_elapsed(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def _base_state(text: str) -> str:
    # sacct: "CANCELLED by 0"; squeue/scontrol may add flags after a "+".
    return text.strip().split(" ")[0].split("+")[0].upper()


def _range_count(spec: str) -> int:
    """Elements in an array range like ``2-3%2``, ``0,4-6`` or ``7``."""
    total = 0
    for part in spec.split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        if lo.strip().isdigit():
            step = 1
            if ":" in hi:
                hi, _, s = hi.partition(":")
                step = int(s) if s.isdigit() else 1
            total += (int(hi) - int(lo)) // step + 1 if hi.strip().isdigit() else 1
    return max(total, 1)


_ARRAY_ID = re.compile(r"^(\d+)_(?:\[(.+)\]|(\d+))$")


def _split_job_id(text: str) -> tuple[str, str | None, int]:
    """``1011_3`` -> ("1011", "3", 1); ``1011_[2-3%2]`` -> ("1011", "[2-3%2]", 2); ``7`` -> ("7", None, 1)."""
    text = text.strip()
    m = _ARRAY_ID.match(text)
    if m is None:
        return text.split(".")[0].split(";")[0], None, 1
    if m.group(3) is not None:
        return m.group(1), m.group(3), 1
    return m.group(1), f"[{m.group(2)}]", _range_count(m.group(2))


# --------------------------------------------------------------------------- squeue

# %i job id (array: JOBID_TASK or JOBID_[range]), %T state, %M time used, %N nodes, %r reason.
SQUEUE_FORMAT = "%i|%T|%M|%N|%r"


def squeue_argv(job_ids: Sequence[str]) -> list[str]:
    return ["squeue", "--noheader", "--states=all", f"--jobs={','.join(job_ids)}", f"--format={SQUEUE_FORMAT}"]


def parse_squeue(text: str) -> list[JobInfo]:
    jobs = []
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) < 5 or not fields[0].strip():
            continue
        job_id, task, count = _split_job_id(fields[0])
        jobs.append(
            JobInfo(
                job_id=job_id,
                state=_base_state(fields[1]),
                array_task=task,
                count=count,
                elapsed_s=parse_elapsed(fields[2]),
                nodes=fields[3].strip(),
                reason="|".join(fields[4:]).strip(),
            )
        )
    return jobs


# --------------------------------------------------------------------------- sacct

SACCT_FIELDS = "JobID,State,ExitCode,ElapsedRaw,NodeList"
ACCOUNTING_DISABLED = "accounting storage is disabled"


def sacct_argv(job_ids: Sequence[str]) -> list[str]:
    # -X: the allocation only, not its steps (batch, extern, srun steps).
    return ["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(job_ids)}",
            f"--format={SACCT_FIELDS}"]


def parse_sacct(text: str) -> list[JobInfo]:
    jobs = []
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) < 5 or not fields[0].strip() or not fields[0].strip()[0].isdigit():
            continue  # `sacct -c` mixes parse warnings into stdout
        job_id, task, count = _split_job_id(fields[0])
        if "." in fields[0]:
            continue  # a step (without -X)
        jobs.append(
            JobInfo(
                job_id=job_id,
                state=_base_state(fields[1]),
                array_task=task,
                count=count,
                exit_code=fields[2].strip() or None,
                elapsed_s=parse_elapsed(fields[3]),
                nodes="" if fields[4].strip() in ("None assigned", "(null)") else fields[4].strip(),
            )
        )
    return jobs


# --------------------------------------------------------------------------- scontrol

SCONTROL_ARGV = ["scontrol", "--oneliner", "show", "job"]
_PAIR = re.compile(r"(?:^|\s)([A-Za-z][\w:/]*)=(.*?)(?=\s[A-Za-z][\w:/]*=|\s*$)")


def parse_scontrol_fields(line: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _PAIR.finditer(line.strip())}


def parse_scontrol(text: str) -> list[JobInfo]:
    """``scontrol -o show job``: one line per job (an array element as its own line)."""
    jobs = []
    for line in text.splitlines():
        f = parse_scontrol_fields(line)
        if "JobId" not in f or "JobState" not in f:
            continue
        array_id = f.get("ArrayJobId")
        task = f.get("ArrayTaskId")
        count = 1
        if array_id and task:
            if not task.isdigit():
                count = _range_count(task)
                task = f"[{task}]"
            job_id = array_id
        else:
            job_id, task = f["JobId"], None
        none = ("", "(null)", "None")
        jobs.append(
            JobInfo(
                job_id=job_id,
                state=_base_state(f["JobState"]),
                array_task=task,
                count=count,
                # Never started (StartTime=Unknown): RunTime counts from the epoch, decades.
                elapsed_s=None if f.get("StartTime") == "Unknown" else parse_elapsed(f.get("RunTime", "")),
                nodes="" if f.get("NodeList", "") in none else f["NodeList"],
                reason="" if f.get("Reason", "") in none else f["Reason"],
                exit_code=f.get("ExitCode"),
                stdout=None if f.get("StdOut", "") in none else f["StdOut"],
                stderr=None if f.get("StdErr", "") in none else f["StdErr"],
            )
        )
    return jobs


# --------------------------------------------------------------------------- the poller


def _merge(base: JobInfo, detail: JobInfo) -> JobInfo:
    """squeue's view with what the detail source adds (exit code, log paths, final state)."""
    return replace(
        base,
        state=detail.state if detail.final else base.state,
        exit_code=detail.exit_code or base.exit_code,
        stdout=detail.stdout or base.stdout,
        stderr=detail.stderr or base.stderr,
        elapsed_s=base.elapsed_s if base.elapsed_s is not None else detail.elapsed_s,
        nodes=base.nodes or detail.nodes,
    )


class SlurmQuery:
    """Polls the states of a fixed set of jobs (the ids sbatch printed), politely."""

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner = runner
        self.accounting: bool | None = None  # unknown until the first sacct answer
        self.calls: list[list[str]] = []
        self._final: dict[str, list[JobInfo]] = {}  # job id -> its final lines, never asked again
        self.error: str | None = None  # why the last refresh could not ask Slurm
        self.missing = False  # squeue is not installed here: asking again will not help

    def _run(self, argv: list[str]) -> CommandResult:
        self.calls.append(argv)
        return self.runner(argv)

    def refresh(self, job_ids: Iterable[str]) -> dict[str, list[JobInfo]]:
        """Job id -> its lines (one per job, or one per array element / pending range)."""
        wanted = sorted({j for j in job_ids if j}, key=lambda j: (len(j), j))
        out: dict[str, list[JobInfo]] = {j: self._final[j] for j in wanted if j in self._final}
        ask = [j for j in wanted if j not in self._final]
        self.error = None
        if not ask:
            return out
        live: dict[str, list[JobInfo]] = {}
        result = self._run(squeue_argv(ask))
        if result.returncode == 0:
            for job in parse_squeue(result.stdout):
                live.setdefault(job.job_id, []).append(job)
        elif "invalid job id" not in result.stderr.lower():
            self.missing = result.returncode == 127
            self.error = (result.stderr or result.stdout).strip() or f"squeue exited with {result.returncode}"
            return out
        # Details only for what squeue cannot say: exit codes of jobs that ended badly, and jobs
        # squeue has forgotten (finished more than MinJobAge ago).
        need = [
            j for j in ask
            if j not in live or any(x.final and x.category != "completed" for x in live[j])
        ]
        details = self._details(need) if need else {}
        for j in ask:
            lines = live.get(j)
            if lines is None:
                lines = details.get(j, [])
            elif j in details:
                by_key = {d.key: d for d in details[j]}
                lines = [_merge(x, by_key[x.key]) if x.key in by_key else x for x in lines]
            if lines:
                out[j] = lines
                if all(x.final for x in lines) and (j in details or not need or j not in need):
                    self._final[j] = lines
        return out

    def _details(self, job_ids: list[str]) -> dict[str, list[JobInfo]]:
        if self.accounting is not False:
            result = self._run(sacct_argv(job_ids))
            if result.returncode == 0:
                self.accounting = True
                return _group(parse_sacct(result.stdout), job_ids)
            if ACCOUNTING_DISABLED in (result.stderr + result.stdout).lower():
                self.accounting = False
            else:
                return {}  # sacct is there but failed (slurmdbd down): try again next refresh
        result = self._run(list(SCONTROL_ARGV))
        if result.returncode != 0:
            return {}
        return _group(parse_scontrol(result.stdout), job_ids)


def _group(jobs: list[JobInfo], job_ids: list[str]) -> dict[str, list[JobInfo]]:
    wanted = set(job_ids)
    grouped: dict[str, list[JobInfo]] = {}
    for job in jobs:
        if job.job_id in wanted:
            grouped.setdefault(job.job_id, []).append(job)
    return grouped
