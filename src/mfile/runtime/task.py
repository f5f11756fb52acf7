"""A plan task around ``execute_step``: skip check, directories, completion record.

Shared with searches (``runtime/search.py``): the per-rank work and checkpoint
directories, the context a payload gets, and the clean-up after success.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

from mfile.plan import manifest
from mfile.plan.ir import Task
from mfile.runtime import device, io, records
from mfile.runtime.context import Context
from mfile.runtime.device import DeviceRequest
from mfile.runtime.execute import EXIT_OK, Step, TaskFailure, describe, execute_step, input_from_task, input_key
from mfile.runtime.parallel import World

STALE_MARK = "stale:"  # the local executor shows the lines that start with it


def prepare_dirs(task_dir: Path, key: str, rank: int, ctx_barrier: Callable[[], None]) -> tuple[Path, Path]:
    """Clean what a killed run left (rank 0), then give each rank its work and checkpoint dirs.

    The checkpoint dir is keyed by the task key, so a resumed job finds its checkpoint and a
    job with changed params or inputs does not resume from a stale one.
    """
    ckpt_root = task_dir / ".checkpoint"
    work, ckpt = task_dir / f".work.tmp-r{rank}", ckpt_root / key[:16]
    for path in (task_dir.parent, task_dir, ckpt_root, ckpt, work):
        if path.is_symlink():  # planted: writing or cleaning through it would reach its target
            raise TaskFailure(f"{path} is a symbolic link; mfile never writes or deletes through one (docs/security.md)")
    if rank == 0:
        task_dir.mkdir(parents=True, exist_ok=True)
        io.clean_stale(task_dir)
        if ckpt_root.is_dir():
            for old in ckpt_root.iterdir():
                if old.name != key[:16]:
                    shutil.rmtree(old, ignore_errors=True)
    ctx_barrier()
    work.mkdir(parents=True, exist_ok=True)
    ckpt.mkdir(parents=True, exist_ok=True)
    return work, ckpt


def redo_reasons(ctx: Context, reasons: list[str]) -> list[str]:
    """Rank 0's verdict on every rank (a file touched between two ranks' checks must not split
    them), each reason logged once as ``stale: ...`` unless the task simply never ran."""
    reasons = ctx.bcast(reasons)
    if ctx.rank == 0 and reasons != [records.NOT_DONE]:
        for reason in reasons:
            ctx.log(f"{STALE_MARK} {reason}")
    return reasons


def make_context(task: Task, world: World, request: DeviceRequest, point: int | None = None) -> Context:
    """``request``: the device rule of the job's allocation (a search step's is its search's)."""
    item = task.item
    return Context(
        task_id=task.id,
        rank=world.rank,
        size=world.size,
        comm=world.comm,
        header=dict(item.header) if item else {},
        item_dir=Path(item.directory) if item else Path("."),
        local_rank=world.local_rank,
        gpus=request.gpus,
        point=point,
        device_request=request,
    )


def run_item_task(plan: manifest.Plan, run_dir: Path, task: Task, world: World, force: bool) -> int:
    label = describe(task)
    inputs = [input_from_task(run_dir, b, label) for b in task.inputs]
    items = records.items_of([task])
    runtime = records.runtime_of(plan, [task])
    key = records.task_key(task_id=task.id, mode=task.mode, items=items, params=task.params, inputs=input_key(inputs),
                           runtime=runtime)  # fmt: skip
    out_dirs = {p.name: manifest.data_dir(run_dir, task.id, p.name) for p in task.outputs}
    record = manifest.state_path(run_dir, task.id)
    ctx = make_context(task, world, device.request_for(task.resources, plan.profile))
    if not force and not redo_reasons(
        ctx, records.why_stale(record, key, list(out_dirs.values()), items=items, params=task.params, inputs=input_key(inputs),
                          runtime=runtime)
    ):
        ctx.log("skipped: up to date")
        return EXIT_OK
    device.announce(ctx)
    started, t0 = records.now_iso(), time.monotonic()
    if world.rank == 0:
        record.unlink(missing_ok=True)  # outputs are about to change: nothing may look done
    task_dir = run_dir / "data" / task.id
    ctx.work_dir, ctx.checkpoint_dir = prepare_dirs(task_dir, key, world.rank, ctx.barrier)
    ctx.install_signal_handler()
    step = Step(task, dict(task.params), inputs, out_dirs, ctx, world, label)
    digests = execute_step(step)
    if world.rank == 0:
        outputs = {p: {"sha256": d, **_size(out_dirs[p])} for p, d in digests.items()}
        records.write_record(
            record, task_id=task.id, key=key, inputs=input_key(inputs), params=task.params,
            items=items, outputs=outputs, started=started, wall_s=time.monotonic() - t0, ranks=world.size,
            reads=ctx.reads, runtime=runtime,
        )  # fmt: skip
    finish_dirs(task_dir, world.rank, ctx.barrier)
    ctx.log(f"done in {time.monotonic() - t0:.1f}s")
    return EXIT_OK


def _size(path: Path) -> dict[str, int]:
    files = [p for p in path.resolve().rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def finish_dirs(task_dir: Path, rank: int, barrier: Callable[[], None]) -> None:
    """Work dirs go; the checkpoint too, once the task is done (a rerun must start afresh)."""
    shutil.rmtree(task_dir / f".work.tmp-r{rank}", ignore_errors=True)
    barrier()
    if rank == 0:
        shutil.rmtree(task_dir / ".checkpoint", ignore_errors=True)
