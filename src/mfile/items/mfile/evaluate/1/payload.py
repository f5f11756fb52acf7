"""mfile/evaluate: rmse / mae / accuracy of a trained model's predictions, per label and overall."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib import models
from mfile.itemlib.data import require_columns, sample_dim
from mfile.itemlib.params import ItemError, choice, param, param_list

METRICS = ("rmse", "mae", "accuracy")


def _values(pred: xr.DataArray, truth: xr.DataArray, dim: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    if pred.sizes.get(dim) != truth.sizes.get(dim):
        raise ItemError(f"evaluate: {pred.sizes.get(dim)} predictions of {name!r} for {truth.sizes.get(dim)} samples")
    if dim in pred.coords and dim in truth.coords and not np.array_equal(pred[dim].values, truth[dim].values):
        raise ItemError(f"evaluate: predictions of {name!r} are for other {dim!r} values than the data")
    p = np.asarray(pred.transpose(dim, ...).values)
    y = np.asarray(truth.transpose(dim, ...).values)
    if p.shape != y.shape:
        raise ItemError(f"evaluate: predictions of {name!r} have shape {list(p.shape[1:])}, the data {list(y.shape[1:])}")
    return p, y


def score(metric: str, p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(sum of per-value scores, count) so columns combine into one overall value."""
    if metric == "accuracy":
        return float(np.sum(p == y)), float(p.size)
    err = p.astype(np.float64) - y.astype(np.float64)
    ok = ~np.isnan(err)
    err = err[ok]
    return (float(np.dot(err, err)) if metric == "rmse" else float(np.abs(err).sum())), float(err.size)


def finish(metric: str, total: float, count: float) -> float:
    if count == 0:
        return float("nan")
    return float(np.sqrt(total / count)) if metric == "rmse" else total / count


def apply(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> dict[str, dict[str, float]]:
    data = inputs["data"]
    metric = choice(params, ctx, "metric", METRICS, "rmse")
    dim = sample_dim(data)
    pred = models.predict(inputs["model"], data, ctx)
    labels = param_list(params, ctx, "label") or [str(v) for v in pred.data_vars if v in data.data_vars]
    if not labels:
        raise ItemError(f"evaluate: the model predicts {sorted(map(str, pred.data_vars))}, none of which is in the data "
                        f"({sorted(map(str, data.data_vars))}); set label")  # fmt: skip
    require_columns(data, labels, "evaluate: the data")
    require_columns(pred, labels, "evaluate: the predictions")
    out: dict[str, float] = {}
    total = count = 0.0
    for name in labels:
        p, y = _values(pred[name], data[name], dim, name)
        s, c = score(metric, p, y)
        out[f"{metric}_{name}"] = finish(metric, s, c)
        total, count = total + s, count + c
    out[metric] = finish(metric, total, count)
    baseline = str(param(params, ctx, "baseline", "") or "")
    if baseline:
        if len(labels) != 1:
            raise ItemError(f"evaluate: a baseline compares with one label column, not {labels}")
        require_columns(data, [baseline], "evaluate: baseline")
        b, y = _values(data[baseline], data[labels[0]], dim, baseline)
        out[f"{metric}_baseline"] = finish(metric, *score(metric, b, y))
        if metric != "accuracy" and out[f"{metric}_baseline"] > 0:
            out["skill"] = 1.0 - out[metric] / out[f"{metric}_baseline"]
    ctx.log("evaluate: " + ", ".join(f"{k}={v:.6g}" for k, v in out.items()))
    order = [metric] + sorted(k for k in out if k != metric)
    # A dict on port `metrics`: the runtime writes it as metrics.json (and hands it to a
    # later task as a Dataset of 0-d float64 variables).
    return {"metrics": {k: float(out[k]) for k in order}}
