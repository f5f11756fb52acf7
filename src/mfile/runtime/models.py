"""Payload import and trained-model directories (``ModelHandle``).

A model port is a self-contained directory, so a model trained by one pipeline can be used
by another (or copied to a model store) without the item root it came from:

    MantikHeader     the trained item's header (copied)
    model.json       item ref, kind, header sha256, the training task and its params
    payload.py       the payload (and its sibling *.py modules), copied
    stats.json       the training statistics (when they are a dict)
    ...              whatever the payload's ``save`` wrote (weights, e.g. ``model.pt``)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from mfile.plan.ir import ItemRef

MODEL_JSON = "model.json"


class PayloadImportError(Exception):
    """The payload file is missing or raised while being imported (the author's code)."""


def import_payload(path: Path) -> ModuleType:
    """Import a payload file under a module name unique to its path.

    Two items both called ``payload.py`` must not replace each other in ``sys.modules``;
    the item directory goes first on ``sys.path`` so a payload can import its own helpers.
    """
    path = path.resolve()
    if not path.is_file():
        raise PayloadImportError(f"payload file {path} does not exist")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"mfile_payload_{path.parent.name.replace('-', '_').replace('.', '_')}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PayloadImportError(f"cannot import {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        try:
            sys.path.remove(str(path.parent))
        except ValueError:
            pass
    return module


def verify_item(item: ItemRef) -> None:
    """Refuse an item whose header or payload changed since compile: plan.json records their
    sha256, and code is imported only when its bytes are the ones that were checked. A plan
    without a payload digest (made by hand or by an older mfile) is not checked."""
    if item.payload_sha256 is None:
        return
    directory = Path(item.directory)
    for name, want in (("MantikHeader", item.header_sha256), (item.payload, item.payload_sha256)):
        path = directory / name
        try:
            got = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise PayloadImportError(f"cannot read {path} of item {item.ref} ({exc.strerror or exc})") from None
        if got != want:
            raise PayloadImportError(
                f"{path} of item {item.ref} changed since compile (sha256 {got[:12]}, plan.json has {want[:12]}); "
                "recompile to use the new version"
            )


def import_item_payload(item: ItemRef) -> ModuleType:
    """The item's payload from its resolved directory, after checking it is the compiled one."""
    verify_item(item)
    return import_payload(Path(item.directory) / item.payload)


class ModelHandle:
    """A trained model directory as a payload sees it (``inputs["model"]``, ``deploy(model)``).

    ``item`` is the trained item as plan.json records it: its payload is imported from the
    item's directory (after the digest check), never from a path in the model directory's
    ``model.json``, which is data. Without ``item`` (a model directory opened by hand) the
    directory's own regular ``payload.py`` is used.
    """

    def __init__(self, directory: Path, item: ItemRef | None = None) -> None:
        self.directory = Path(directory)
        self.item = item
        meta = self.directory / MODEL_JSON
        if not meta.is_file():
            raise FileNotFoundError(f"{self.directory} is not a model directory (no {MODEL_JSON})")
        self.info: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.info.get("params", {}))

    @property
    def ref(self) -> str:
        return str(self.info.get("item", ""))

    @property
    def header(self) -> dict[str, Any]:
        path = self.directory / "MantikHeader"
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}

    @property
    def stats(self) -> Any:
        path = self.directory / "stats.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def payload(self) -> ModuleType:
        if self.item is not None:
            return import_item_payload(self.item)
        path = self.directory / "payload.py"
        if path.is_symlink():
            raise PayloadImportError(f"{path} is a symbolic link; a model directory's payload must be a file in it")
        return import_payload(path)

    def predict(self, inputs: Any, params: dict[str, Any] | None = None, ctx: Any = None) -> Any:
        """Run the trained item's ``predict`` on ``inputs`` (a Dataset or a dict of them)."""
        import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

        if isinstance(inputs, xr.Dataset):
            inputs = {"input": inputs}
        merged = {**self.params, **(params or {})}
        return self.payload().predict(self.directory, inputs, merged, ctx)

    def __repr__(self) -> str:
        return f"ModelHandle({str(self.directory)!r}, item={self.ref!r})"


def prepare_model_dir(
    directory: Path,
    *,
    item_dir: Path,
    payload: str,
    ref: str,
    kind: str,
    header_sha256: str,
    task_id: str,
    params: dict[str, Any],
) -> None:
    """Everything of a model directory except the weights (the payload's ``save`` adds those)."""
    directory.mkdir(parents=True, exist_ok=True)
    header = item_dir / "MantikHeader"
    if header.is_file():
        shutil.copy2(header, directory / "MantikHeader")
    for source in sorted(item_dir.glob("*.py")):
        shutil.copy2(source, directory / source.name)
    if not (item_dir / payload).is_file():
        raise PayloadImportError(f"payload file {item_dir / payload} does not exist")
    if payload not in {p.name for p in item_dir.glob("*.py")}:
        shutil.copy2(item_dir / payload, directory / Path(payload).name)
    info = {
        "item": ref,
        "kind": kind,
        "header_sha256": header_sha256,
        "task": task_id,
        "params": params,
        "payload": Path(payload).name,
    }
    (directory / MODEL_JSON).write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
