"""The port store: how a task's outputs lie on disk and how the next task reads them.

A port directory ``data/<task>/<port>/`` holds exactly one of:

* a dataset: ``part-0000.nc`` ... (netCDF4, uncompressed, one file per writing rank, in
  sample order) and ``port.json`` (format, parts, sample dimension). Reading opens all
  parts as one lazy xarray Dataset (dask-chunked along the sample dimension when big).
* a model: ``model.json`` beside the weights (see ``runtime/models.py``).
* a JSON value: ``<port>.json`` (metrics, statistics given as a dict).

Why netCDF4 part files: measured in ``benchmarks/bench_runtime.py`` (docs/data-format.md):
on this disk the runtime's netCDF4 write + read of a 1.5 GB float32 field ran at 108 % of
``numpy.save`` + ``load``, Zarr v3 at 11 % without compression and 4 % with blosc-lz4 or
its default zstd (per-chunk overhead), and per-rank part files need no coordination
between ranks beyond a barrier.

Atomicity: a port is written into ``data/<task>/.<port>.tmp-<tag>/`` and renamed into
place only when complete; ``clean_stale`` removes what a killed run left behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Mapping

PORT_META = "port.json"
FORMAT = "netcdf4-parts"
# Dask chunks of about this many bytes along the sample dimension: big enough that the
# per-chunk overhead vanishes, small enough that a payload can stream a field bigger
# than memory.
CHUNK_BYTES = 128 * 2**20
LAZY_BYTES = 2 * 2**30
SMALL_BYTES = 256 * 2**20


class PortError(Exception):
    """A port directory is missing or not something the runtime wrote."""


# Below this many free bytes a failed write is taken for a full file system: the netCDF C
# library reports ENOSPC as "NetCDF: HDF error", with neither errno nor file name.
NEARLY_FULL_BYTES = 4 * 2**20
_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the file system of ``path`` (or its parent)."""
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


def no_space(exc: BaseException, path: Path) -> str | None:
    """The user's words when ``exc``, raised while writing ``path``, means the disk or quota is full;
    None when it is some other error."""
    code = getattr(exc, "errno", None)
    free = free_bytes(path)
    if code == errno.EDQUOT:
        return (f"disk quota exceeded while writing {path}: free space in your quota (on JUWELS: "
                "`jutil user dataquota`) or move the run directory to a file system with room, then resume")
    if code in _NO_SPACE_ERRNOS or (isinstance(exc, (OSError, RuntimeError)) and free is not None
                                    and free < NEARLY_FULL_BYTES):
        left = f" ({free // 1024} KiB left)" if free is not None else ""
        return (f"no space left on device while writing {path}{left}: free space on that file system "
                "(or move the run directory's data/ to one with room), then resume "
                "(mfile submit --resume, or mfile run again)")
    return None


def part_name(rank: int) -> str:
    return f"part-{rank:04d}.nc"


# --------------------------------------------------------------------------- temp + rename


