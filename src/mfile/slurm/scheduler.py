"""The one interface to Slurm's command-line tools for submission (``sbatch``, ``scancel``, and
``squeue`` for which of a submission's jobs are still live).

Commands run as argv lists (never through a shell). :class:`SlurmScheduler` talks to the real
Slurm; :class:`FakeScheduler` records calls for unit tests and can be told to fail.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from mfile.slurm.query import SlurmQuery, run_command

# sbatch's messages when the controller is busy or briefly unreachable: worth a retry.
TRANSIENT_MARKERS = (
    "socket timed out",
    "resource temporarily unavailable",
    "unable to contact slurm controller",
    "slurm_persist_conn_open",
    "connection refused",
    "connection timed out",
    "temporarily unable to accept job",
    "try again",
)
_JOB_ID = re.compile(r"^(\d+)(?:;[\w.-]+)?$")


class SchedulerError(Exception):
    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_transient(message: str) -> bool:
    low = message.lower()
    return any(marker in low for marker in TRANSIENT_MARKERS)


class Scheduler(Protocol):
    def submit(self, script: Path, options: Sequence[str], cwd: Path) -> str:
        """Queue ``script`` (relative to ``cwd``) with sbatch ``options``; return the job id."""
        ...

    def cancel(self, job_ids: Sequence[str]) -> None: ...

    def live(self, job_ids: Sequence[str]) -> dict[str, str]:
        """Job id -> Slurm state of those of ``job_ids`` still pending or running."""
        ...


@dataclass
class SlurmScheduler:
    sbatch: str = "sbatch"
    scancel: str = "scancel"
    timeout: float = 120.0

    def _run(self, argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise SchedulerError(f"{argv[0]} not found: is Slurm installed here (or its module loaded)?") from None
        except subprocess.TimeoutExpired:
            raise SchedulerError(f"{argv[0]} did not answer within {self.timeout:.0f} s", transient=True) from None

    def submit(self, script: Path, options: Sequence[str], cwd: Path) -> str:
        proc = self._run([self.sbatch, "--parsable", *options, str(script)], cwd)
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip() or f"sbatch exited with {proc.returncode}"
            raise SchedulerError(message, transient=is_transient(message))
        lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        m = _JOB_ID.fullmatch(lines[-1]) if lines else None
        if m is None:
            raise SchedulerError(f"sbatch printed no job id: {proc.stdout.strip()!r}")
        return m.group(1)

    def cancel(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self._run([self.scancel, *job_ids])

    def live(self, job_ids: Sequence[str]) -> dict[str, str]:
        query = SlurmQuery(lambda argv: run_command(argv, timeout=self.timeout))
        states = query.refresh(job_ids)
        if query.error:
            raise SchedulerError(query.error, transient=is_transient(query.error))
        return {j: next(x.state for x in lines if not x.final)
                for j, lines in states.items() if any(not x.final for x in lines)}


@dataclass
class FakeScheduler:
    """Hands out job ids from ``next_id``; ``failures`` are raised (in order) before succeeding."""

    next_id: int = 1000
    failures: list[SchedulerError] = field(default_factory=list)
    submitted: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    attempts: int = 0
    running: dict[str, str] = field(default_factory=dict)  # job id -> state: what live() reports

    def submit(self, script: Path, options: Sequence[str], cwd: Path) -> str:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        job_id = str(self.next_id)
        self.next_id += 1
        self.submitted.append((str(script), tuple(options), job_id))
        return job_id

    def cancel(self, job_ids: Sequence[str]) -> None:
        self.cancelled.extend(job_ids)

    def live(self, job_ids: Sequence[str]) -> dict[str, str]:
        return {j: self.running[j] for j in job_ids if j in self.running}
