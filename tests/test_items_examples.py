"""The examples' data preparation and items, chained the way their M-Files chain them."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import xarray as xr
from test_items_support import REPO, PYTHON, item, sample, trained_model

from mfile.itemlib import ItemError
from mfile.runtime.models import ModelHandle

MNIST = REPO / "examples" / "mnist"
MNIST_ITEMS = MNIST / "items" / "mnist"


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist") / "data" / "digits.nc"
    proc = subprocess.run([PYTHON, str(MNIST / "prepare_data.py"), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 1797 digits (8x8)" in proc.stdout
    assert (out.parent / ".gitignore").read_text() == "*\n"
    return out


def test_prepared_digits_are_the_sklearn_digits(digits_file):
    from sklearn.datasets import load_digits

    with xr.open_dataset(digits_file) as ds:
        assert ds["image"].dtype == np.float32 and ds["label"].dtype == np.int32
        assert ds["image"].shape == (1797, 8, 8)
        assert float(ds["image"].min()) == 0.0 and float(ds["image"].max()) == 1.0
        np.testing.assert_array_equal(ds["label"].values, load_digits().target)


def test_mnist_chain_digits_split_linear_evaluate_above_0_9(digits_file, tmp_path):
    digits, ctx = item("digits", tmp_path, MNIST_ITEMS / "digits" / "1")
    ds = digits.load({"file": str(digits_file)}, ctx)
    assert ds["image"].shape == (1797, 8, 8) and ds.attrs["sample_dim"] == "sample"
    split, _ = item("train_test_split", tmp_path)
    parts = split.apply({"input": ds}, {"test_size": 0.25, "by": "random", "seed": 0}, ctx)
    linear, lctx = item("mnist_linear", tmp_path, MNIST_ITEMS / "mnist_linear" / "1")
    model, stats = linear.train({"input": parts["train"]}, {"batch_size": 64}, lctx)
    model_dir = tmp_path / "linear"
    linear.save(model, model_dir, {}, lctx)
    for f in ("payload.py", "MantikHeader"):
        (model_dir / f).write_bytes((MNIST_ITEMS / "mnist_linear" / "1" / f).read_bytes())
    evaluate, _ = item("evaluate", tmp_path)
    metrics = evaluate.apply({"model": model_dir, "data": parts["test"]}, {"metric": "accuracy"}, ctx)["metrics"]
    assert metrics["accuracy"] > 0.9, metrics
    pred = linear.predict(model_dir, {"input": parts["test"]}, {}, lctx)
    assert pred["label"].dtype == np.uint8 and pred["logits"].shape[1:] == (10,)


def test_mnist_preprocessor_feeds_the_builtin_mlp(digits_file, tmp_path):
    digits, ctx = item("digits", tmp_path, MNIST_ITEMS / "digits" / "1")
    pre, _ = item("pre-processor", tmp_path, MNIST_ITEMS / "pre-processor" / "1")
    flat = pre.apply({"input": digits.load({"file": str(digits_file)}, ctx)}, {}, ctx)
    assert flat["image"].dims == ("sample", "pixel") and flat["image"].shape == (1797, 64)
    with xr.open_dataset(digits_file) as raw:
        np.testing.assert_array_equal(flat["image"].values, raw["image"].values.reshape(1797, 64))
    with pytest.raises(ItemError, match="not 60 pixels"):
        pre.apply({"input": digits.load({"file": str(digits_file)}, ctx)}, {"pixels": 60}, ctx)
    with pytest.raises(ItemError, match="configured for"):
        digits.load({"file": str(digits_file), "height": 28, "width": 28}, ctx)


def test_climate_prepare_and_chain_to_an_rmse_against_persistence(tmp_path):
    sample("A1B_north_america.nc")
    out = tmp_path / "data"
    proc = subprocess.run([PYTHON, str(REPO / "examples" / "climate" / "prepare_data.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (out / "A1B_north_america.nc").is_file() and (out / ".gitignore").is_file()
    again = subprocess.run([PYTHON, str(REPO / "examples" / "climate" / "prepare_data.py"), "--out", str(out)],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "up to date" in again.stdout

    load, ctx = item("netcdf", tmp_path)
    ds = load.load({"path": str(out / "A1B_north_america.nc"), "variable": "air_temperature"}, ctx)
    norm, _ = item("normalize", tmp_path)
    lag, _ = item("timelag", tmp_path)
    split, _ = item("train_test_split", tmp_path)
    data = lag.apply({"input": norm.apply({"input": ds}, {}, ctx)["output"]}, {"lag": "360D"}, ctx)
    parts = split.apply({"input": data}, {"test_size": 0.2, "by": "time"}, ctx)
    params = {"feature": "air_temperature_lag1", "label": "air_temperature", "epochs": 3, "channels": 8, "batch_size": 16}
    model_dir, _ = trained_model("cnn", {"input": parts["train"]}, params, tmp_path)
    evaluate, _ = item("evaluate", tmp_path)
    metrics = evaluate.apply({"model": ModelHandle(model_dir), "data": parts["test"]},
                             {"metric": "rmse", "baseline": "air_temperature_lag1"}, ctx)["metrics"]  # fmt: skip
    assert set(metrics) == {"rmse", "rmse_air_temperature", "rmse_baseline", "skill"}
    assert 0 < metrics["rmse"] < 2 * metrics["rmse_baseline"], metrics
