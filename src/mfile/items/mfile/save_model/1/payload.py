"""mfile/save_model: copy a trained model into <store>/<name>/<version> and index it."""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from mfile.itemlib.models import model_directory
from mfile.itemlib.params import ItemError, param

INDEX = "index.json"


def _run_dir(ctx: Any) -> Path:
    start = Path(getattr(ctx, "work_dir", ".")).resolve()
    for candidate in (start, *start.parents):
        if (candidate / "plan.json").is_file():
            return candidate
    return Path.cwd()


def _digest(directory: Path) -> tuple[str, list[str]]:
    h = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(directory)).encode() + b"\0")
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest(), [str(p.relative_to(directory)) for p in files]


def _model_name(source: Path) -> str:
    import yaml

    header = source / "MantikHeader"
    if header.is_file():
        loaded = yaml.safe_load(header.read_text(encoding="utf-8")) or {}
        if loaded.get("name"):
            return str(loaded["name"])
    return source.name


def deploy(model: Any, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    source = model_directory(model)
    if not source.is_dir():
        raise ItemError(f"save_model: {source} is not a model directory")
    store = Path(str(param(params, ctx, "store", "") or "") or _run_dir(ctx) / "models")
    name = str(param(params, ctx, "name", "") or "") or _model_name(source)
    version = str(param(params, ctx, "version", "") or "")
    for what, value in (("name", name), ("version", version)):
        if value and not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", value) or ".." in value:
            raise ItemError(f"save_model: {what} {value!r} may use letters, digits, '_', '.', '-' (and '/' in name)")
    now = _dt.datetime.now(_dt.timezone.utc)
    store.mkdir(parents=True, exist_ok=True)
    with open(store / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if version:
            target = store / name / version
            if target.exists():
                raise ItemError(f"save_model: {target} exists; stored models are never overwritten (choose another version)")
        else:
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            version, n = stamp, 1
            while (store / name / version).exists():
                n += 1
                version = f"{stamp}-{n}"
            target = store / name / version
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        os.replace(tmp, target)
        sha, files = _digest(target)
        record = {"name": name, "version": version, "path": str(target), "source": str(source),
                  "stored_at": now.isoformat(timespec="seconds"), "sha256": sha, "files": files}  # fmt: skip
        index_path = store / INDEX
        index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else []
        index.append(record)
        tmp_index = index_path.with_name(f".{INDEX}.tmp-{os.getpid()}")
        tmp_index.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_index, index_path)
    ctx.log(f"save_model: stored {name}:{version} in {target}")
    return record
