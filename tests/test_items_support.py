"""Helpers shared by the built-in item tests (imported by tests/test_items_*.py; no tests here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from mfile.itemlib import local

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FETCH_HINT = "run scripts/fetch-sample-data.sh (CI does, via scripts/install.sh)"


def sample(name: str) -> Path:
    """A real sample file, or skip the test saying how to get it."""
    found = local.sample_file(name)
    if found is None:
        pytest.skip(f"sample file {name} is not here: {FETCH_HINT}")
    return found


def xarray_grib() -> Path:
    """The 5 KB GRIB that ships inside the xarray wheel."""
    path = Path(xr.__file__).parent / "tests" / "data" / "example.grib"
    if not path.is_file():
        pytest.skip(f"{path} is not in this xarray install")
    return path


def item(name: str, tmp_path: Path, root: Path | None = None) -> tuple[Any, Any]:
    """(payload module, runtime Context) of a built-in item (or one under ``root``)."""
    directory = root if root is not None else local.builtin_item_dir(name)
    return local.load_payload(directory), local.context(directory, task_id=name, work_dir=tmp_path)


def frame(**columns: Any) -> xr.Dataset:
    ds = xr.Dataset(columns)
    ds.attrs["sample_dim"] = "time" if "time" in ds.dims else "sample"
    return ds


def digits(flat: bool = True) -> xr.Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    image = (("sample", "pixel"), images.reshape(len(images), -1)) if flat else (("sample", "y", "x"), images)
    return frame(image=image, label=("sample", d.target.astype(np.int32)))


def mpirun(n: int, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``mpirun -n N python ARGS`` with the environment a root-run container needs."""
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (Debian: openmpi-bin)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe")  # fmt: skip
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", PYTHON, *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def trained_model(name: str, inputs: dict[str, Any], params: dict[str, Any], tmp_path: Path) -> tuple[Path, Any]:
    """Train a built-in trainable and lay its model directory out as the runtime does.

    Returns (model directory, stats)."""
    payload, ctx = item(name, tmp_path)
    model, stats = payload.train(inputs, params, ctx)
    directory = tmp_path / f"{name}-model"
    item_dir = local.builtin_item_dir(name)
    from mfile.runtime.models import prepare_model_dir

    prepare_model_dir(directory, item_dir=item_dir, payload="payload.py", ref=f"mfile/{name}:1", kind="trainable",
                      header_sha256="test", task_id=name, params=params)  # fmt: skip
    payload.save(model, directory, params, ctx)
    return directory, stats
