"""Completion records ``state/<task>.json``: what makes a task "done", and skip-on-rerun.

A record is written last, after every output port was renamed into place, so its
existence means the outputs are complete. Its ``key`` is a sha256 over everything that
determines the outputs: the item (ref + header sha256), the mode, the params, and the
digest of every input as recorded by the upstream task's own record. Its ``reads`` list
the data files the payload read (every glob it expanded through ``itemlib.data.
resolve_paths``, with size and mtime_ns per file; ``plan/state.py`` compares them). A task
is up to date when its record's key equals the key computed now, the files it read are as
they were, and its output ports exist; so a downstream task becomes stale as soon as an
upstream record changes. ``why_stale`` says which of these differs.

Output digests: sha256 over each file's relative path and size plus its content for
files up to ``CONTENT_HASH_LIMIT``; bigger files contribute size and mtime_ns instead,
because hashing a 1.5 GB field costs more than writing it (see docs/data-format.md).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any, Iterable

from mfile import __version__
from mfile.plan.ir import Task
from mfile.plan.manifest import Plan
from mfile.plan.state import read_changes, read_record
from mfile.runtime.io import write_json_atomic

CONTENT_HASH_LIMIT = 64 * 2**20
RECORD_FORMAT = 3  # 2: the data files read; 3: payload digests and the runtime (image, mfile version)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_path(path: Path) -> dict[str, Any]:
    """Digest of a port (a directory, or a symlink to one): sha256, files, bytes."""
    h = hashlib.sha256()
    files = total = 0
    root = path.resolve()
    entries = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for entry in entries:
        rel = entry.relative_to(root).as_posix() if root.is_dir() else entry.name
        st = entry.stat()
        files += 1
        total += st.st_size
        h.update(f"{rel}\0{st.st_size}\0".encode())
        if st.st_size <= CONTENT_HASH_LIMIT:
            with entry.open("rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
        else:
            h.update(f"mtime:{st.st_mtime_ns}".encode())
    return {"sha256": h.hexdigest(), "files": files, "bytes": total}


_RUNTIME_PARTS = {"mfile": "mfile version", "image": "runtime image", "modules": "module set"}


def items_of(tasks: Iterable[Task]) -> list[tuple[str, str, str]]:
    """(ref, header sha256, payload sha256) of each task's item: a changed payload.py reruns."""
    out = []
    for task in tasks:
        if task.item is not None:
            payload = Path(task.item.directory) / task.item.payload
            try:
                digest = hashlib.sha256(payload.read_bytes()).hexdigest()
            except OSError:  # reported when the runtime imports it
                digest = ""
            out.append((task.item.ref, task.item.header_sha256, digest))
    return out


def runtime_of(plan: Plan, tasks: Iterable[Task]) -> dict[str, Any]:
    """What runs the tasks: the mfile version, the container image (path, size, mtime: an
    image is gigabytes, too big to hash per task) and the site's module set."""
    images = sorted({t.resources.container for t in tasks if t.resources.container})
    slurm = plan.extra.get("slurm") if isinstance(plan.extra, dict) else None
    profile = slurm.get("profile") if isinstance(slurm, dict) else None
    modules = profile.get("modules") if isinstance(profile, dict) else None
    return {"mfile": __version__, "image": [_stat(Path(i)) for i in images], "modules": modules}


def _stat(path: Path) -> list[Any]:
    try:
        info = path.stat()
    except OSError:
        return [str(path)]
    return [str(path), info.st_size, info.st_mtime_ns]


def _item_rows(items: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"ref": ref, "header_sha256": header, "payload_sha256": payload} for ref, header, payload in items]


def task_key(
    *,
    task_id: str,
    mode: str,
    items: list[tuple[str, str]],
    params: Any,
    inputs: dict[str, list[str]],
    runtime: dict[str, Any] | None = None,
    extra: Any = None,
) -> str:
    """sha256 of what determines a task's outputs. ``items``: (ref, header sha256, payload
    sha256) of each item; ``runtime``: what runs them (``runtime_of``)."""
    return sha256_text(
        canonical(
            {
                "format": RECORD_FORMAT,
                "task": task_id,
                "mode": mode,
                "items": items,
                "params": params,
                "inputs": inputs,
                "runtime": runtime,
                "extra": extra,
            }
        )
    )


