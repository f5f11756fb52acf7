"""mfile/evaluate against numpy, and mfile/save_model's store and index."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_items_support import digits, item, sample, trained_model

from mfile.itemlib import ItemError
from mfile.runtime.models import ModelHandle


@pytest.fixture(scope="module")
def digit_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    data = digits()
    train, test = data.isel(sample=slice(0, 1200)), data.isel(sample=slice(1200, None))
    model_dir, _ = trained_model("mlp", {"input": train}, {"epochs": 5, "batch_size": 64, "seed": 0}, tmp)
    return model_dir, test


def test_accuracy_of_a_classifier_equals_numpy(digit_model, tmp_path):
    model_dir, test = digit_model
    evaluate, ctx = item("evaluate", tmp_path)
    mlp, _ = item("mlp", tmp_path)
    out = evaluate.apply({"model": ModelHandle(model_dir), "data": test}, {"metric": "accuracy"}, ctx)["metrics"]
    pred = mlp.predict(model_dir, {"input": test}, {}, ctx)["label"].values
    want = float(np.mean(pred == test["label"].values))
    assert list(out) == ["accuracy", "accuracy_label"]
    assert out["accuracy"] == out["accuracy_label"] == pytest.approx(want, abs=0)
    # A plain directory works as well as the runtime's ModelHandle.
    again = evaluate.apply({"model": model_dir, "data": test}, {"metric": "accuracy"}, ctx)["metrics"]
    assert again == out


def test_rmse_mae_and_persistence_baseline_on_a1b(tmp_path):
    load, ctx = item("netcdf", tmp_path)
    ds = load.load({"path": str(sample("A1B_north_america.nc")), "variable": "air_temperature"}, ctx).load()
    lag, _ = item("timelag", tmp_path)
    data = lag.apply({"input": ds}, {"lag": "360D"}, ctx)
    params = {"feature": "air_temperature_lag1", "label": "air_temperature", "epochs": 1, "batch_size": 32, "channels": 4}
    model_dir, _ = trained_model("cnn", {"input": data}, params, tmp_path)
    cnn, _ = item("cnn", tmp_path)
    p = cnn.predict(model_dir, {"input": data}, {}, ctx)["air_temperature"].values.astype(np.float64)
    y = data["air_temperature"].values.astype(np.float64)
    b = data["air_temperature_lag1"].values.astype(np.float64)
    evaluate, _ = item("evaluate", tmp_path)
    rmse = evaluate.apply({"model": ModelHandle(model_dir), "data": data}, {"metric": "rmse", "baseline": "air_temperature_lag1"}, ctx)["metrics"]
    assert rmse["rmse"] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)), rel=1e-9)
    assert rmse["rmse_baseline"] == pytest.approx(np.sqrt(np.mean((b - y) ** 2)), rel=1e-9)
    assert rmse["skill"] == pytest.approx(1 - rmse["rmse"] / rmse["rmse_baseline"], rel=1e-12)
    mae = evaluate.apply({"model": model_dir, "data": data}, {"metric": "mae"}, ctx)["metrics"]
    assert mae["mae"] == pytest.approx(np.mean(np.abs(p - y)), rel=1e-9)


def test_evaluate_errors_name_the_problem(digit_model, tmp_path):
    model_dir, test = digit_model
    evaluate, ctx = item("evaluate", tmp_path)
    with pytest.raises(ItemError, match="none of which is in the data"):
        evaluate.apply({"model": model_dir, "data": test.drop_vars("label")}, {"metric": "accuracy"}, ctx)
    with pytest.raises(ItemError, match="must be one of rmse, mae, accuracy"):
        evaluate.apply({"model": model_dir, "data": test}, {"metric": "r2"}, ctx)


def test_save_model_copies_indexes_and_never_overwrites(digit_model, tmp_path):
    model_dir, _ = digit_model
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "plan.json").write_text("{}")
    work = tmp_path / "run" / "data" / "save" / ".work"
    work.mkdir(parents=True)
    save, ctx = item("save_model", work)
    first = save.deploy(ModelHandle(model_dir), {}, ctx)
    second = save.deploy(ModelHandle(model_dir), {}, ctx)
    store = tmp_path / "run" / "models"
    assert first["name"] == "mlp" and first["path"].startswith(str(store / "mlp"))
    assert first["version"] != second["version"] and first["sha256"] == second["sha256"]
    stored = store / "mlp" / first["version"]
    assert sorted(first["files"]) == sorted(p.name for p in stored.iterdir())
    assert (stored / "weights.pt").read_bytes() == (model_dir / "weights.pt").read_bytes()
    index = json.loads((store / "index.json").read_text())
    assert [e["version"] for e in index] == [first["version"], second["version"]]
    named = save.deploy(model_dir, {"store": str(tmp_path / "shelf"), "name": "digits", "version": "v1"}, ctx)
    assert named["path"] == str(tmp_path / "shelf" / "digits" / "v1")
    with pytest.raises(ItemError, match="never overwritten"):
        save.deploy(model_dir, {"store": str(tmp_path / "shelf"), "name": "digits", "version": "v1"}, ctx)
    with pytest.raises(ItemError, match="may use letters"):
        save.deploy(model_dir, {"store": str(tmp_path / "shelf"), "version": "../evil"}, ctx)
