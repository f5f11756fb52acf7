"""``python -m mfile.runtime PLAN TASK [--point I | --point-from-env [--point-offset K] | --select] [--force]``

What every generated job runs. Exit codes (codegen's scripts react to them):
0 done, or skipped because the completion record is up to date;
1 the task failed: one paragraph in the log names task, item and cause (after the payload's
  traceback when the cause is the item's own code), also when it asked for GPUs and finds
  no CUDA device (runtime/device.py: the message names the image or modules to use);
2 a bad invocation or a fault of ours (then our traceback follows the one-line message);
75 (EX_TEMPFAIL) SIGUSR1 arrived and the payload checkpointed: requeue the job.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from mfile.runtime.context import ignore_late_signal, install_signal_handler

if __name__ == "__main__":
    install_signal_handler()  # before the imports below: Slurm's SIGUSR1 may come while we still import

from mfile.plan import manifest  # noqa: E402
from mfile.runtime import device, execute, parallel, search  # noqa: E402
from mfile.runtime import task as plan_task  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_FAULT, EXIT_REQUEUE = 0, 1, 2, 75


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mfile.runtime", description="Run one task of a compiled mfile plan.")
    p.add_argument("plan", type=Path, help="OUT/<pipeline>/plan.json")
    p.add_argument("task", help="task id (a search's id with --point/--select)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--point", type=int, metavar="I", help="run grid point I of a search")
    which.add_argument("--point-from-env", action="store_true", help="grid point = $SLURM_ARRAY_TASK_ID (+ --point-offset)")
    which.add_argument("--select", action="store_true", help="pick a search's best grid point")
    p.add_argument("--point-offset", type=int, default=0, metavar="K", help="added to the array index (arrays split at MaxArraySize)")
    p.add_argument("--force", action="store_true", help="run even when the completion record is up to date")
    return p


def _abort(world: object, code: int) -> None:
    """One rank failing must not leave the others waiting in a collective forever."""
    comm = getattr(world, "comm", None)
    if comm is not None and getattr(world, "size", 1) > 1:
        sys.stderr.flush()
        comm.Abort(code)


def main(argv: list[str] | None = None) -> int:
    install_signal_handler()  # first (again, when called as a function): SIGUSR1 asks for a checkpoint
    args = _parser().parse_args(argv)
    point = args.point
    if args.point_from_env:
        index = os.environ.get("SLURM_ARRAY_TASK_ID")
        if index is None:
            print("mfile runtime: --point-from-env needs $SLURM_ARRAY_TASK_ID (run inside a Slurm array job)", file=sys.stderr)
            return EXIT_FAULT
        point = int(index) + args.point_offset
    try:
        plan = manifest.load_plan(args.plan)
    except FileNotFoundError:
        print(f"mfile runtime: no plan at {args.plan}", file=sys.stderr)
        return EXIT_FAULT
    except ValueError as exc:
        print(f"mfile runtime: {args.plan} is not a valid plan.json (recompile it with this mfile version): {exc}", file=sys.stderr)
        return EXIT_FAULT
    try:
        task = plan.task(args.task)
    except KeyError:
        ids = ", ".join(t.id for t in plan.pipeline.tasks)
        print(f"mfile runtime: pipeline {plan.pipeline.name!r} has no task {args.task!r} (it has: {ids})", file=sys.stderr)
        return EXIT_FAULT
    if task.kind == "search" and point is None and not args.select:
        print(f"mfile runtime: task {task.id!r} is a search: run it as --point I (one grid point) or --select", file=sys.stderr)
        return EXIT_FAULT
    if task.kind != "search" and (point is not None or args.select):
        print(f"mfile runtime: task {task.id!r} is not a search: --point/--select do not apply", file=sys.stderr)
        return EXIT_FAULT
    if task.kind == "item" and task.item is None:
        print(f"mfile runtime: task {task.id!r} has no item in plan.json", file=sys.stderr)
        return EXIT_FAULT

    run_dir = args.plan.resolve().parent
    world: object = None
    try:
        world = parallel.world()
        if task.kind == "search":
            if args.select:
                return search.run_select(plan, run_dir, task, args.force)
            return search.run_point(plan, run_dir, task, point, world, args.force)
        return plan_task.run_item_task(plan, run_dir, task, world, args.force)
    except execute.TaskFailure as exc:
        # Bad data fails every rank alike: rank 0 alone says why, and all exit without MPI_Abort
        # (whose banner every rank would print). A failure of some ranks only: each says why and
        # aborts, so that the others do not wait for them forever.
        everyone = world is None or parallel.all_failed(world)
        if everyone and getattr(world, "rank", 0) != 0:
            return EXIT_FAILED
        if exc.payload_traceback:
            print(exc.payload_traceback, file=sys.stderr, end="")
        print(f"mfile: {exc}", file=sys.stderr)
        if not everyone:
            _abort(world, EXIT_FAILED)
        return EXIT_FAILED
    except execute.Stopped:
        print(
            f"mfile: task {task.id!r} stopped on SIGUSR1 after checkpointing; exit {EXIT_REQUEUE} so the job is requeued "
            "and resumes from its checkpoint",
            file=sys.stderr,
        )
        return EXIT_REQUEUE
    except device.DeviceError as exc:
        print(f"mfile: {exc}", file=sys.stderr)
        _abort(world, EXIT_FAILED)
        return EXIT_FAILED
    except parallel.RankError as exc:
        print(f"mfile runtime: task {task.id!r}: {exc}", file=sys.stderr)
        return EXIT_FAULT
    except IndexError as exc:
        print(f"mfile runtime: {exc}", file=sys.stderr)
        return EXIT_FAULT
    except Exception as exc:
        traceback.print_exc()
        print(
            f"mfile runtime: internal error in task {task.id!r}: {type(exc).__name__}: {exc} (a fault of mfile, "
            "please report it with the traceback above)",
            file=sys.stderr,
        )
        _abort(world, EXIT_FAULT)
        return EXIT_FAULT
    finally:
        ignore_late_signal()
        parallel.shutdown_torch_distributed()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
