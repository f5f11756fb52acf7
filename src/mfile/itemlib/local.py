"""Call an item's payload outside the runtime: tests, notebooks, ``mfile/evaluate``.

``load_payload`` imports ``payload.py`` from an item (or model) directory under a module
name of its own, so two items' payloads never shadow each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from mfile.runtime.context import Context
from mfile.runtime.models import import_payload

BUILTIN_ITEMS = Path(__file__).resolve().parent.parent / "items"


def sample_file(name: str) -> Path | None:
    """A file fetched by ``scripts/fetch-sample-data.sh`` (``$MFILE_SAMPLE_DATA``, else
    ``data/sample`` of the source checkout), or an ``iris-sample-data`` file; None if absent."""
    roots = [Path(os.environ["MFILE_SAMPLE_DATA"])] if os.environ.get("MFILE_SAMPLE_DATA") else []
    roots.append(Path(__file__).resolve().parents[3] / "data" / "sample")
    try:
        import iris_sample_data  # optional, heavy: only when the sample files are asked for

        roots.append(Path(iris_sample_data.path))
    except ImportError:
        pass
    for root in roots:
        if (root / name).is_file():
            return root / name
    return None


def builtin_item_dir(name: str, version: str = "1") -> Path:
    """Directory of a built-in item: ``builtin_item_dir("netcdf")`` -> ``items/mfile/netcdf/1``."""
    return BUILTIN_ITEMS / "mfile" / name / version


def load_payload(directory: Path | str, filename: str = "payload.py") -> ModuleType:
    """The item's payload module, imported as the runtime imports it (one module per file)."""
    return import_payload(Path(directory) / filename)


def read_header(directory: Path | str) -> dict[str, Any]:
    return yaml.safe_load((Path(directory) / "MantikHeader").read_text(encoding="utf-8")) or {}


def context(item_dir: Path | str, task_id: str = "local", work_dir: Path | str = ".", comm: Any = None) -> Any:
    """A runtime ``Context`` for calling a payload by hand (rank and size from ``comm`` if given)."""
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    work = Path(work_dir)
    return Context(
        task_id=task_id, rank=rank, size=size, comm=comm if size > 1 else None,
        work_dir=work, checkpoint_dir=work / ".checkpoint", header=read_header(item_dir), item_dir=Path(item_dir),
    )  # fmt: skip