NOT_DONE = "no completion record"


def up_to_date(path: Path, key: str, outputs: list[Path]) -> bool:
    return not why_stale(path, key, outputs)


def why_stale(
    path: Path,
    key: str,
    outputs: list[Path],
    *,
    items: list[tuple[str, str]] | None = None,
    params: Any = None,
    inputs: dict[str, list[str]] | None = None,
    runtime: dict[str, Any] | None = None,
) -> list[str]:
    """Why the task must run ([] when its record matches everything it read).

    ``NOT_DONE`` alone when there is no record; with ``items``/``params``/``inputs`` (what the
    key was computed from) a changed key is explained part by part."""
    record = read_record(path)
    if record is None:
        return [NOT_DONE]
    reasons = []
    if record.get("key") != key:
        reasons = _key_changes(record, items, params, inputs, runtime)
    reasons += read_changes(record.get("reads"))
    reasons += [f"output {p} is missing" for p in outputs if not p.exists()]
    return reasons


def _key_changes(
    record: dict[str, Any], items: Any, params: Any, inputs: dict[str, list[str]] | None, runtime: dict[str, Any] | None
) -> list[str]:
    if record.get("format") != RECORD_FORMAT:
        return [f"the completion record is from an older mfile (format {record.get('format')})"]
    reasons = []
    if items is not None and record.get("items") != _item_rows(items):
        then = {row.get("ref"): row for row in record.get("items") or [] if isinstance(row, dict)}
        for row in _item_rows(items):
            old = then.get(row["ref"], {})
            if old.get("header_sha256") != row["header_sha256"]:
                reasons.append(f"the header of {row['ref']} changed")
            elif old.get("payload_sha256") != row["payload_sha256"]:
                reasons.append(f"the payload of {row['ref']} changed")
        reasons = reasons or ["the items changed"]
    if runtime is not None and record.get("runtime") != runtime:
        then = record.get("runtime") or {}
        reasons += [f"the {_RUNTIME_PARTS.get(part, part)} changed ({then.get(part)!r} -> {runtime.get(part)!r})"
                    for part in sorted(set(then) | set(runtime)) if then.get(part) != runtime.get(part)]  # fmt: skip
    if params is not None and record.get("params_sha256") != sha256_text(canonical(params)):
        reasons.append("params changed")
    if inputs is not None:
        then = {e.rpartition(":")[0]: e for entries in (record.get("inputs") or {}).values() for e in entries}
        now = {e.rpartition(":")[0]: e for entries in inputs.values() for e in entries}
        for source in sorted(set(then) | set(now)):
            if then.get(source) != now.get(source):
                reasons.append(f"upstream output {source.split('[')[0]} changed")
    return reasons or ["the plan changed (task, mode or search settings)"]


def job_id() -> str | None:
    job = os.environ.get("SLURM_JOB_ID")
    if job and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{os.environ.get('SLURM_ARRAY_JOB_ID', job)}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return job


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_record(
    path: Path,
    *,
    task_id: str,
    key: str,
    inputs: dict[str, list[str]],
    params: Any,
    items: list[tuple[str, str, str]],
    outputs: dict[str, dict[str, Any]],
    started: str,
    wall_s: float,
    ranks: int,
    point: int | None = None,
    reads: list[dict[str, Any]] | None = None,
    runtime: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    record = {
        "format": RECORD_FORMAT,
        "status": "done",
        "task": task_id,
        "point": point,
        "key": key,
        "items": _item_rows(items),
        "params_sha256": sha256_text(canonical(params)),
        "inputs": inputs,
        "reads": reads or [],
        "runtime": runtime,
        "outputs": outputs,
        "started": started,
        "finished": now_iso(),
        "wall_s": round(wall_s, 3),
        "host": socket.gethostname(),
        "job_id": job_id(),
        "ranks": ranks,
        "mfile_version": __version__,
    }
    if extra:
        record.update(extra)
    write_json_atomic(path, record)
    return record


def output_digest(record_path: Path, port: str) -> str | None:
    """The digest an upstream record gives for ``port`` (None when not done)."""
    record = read_record(record_path)
    if record is None:
        return None
    entry = record.get("outputs", {}).get(port)
    return entry.get("sha256") if isinstance(entry, dict) else None
