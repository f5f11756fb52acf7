"""Ranks: who am I among a task's processes, slicing along samples, torch.distributed set-up.

The launcher (``srun`` under Slurm, ``mpirun`` locally) starts one process per rank and
tells each its rank through the environment. We read that first, so a one-rank task never
pays for importing mpi4py; with more than one rank, mpi4py's ``COMM_WORLD`` must agree
with the environment (a PyPI MPI under ``srun --mpi=pmi2`` silently gives every process
rank 0 of 1, see notes/slurm.md), otherwise the task stops before touching any data.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping

from mfile.runtime.device import pick_backend


class RankError(Exception):
    """The launcher's environment and MPI disagree about the ranks: our (or the site's) fault."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    comm: Any = None
    launcher: str = "none"
    # A duplicate of ``comm`` used only when ranks fail: its barrier can never be matched with a
    # collective of the task's own code (see all_failed).
    failure_comm: Any = None


# (rank, size, local rank) variables, most specific launcher first: mpirun's own variables
# describe the current launch even inside a Slurm allocation; Slurm's SLURM_NTASKS is set in
# the batch step too, so only a job step (SLURM_STEP_ID present) counts as launched by srun.
_LAUNCHERS = (
    ("mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
    ("pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
)


def rank_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int, int, str]:
    env = os.environ if env is None else env
    for name, rank_var, size_var, local_var in _LAUNCHERS:
        if rank_var not in env or size_var not in env:
            continue
        if name == "srun" and "SLURM_STEP_ID" not in env:
            continue
        size = int(env.get("SLURM_STEP_NUM_TASKS", env[size_var]) if name == "srun" else env[size_var])
        rank = int(env[rank_var])
        local = int(env.get(local_var, rank))
        return rank, size, local, name
    return 0, 1, 0, "none"


def world(env: Mapping[str, str] | None = None) -> World:
    rank, size, local, launcher = rank_from_env(env)
    mpi_mod = sys.modules.get("mpi4py.MPI")
    if size == 1 and mpi_mod is not None and mpi_mod.Is_initialized():
        comm = mpi_mod.COMM_WORLD
        if comm.Get_size() > 1:
            return World(comm.Get_rank(), comm.Get_size(), local, comm, "mpi4py", comm.Dup())
    if size == 1:
        return World(rank, size, local, None, launcher)
    from mpi4py import MPI  # optional: MPI loads only when a task has several ranks

    comm = MPI.COMM_WORLD
    if comm.Get_size() != size or comm.Get_rank() != rank:
        raise RankError(
            f"the launcher ({launcher}) says rank {rank} of {size}, but MPI says rank "
            f"{comm.Get_rank()} of {comm.Get_size()}: mpi4py is linked against an MPI that does "
            "not match the launcher: mpi4py must be built against an MPI that speaks PMIx, started "
            "with the site's PMIx (`srun --mpi=pspmix` on JUWELS, `--mpi=pmix` on a stock Slurm), "
            "see containers/README.md"
        )
    return World(rank, size, local, comm, launcher, comm.Dup())


FAILURE_AGREEMENT_S = 10.0  # how long a failing rank waits to learn whether every rank failed


def all_failed(w: World, timeout: float = FAILURE_AGREEMENT_S) -> bool:
    """True when every rank of ``w`` has failed too (each calls this on failure), learnt within
    ``timeout``: then rank 0 alone reports, every rank exits normally, and MPI prints nothing.
    False when some rank is elsewhere (still working, or waiting in a collective for the failed
    one): the caller must report on its own and abort, or the others would wait forever."""
    if w.failure_comm is None or w.size <= 1:
        return w.size <= 1
    request = w.failure_comm.Ibarrier()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if request.Test():
            return True
        time.sleep(0.01)
    return False


def slice_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Contiguous, balanced [start, stop) of ``n`` samples for ``rank``: sizes differ by <= 1."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def take_slice(ds: Any, dim: str | None, rank: int, size: int) -> Any:
    if size == 1 or dim is None or dim not in ds.dims:
        return ds
    start, stop = slice_bounds(int(ds.sizes[dim]), rank, size)
    return ds.isel({dim: slice(start, stop)})


# --------------------------------------------------------------------------- torch.distributed


def first_host(nodelist: str) -> str:
    """First host of a Slurm nodelist: ``jwb[0012-0015,0020],jwc01`` -> ``jwb0012``."""
    nodelist = nodelist.strip()
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if not match:
        return nodelist
    prefix, ranges = match.group(1), match.group(2)
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def torch_env(ctx: Any, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK/LOCAL_RANK for env:// initialisation.

    Values already in the environment win. Otherwise the master is Slurm's first node (or
    this host), and the port is picked by rank 0 and broadcast over MPI, or derived from
    the job id so every rank computes the same one without talking.
    """
    env = os.environ if env is None else env
    out = {"WORLD_SIZE": str(ctx.size), "RANK": str(ctx.rank), "LOCAL_RANK": str(ctx.local_rank)}
    addr = env.get("MASTER_ADDR")
    if not addr:
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
        addr = first_host(nodelist) if nodelist else "127.0.0.1"
    port = env.get("MASTER_PORT")
    if not port:
        if ctx.comm is not None and ctx.size > 1:
            port = str(ctx.bcast(_free_port() if ctx.rank == 0 else None))
        elif env.get("SLURM_JOB_ID"):
            port = str(20000 + int(env["SLURM_JOB_ID"]) % 20000)
        else:
            port = "29500"
    out["MASTER_ADDR"], out["MASTER_PORT"] = addr, port
    return out


def init_torch_distributed(ctx: Any) -> bool:
    """Join the task's ranks into one torch process group; False (a no-op) on one rank."""
    if ctx.size <= 1:
        return False
    import torch  # heavy: torch loads only for tasks that train or predict
    import torch.distributed as dist  # heavy: torch loads only for tasks that train or predict

    if dist.is_initialized():
        return True
    os.environ.update(torch_env(ctx))
    backend = pick_backend(ctx.task_id, ctx.device_request, ctx.device, dist)
    if backend == "nccl":
        torch.cuda.set_device(ctx.device)
    dist.init_process_group(backend=backend, init_method="env://", rank=ctx.rank, world_size=ctx.size)
    ctx.log(f"torch.distributed: {backend}, {ctx.size} ranks, master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}")
    return True


def shutdown_torch_distributed() -> None:
    dist_mod = sys.modules.get("torch.distributed")
    if dist_mod is not None and dist_mod.is_available() and dist_mod.is_initialized():
        dist_mod.destroy_process_group()
