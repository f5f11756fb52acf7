"""The ``ctx`` argument every payload function receives (docs/items.md is the user guide).

A ``Context`` is what a payload may know about where and how it runs: its task, its MPI
rank among the task's ranks, scratch and checkpoint directories, the item header (with the
fields mfile does not use passed through), and whether Slurm asked it to stop (SIGUSR1).

It deliberately imports nothing heavy: ``mpi4py`` arrives as ``comm`` only when the task
runs on several ranks, and ``torch`` is imported only when a payload asks for ``device``
or ``torch_distributed()``, so a payload that needs neither starts fast.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfile.runtime.device import DeviceRequest, pick_device
from mfile.runtime.parallel import init_torch_distributed

_OPS = ("sum", "min", "max", "prod")


class _StopFlag:
    """Set from the SIGUSR1 handler; an Event so a payload thread may also wait on it."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def set(self, *_: Any) -> None:
        self.event.set()


# One process runs one task: the flag is per process, so the handler can be installed
# before anything slow is imported (SIGUSR1's default action would kill the process).
STOP = _StopFlag()


def install_signal_handler() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, STOP.set)


def ignore_late_signal() -> None:
    """Once the task's outcome is decided, a warning that comes late changes nothing: ignore it.
    (Python's finalization puts a handled signal back to its default action, which for SIGUSR1
    is to terminate: a warning arriving while the interpreter shuts down would turn a finished
    task into a job that failed with 138. An ignored signal stays ignored.)"""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def write_whole(text: str) -> None:
    """Write ``text`` to stderr in one system call, so the lines of ranks that share a log
    (srun, mpirun) never mix mid-line: a pipe takes a write of up to PIPE_BUF bytes whole."""
    sys.stderr.flush()
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a file
        sys.stderr.write(text)
        sys.stderr.flush()
        return
    data = text.encode("utf-8", "replace")
    while data:
        written = os.write(fd, data[: select.PIPE_BUF])
        data = data[written:]


class ItemProblem(ValueError):
    """A problem a payload reports in words (bad data or parameters): the message is the whole
    story, so the log shows it without a traceback. ``mfile.itemlib.ItemError`` is one."""


@dataclass
class Context:
    task_id: str
    rank: int = 0
    size: int = 1
    comm: Any = None  # mpi4py.MPI.Comm when size > 1, else None
    work_dir: Path = field(default_factory=lambda: Path("."))
    checkpoint_dir: Path = field(default_factory=lambda: Path(".checkpoint"))
    header: dict[str, Any] = field(default_factory=dict)
    item_dir: Path = field(default_factory=lambda: Path("."))
    local_rank: int = 0
    gpus: int = 0
    point: int | None = None  # grid point of a hyperparameter search, else None
    reads: list[dict[str, Any]] = field(default_factory=list)  # data files read, for the record
    device_request: DeviceRequest = field(default_factory=DeviceRequest)  # see runtime/device.py
    _stop: _StopFlag = field(default_factory=lambda: STOP, repr=False)
    _device: Any = field(default=None, repr=False)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    # ------------------------------------------------------------------ signals

    @property
    def stop_requested(self) -> bool:
        """True once SIGUSR1 arrived: checkpoint into ``checkpoint_dir`` and return soon."""
        return self._stop.event.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def install_signal_handler(self) -> None:
        if self._stop is STOP:
            install_signal_handler()
        elif threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, self._stop.set)

    # ------------------------------------------------------------------ output

    def log(self, msg: str) -> None:
        """One line in the task's log, prefixed with the task, the rank and the elapsed time."""
        who = self.task_id if self.point is None else f"{self.task_id}[{self.point}]"
        rank = f" r{self.rank}/{self.size}" if self.size > 1 else ""
        prefix = f"[{who}{rank} {time.monotonic() - self._t0:7.1f}s] "
        text = "".join(f"{prefix}{line}\n" for line in (str(msg).splitlines() or [""]))
        write_whole(text)

    def note_read(self, pattern: str, globs: list[str], files: list[list[Any]]) -> None:
        """Remember the files a glob expanded to (``[path, size, mtime_ns]`` each), so the
        completion record can tell next time whether any of them changed or a new one matches."""
        self.reads.append({"pattern": pattern, "globs": globs, "files": files})

    # ------------------------------------------------------------------ collectives

    def allreduce(self, array: Any, op: str = "sum") -> Any:
        """Element-wise reduction of a numpy array (or scalar) over the task's ranks.

        With one rank it returns a copy, so a payload written for many ranks runs
        unchanged on one. ``op`` is ``sum``, ``min``, ``max`` or ``prod``.
        """
        import numpy as np  # heavy: numpy loads only where numbers are handled

        if op not in _OPS:
            raise ValueError(f"allreduce op must be one of {', '.join(_OPS)}, not {op!r}")
        scalar = np.isscalar(array) or np.ndim(array) == 0
        local = np.array(array, copy=True)
        if local.dtype == object:
            raise TypeError("allreduce needs a numeric array")
        if self.comm is None or self.size == 1:
            return local.item() if scalar else local
        from mpi4py import MPI  # optional: MPI loads only when a task has several ranks

        local = np.ascontiguousarray(local)
        result = np.empty_like(local)
        mpi_op = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX, "prod": MPI.PROD}[op]
        self.comm.Allreduce(local, result, op=mpi_op)
        return result.item() if scalar else result

    def barrier(self) -> None:
        if self.comm is not None and self.size > 1:
            self.comm.Barrier()

    def bcast(self, value: Any, root: int = 0) -> Any:
        """Rank ``root``'s (picklable) value on every rank."""
        if self.comm is None or self.size == 1:
            return value
        return self.comm.bcast(value, root=root)

    # ------------------------------------------------------------------ torch

    @property
    def device(self) -> Any:
        """``torch.device``: this rank's GPU when the task has GPUs, else CPU. A task that asked
        for GPUs and finds no CUDA device raises ``DeviceError`` (runtime/device.py) instead of
        running on CPU, unless it said ``device: cpu`` or the profile allows it."""
        if self._device is None:  # torch loads only here: for tasks that train or predict
            self._device = pick_device(self.task_id, self.device_request, self.local_rank, self.log)
        return self._device

    def torch_distributed(self) -> bool:
        """Initialise ``torch.distributed`` over the task's ranks (gloo on CPU, nccl on GPU).

        Returns True when a process group spans more than one rank, so a payload can wrap
        its model in ``DistributedDataParallel``; False (and nothing initialised) on one rank.
        """
        return init_torch_distributed(self)

    @property
    def is_root(self) -> bool:
        return self.rank == 0