def temp_dir_for(final: Path, tag: str | None = None) -> Path:
    """A fresh temporary directory beside ``final`` (same filesystem, so rename is atomic)."""
    tag = tag or uuid.uuid4().hex[:12]
    tmp = final.parent / f".{final.name}.tmp-{tag}"
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def commit_dir(tmp: Path, final: Path) -> None:
    """Put ``tmp`` at ``final``, replacing an older ``final`` (a rerun) without a gap that
    looks complete: the old one is moved aside first and deleted after the rename."""
    old = None
    if final.is_symlink() or final.is_file():
        final.unlink()
    elif final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
        final.rename(old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_stale(task_dir: Path) -> list[Path]:
    """Remove temporary and replaced port directories a killed run left in ``task_dir``."""
    removed = []
    if not task_dir.is_dir():
        return removed
    for entry in task_dir.iterdir():
        if entry.name.startswith(".") and (".tmp-" in entry.name or ".old-" in entry.name):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def write_json_atomic(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------- datasets


def sample_dim(ds: Any, fallback: str | None = None) -> str | None:
    """The sample dimension: ``attrs["sample_dim"]``, else ``fallback`` if present, else the first dim."""
    named = ds.attrs.get("sample_dim")
    if named and named in ds.dims:
        return str(named)
    if fallback and fallback in ds.dims:
        return fallback
    for var in ds.data_vars.values():
        if var.dims:
            return str(var.dims[0])
    dims = list(ds.dims)
    return str(dims[0]) if dims else None


def write_part(ds: Any, directory: Path, rank: int) -> Path:
    """Write one rank's part of a dataset port into ``directory`` (the port's temp dir)."""
    encoding = {}
    for name, var in ds.variables.items():
        # No _FillValue on floats: NaN stays NaN, and reading skips a masking pass over the data.
        if var.dtype.kind == "f":
            encoding[name] = {"_FillValue": None}
    path = directory / part_name(rank)
    dim = sample_dim(ds)
    if dim is not None and "sample_dim" not in ds.attrs:
        ds = ds.assign_attrs(sample_dim=dim)
    ds.to_netcdf(path, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def finish_dataset(directory: Path, sample: str | None) -> None:
    parts = sorted(p.name for p in directory.glob("part-*.nc"))
    meta = {"format": FORMAT, "parts": parts, "sample_dim": sample}
    (directory / PORT_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def write_dataset(ds: Any, final: Path) -> None:
    """Single-writer convenience: temp dir, one part, metadata, rename."""
    tmp = temp_dir_for(final)
    try:
        write_part(ds, tmp, 0)
        finish_dataset(tmp, sample_dim(ds))
        commit_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_dataset(directory: Path) -> Any:
    """All parts of a dataset port as one lazy Dataset.

    How lazily is chosen by size, because dask costs ~0.5 s of import and (measured, see
    docs/data-format.md) reads a 1.5 GB field at about half the speed of xarray's own lazy
    arrays: one part up to ``LAZY_BYTES`` opens with xarray's lazy indexing (a slice reads
    only its rows); several parts up to ``SMALL_BYTES`` are read and concatenated; anything
    bigger is dask-chunked along the sample dimension, so a field bigger than memory streams.
    """
    import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

    meta = json.loads((directory / PORT_META).read_text(encoding="utf-8"))
    parts = [directory / p for p in meta["parts"]]
    if not parts:
        raise PortError(f"{directory} holds no part files")
    total = sum(p.stat().st_size for p in parts)
    dim = meta.get("sample_dim")
    if len(parts) == 1 and total <= LAZY_BYTES:
        ds = xr.open_dataset(parts[0], engine="netcdf4")
    elif total <= SMALL_BYTES:
        pieces = [xr.open_dataset(p, engine="netcdf4") for p in parts]
        dim = dim if dim in pieces[0].dims else sample_dim(pieces[0])
        ds = xr.concat(pieces, dim=dim, data_vars="minimal", coords="minimal", compat="override", join="override").load()
        for piece in pieces:
            piece.close()
    else:
        first = xr.open_dataset(parts[0], engine="netcdf4")
        dim = dim if dim in first.dims else sample_dim(first)
        chunks = _chunks_for(first, dim)
        first.close()
        ds = xr.open_mfdataset(
            parts, engine="netcdf4", chunks=chunks, combine="nested", concat_dim=dim,
            data_vars="minimal", coords="minimal", compat="override", join="override",
        )  # fmt: skip
    if dim is not None:
        ds.attrs["sample_dim"] = dim
    return ds


def _chunks_for(ds: Any, dim: str | None) -> dict[str, int]:
    if dim is None or dim not in ds.dims:
        return {}
    row_bytes = sum(
        int(v.dtype.itemsize) * int(v.size // max(v.sizes.get(dim, 1), 1))
        for v in ds.data_vars.values()
        if dim in v.dims
    )
    rows = max(1, CHUNK_BYTES // max(row_bytes, 1))
    return {dim: int(min(rows, ds.sizes[dim])) or 1}


# --------------------------------------------------------------------------- any port


def port_kind(directory: Path) -> str:
    if (directory / PORT_META).is_file():
        return "dataset"
    if (directory / "model.json").is_file():
        return "model"
    if (directory / f"{directory.name}.json").is_file() or list(directory.glob("*.json")):
        return "json"
    raise PortError(f"{directory} is not a port the runtime wrote (no {PORT_META}, model.json or JSON value)")


def read_json_port(directory: Path) -> Any:
    path = directory / f"{directory.name}.json"
    if not path.is_file():
        candidates = sorted(directory.glob("*.json"))
        path = candidates[0]
    return json.loads(path.read_text(encoding="utf-8"))


def write_json_port(value: Mapping[str, Any], final: Path) -> None:
    tmp = temp_dir_for(final)
    try:
        write_json_atomic(tmp / f"{final.name}.json", dict(value))
        commit_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def json_to_dataset(value: Mapping[str, Any]) -> Any:
    """A JSON port seen as data: numbers become 0-d variables, the rest goes to attrs."""
    import numpy as np  # heavy: numpy loads only where numbers are handled
    import xarray as xr  # heavy: xarray loads when data is read, not when the job starts

    data, attrs = {}, {}
    for key, item in value.items():
        arr = np.asarray(item) if isinstance(item, (int, float, list)) and not isinstance(item, bool) else None
        if arr is not None and arr.dtype.kind in "iuf":
            data[key] = (tuple(f"{key}_{i}" for i in range(arr.ndim)), arr)
        else:
            attrs[key] = json.dumps(item)
    return xr.Dataset(data, attrs=attrs)
