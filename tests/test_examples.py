"""Both shipped examples, end to end through the CLI as a user runs them (`mfile run`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MFILE = [sys.executable, "-m", "mfile.cli"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MFILE, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_examples_lint_clean() -> None:
    result = run("check", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mnist_trains_above_0_9_and_predicts(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "examples/mnist/prepare_data.py"], cwd=ROOT, check=True, capture_output=True)
    result = run("run", "examples/mnist/mnist.mfile", "--pipeline", "batch_pipeline", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "batch_pipeline/data/hyperparameter_search/metrics/metrics.json").read_text())
    assert metrics["metric"] == "accuracy" and metrics["failed"] == 0
    assert len(metrics["points"]) == 3
    assert metrics["best"]["value"] > 0.9
    assert f"best accuracy = {metrics['best']['value']:.4g}" in result.stderr  # printed at the end
    assert (tmp_path / "batch_pipeline/data/hyperparameter_search/best_model").resolve().is_dir()
    # every task left its completion record
    assert {p.stem for p in (tmp_path / "batch_pipeline/state").glob("*.json")} >= {
        "get_data", "pre_process", "split", "hyperparameter_search", "deploy",
    }  # fmt: skip

    # the inference pipeline reads the model saved by the batch pipeline
    result = run("run", "examples/mnist/mnist.mfile", "--pipeline", "predict_pipeline", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    import xarray as xr

    parts = sorted((tmp_path / "predict_pipeline/data/predict/output").glob("*.nc"))
    predicted = xr.open_mfdataset(parts)["label"].values
    truth = xr.open_dataset(ROOT / "examples/mnist/data/digits.nc")["label"].values
    assert (predicted == truth).mean() > 0.9

    # a second run finds every task up to date and redoes nothing
    again = run("run", "examples/mnist/mnist.mfile", "--pipeline", "batch_pipeline", "-o", str(tmp_path))
    assert again.returncode == 0
    assert "0 done" in again.stderr and "0 failed" in again.stderr


@pytest.mark.slow
def test_climate_forecast_runs_and_scores_against_persistence(tmp_path: Path) -> None:
    prepared = subprocess.run(
        [sys.executable, "examples/climate/prepare_data.py"], cwd=ROOT, capture_output=True, text=True
    )
    if prepared.returncode != 0:
        pytest.skip(f"climate sample data not available: {prepared.stderr.strip()[-300:]}")
    result = run("run", "examples/climate/climate.mfile", "--pipeline", "forecast", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "forecast/data/skill/metrics/metrics.json").read_text())
    assert set(metrics) >= {"rmse", "rmse_baseline", "skill"}
    assert 0 < metrics["rmse"] < 1 and 0 < metrics["rmse_baseline"] < 1
    assert "2 ranks" in result.stderr  # normalize ran data-parallel
