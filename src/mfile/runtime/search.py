"""Hyperparameter searches: one grid point (``--point I``) and the select step (``--select``).

A point runs the search's steps in order with ``points[I]``'s param overrides, writing
under ``data/<search>/points/<I>/<step>/<port>`` and, last, ``state/<search>/point-<I>.json``.
The select step reads every point's metric, writes ``data/<search>/metrics/metrics.json``
(all points and the best) and points ``data/<search>/best_model`` at the best point's model
(a relative symlink, or a copy where the filesystem has no symlinks), then the search's
own record. It fails only when no point succeeded; failed points are listed.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from mfile.plan import manifest
from mfile.plan.ir import SearchSpec, Task
from mfile.runtime import device, io, records
from mfile.runtime.execute import EXIT_OK, Input, Step, TaskFailure, describe, execute_step, input_from_task, input_key
from mfile.runtime.parallel import World
from mfile.runtime.task import finish_dirs, make_context, prepare_dirs, redo_reasons


def _spec(task: Task) -> SearchSpec:
    if task.search is None:
        raise TaskFailure(f"task {task.id!r} is a search without a search spec in plan.json")
    return task.search


def outer_inputs(run_dir: Path, search: Task) -> dict[str, list[Input]]:
    """The search's own inputs (from tasks outside it), by the search's port name."""
    label = describe(search)
    out: dict[str, list[Input]] = {}
    for b in search.inputs:
        out.setdefault(b.port, []).append(input_from_task(run_dir, b, label))
    return out


def search_key(plan: manifest.Plan, search: Task, outer: dict[str, list[Input]]) -> str:
    spec = _spec(search)
    return records.task_key(
        task_id=search.id,
        mode="search",
        items=records.items_of(spec.steps),
        params={s.id: s.params for s in spec.steps},
        inputs=input_key([i for inputs in outer.values() for i in inputs]),
        runtime=records.runtime_of(plan, spec.steps),
        extra=spec.model_dump(mode="json", exclude={"steps"}),
    )


def point_key(plan: manifest.Plan, search: Task, outer: dict[str, list[Input]], point: int) -> str:
    return records.sha256_text(f"{search_key(plan, search, outer)}:point:{point}:{records.canonical(_spec(search).points[point])}")


def _step_inputs(run_dir: Path, search: Task, step: Task, point: int, outer: dict[str, list[Input]], done: dict[tuple[str, str], str]) -> list[Input]:
    spec = _spec(search)
    step_ids = {s.id for s in spec.steps}
    resolved: list[Input] = []
    for b in step.inputs:
        if b.source_task in step_ids:
            digest = done.get((b.source_task, b.source_port))
            if digest is None:
                raise TaskFailure(f"step {step.id!r} of search {search.id!r} reads step {b.source_task!r}, which has not run before it")
            resolved.append(Input(b, manifest.point_dir(run_dir, search.id, point, b.source_task, b.source_port), digest))
        elif b.source_task == search.id:
            for src in outer.get(b.source_port, []):
                # The step's own binding decides the port, columns and wanted type.
                resolved.append(Input(b.model_copy(update={"source_task": src.binding.source_task}), src.path, src.digest))
            if b.source_port not in outer:
                raise TaskFailure(f"step {step.id!r} of search {search.id!r} reads the search's input {b.source_port!r}, which the search does not bind")
        else:
            resolved.append(input_from_task(run_dir, b, describe(step, point)))
    return resolved


def run_point(plan: manifest.Plan, run_dir: Path, search: Task, point: int, world: World, force: bool) -> int:
    spec = _spec(search)
    if not 0 <= point < len(spec.points):
        raise IndexError(f"search {search.id!r} has {len(spec.points)} grid points; --point {point} is out of range")
    outer = outer_inputs(run_dir, search)
    key = point_key(plan, search, outer, point)
    record = manifest.point_state_path(run_dir, search.id, point)
    point_root = run_dir / "data" / search.id / "points" / str(point)
    outs = [manifest.point_dir(run_dir, search.id, point, s.id, p.name) for s in spec.steps for p in s.outputs]
    request = device.request_for(search.resources, plan.profile)  # the steps share the array element's allocation
    first = make_context(spec.steps[0], world, request, point)
    if not force and not redo_reasons(first, records.why_stale(record, key, outs)):
        first.log("skipped: up to date")
        return EXIT_OK
    device.announce(first)
    started, t0 = records.now_iso(), time.monotonic()
    if world.rank == 0:
        record.unlink(missing_ok=True)
    overrides = spec.points[point]
    reads: list[dict[str, Any]] = []
    done: dict[tuple[str, str], str] = {}
    step_params: dict[str, Any] = {}
    for s in spec.steps:
        params = {**s.params, **overrides.get(s.id, {})}
        step_params[s.id] = params
        ctx = make_context(s, world, request, point)
        step_dir = point_root / s.id
        ctx.work_dir, ctx.checkpoint_dir = prepare_dirs(step_dir, records.sha256_text(f"{key}:{s.id}"), world.rank, ctx.barrier)
        ctx.install_signal_handler()
        out_dirs = {p.name: manifest.point_dir(run_dir, search.id, point, s.id, p.name) for p in s.outputs}
        step = Step(s, params, _step_inputs(run_dir, search, s, point, outer, done), out_dirs, ctx, world, describe(s, point))
        digests = ctx.bcast(execute_step(step))
        reads += ctx.reads
        done.update({(s.id, p): d for p, d in digests.items()})
        finish_dirs(step_dir, world.rank, ctx.barrier)
    if world.rank == 0:
        records.write_record(
            record, task_id=search.id, key=key, point=point,
            inputs=input_key([i for v in outer.values() for i in v]), params=step_params,
            items=records.items_of(spec.steps),
            outputs={f"{sid}.{port}": {"sha256": d} for (sid, port), d in done.items()},
            started=started, wall_s=time.monotonic() - t0, ranks=world.size, reads=reads,
            runtime=records.runtime_of(plan, spec.steps),
        )  # fmt: skip
    first.log(f"grid point {point} done in {time.monotonic() - t0:.1f}s")
    return EXIT_OK


# --------------------------------------------------------------------------- select


def read_metric(run_dir: Path, search: Task, point: int) -> float:
    spec = _spec(search)
    port_dir = manifest.point_dir(run_dir, search.id, point, spec.metric_step, spec.metric_port)
    kind = io.port_kind(port_dir)
    if kind == "json":
        value = io.read_json_port(port_dir)
        if spec.metric_column not in value:
            raise KeyError(f"{port_dir} has no metric {spec.metric_column!r} (it has: {', '.join(value)})")
        raw = value[spec.metric_column]
    elif kind == "dataset":
        ds = io.read_dataset(port_dir)
        raw = ds[spec.metric_column].mean().values.item()
    else:
        raise KeyError(f"{port_dir} holds a model, not a metric")
    result = float(raw if not isinstance(raw, list) else sum(raw) / len(raw))
    if math.isnan(result):
        raise ValueError("the metric is NaN")
    return result


def model_step(spec: SearchSpec) -> Task | None:
    """The step whose trained model the search exposes: the last trainable step in training mode."""
    candidates = [s for s in spec.steps if s.item and s.item.kind == "trainable" and s.mode == "run" and any(p.name == "model" for p in s.outputs)]
    return candidates[-1] if candidates else None


def run_select(plan: manifest.Plan, run_dir: Path, search: Task, force: bool) -> int:
    spec = _spec(search)
    world = World()
    ctx = make_context(search, world, device.DeviceRequest())  # picks a file: CPU
    outer = outer_inputs(run_dir, search)
    points = []
    for i in range(len(spec.points)):
        entry: dict[str, Any] = {"point": i, "params": spec.points[i]}
        if not records.up_to_date(manifest.point_state_path(run_dir, search.id, i), point_key(plan, search, outer, i), []):
            entry.update(status="failed", error="no completion record (the point failed, was killed or has not run)")
        else:
            try:
                entry.update(status="done", value=read_metric(run_dir, search, i))
            except (OSError, KeyError, ValueError, io.PortError) as exc:
                entry.update(status="failed", error=f"cannot read its metric: {exc}")
        points.append(entry)
    # The select is up to date when the search's inputs and the set of finished points are.
    key = records.sha256_text(search_key(plan, search, outer) + records.canonical([p["status"] for p in points]))
    record = manifest.state_path(run_dir, search.id)
    final = [manifest.data_dir(run_dir, search.id, "metrics")]
    if not force and records.up_to_date(record, key, final):
        ctx.log("skipped: up to date")
        return EXIT_OK
    ok = [p for p in points if p["status"] == "done"]
    for p in points:
        if p["status"] != "done":
            ctx.log(f"grid point {p['point']} {p['params']} failed: {p['error']}")
    if not ok:
        raise TaskFailure(f"search {search.id!r}: none of its {len(points)} grid points succeeded (see their logs)")
    if len(ok) < spec.required_points:
        raise TaskFailure(
            f"search {search.id!r}: {len(ok)} of its {len(points)} grid points succeeded, fewer than the "
            f"{spec.required_points} it needs (min_points, default half the grid): rerun the others "
            "(mfile submit --resume, or mfile run again) or lower min_points"
        )
    best = (min if spec.mode == "min" else max)(ok, key=lambda p: p["value"])
    metrics = {
        "metric": spec.metric_column, "mode": spec.mode, "step": spec.metric_step,
        "points": points, "best": best, "failed": len(points) - len(ok),
    }  # fmt: skip
    started, t0 = records.now_iso(), time.monotonic()
    record.unlink(missing_ok=True)
    (run_dir / "data" / search.id).mkdir(parents=True, exist_ok=True)
    io.clean_stale(run_dir / "data" / search.id)
    metrics_dir = manifest.data_dir(run_dir, search.id, "metrics")
    io.write_json_port(metrics, metrics_dir)
    outputs = {"metrics": records.digest_path(metrics_dir)}
    trained = model_step(spec)
    if trained is not None:
        target = manifest.point_dir(run_dir, search.id, best["point"], trained.id, "model")
        link = manifest.data_dir(run_dir, search.id, "best_model")
        _link_or_copy(target, link)
        outputs["best_model"] = records.digest_path(link)
    records.write_record(
        record, task_id=search.id, key=key,
        inputs=input_key([i for v in outer.values() for i in v]), params={s.id: s.params for s in spec.steps},
        items=records.items_of(spec.steps), runtime=records.runtime_of(plan, spec.steps),
        outputs=outputs, started=started, wall_s=time.monotonic() - t0, ranks=1,
        extra={"best_point": best["point"], "best_value": best["value"]},
    )  # fmt: skip
    ctx.log(f"best grid point {best['point']} {best['params']}: {spec.metric_column} = {best['value']:.6g} ({len(ok)}/{len(points)} points succeeded)")
    return EXIT_OK


def _link_or_copy(target: Path, link: Path) -> None:
    tmp = link.parent / f".{link.name}.tmp-link"
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    elif tmp.exists():
        shutil.rmtree(tmp)
    try:
        os.symlink(os.path.relpath(target, link.parent), tmp, target_is_directory=True)
    except OSError:
        shutil.copytree(target, tmp)
    if link.exists() and not link.is_symlink() and link.is_dir():
        io.commit_dir(tmp, link)
    else:
        os.replace(tmp, link)
