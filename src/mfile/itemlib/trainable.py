"""train / save / predict shared by the torch trainables (``mfile/mlp``, ``mfile/cnn``, examples).

A payload says which network (``arch``) and the rest follows from its params:

- ``feature``: the input column (a tensor column; the MLP flattens it per sample, the CNN
  reads ``[H, W]`` as one channel and ``[C, H, W]`` as C channels);
- ``label``: the target column; ``task`` says how to read it: ``classification`` (any
  integer/string labels, classes are the sorted distinct training labels) or ``regression``
  (float values of any shape; the CNN predicts a field of the label's ``[H, W]``);
- ``batch_size``, ``epochs``, ``learning_rate``, ``seed``; ``hidden`` (MLP, ``"64,32"``),
  ``channels`` (CNN width);
- ``label_type`` (classification): the dtype the predicted label column is written in;
- ``threads``: torch intra-op threads per rank (0 = 1 for small nets, else the cores per rank).

Every rank reads the whole training set (a trainable is not ``parallel: data``; with several
tasks the training loop shares each batch among the ranks itself, see ``training``).

``predict`` writes the column ``<label>`` (and ``logits`` [classes] for classification),
keeping the input's sample coordinate so predictions line up with the data they came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from mfile.itemlib.data import columns_array, require_columns, sample_dim, with_sample_dim
from mfile.itemlib.params import ItemError, choice, param

WEIGHTS = "weights.pt"
SPEC = "net.json"


@dataclass
class TrainedNet:
    net: Any  # torch.nn.Module
    spec: dict[str, Any]
    finished: bool = True


def _features(ds: xr.Dataset, spec: dict[str, Any]) -> np.ndarray:
    x = columns_array(ds, [spec["feature"]], np.float32)
    if spec["arch"] == "mlp":
        return x.reshape(len(x), -1)
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise ItemError(f"cnn: feature {spec['feature']!r} must be [H, W] or [C, H, W] per sample, got {list(x.shape[1:])}")
    return x


def train(inputs: dict[str, xr.Dataset], params: dict[str, Any], ctx: Any, arch: str) -> tuple[TrainedNet, xr.Dataset]:
    from mfile.itemlib import nets, training  # torch: loaded only when a network trains

    ds = inputs["input"]
    feature = str(param(params, ctx, "feature", "image"))
    label = str(param(params, ctx, "label", "label"))
    task = choice(params, ctx, "task", ("classification", "regression"), "classification" if arch == "mlp" else "regression")
    require_columns(ds, [feature, label], f"{arch} training data")
    dim = sample_dim(ds)
    spec: dict[str, Any] = {"arch": arch, "task": task, "feature": feature, "label": label,
                            "feature_shape": list(ds[feature].shape[1:])}
    x = _features(ds, spec)
    raw_y = ds[label].transpose(dim, ...).values
    if np.isnan(x).any():
        raise ItemError(f"feature {feature!r} has missing values (NaN): fill or drop them before training")

    if task == "classification":
        if raw_y.ndim != 1:
            raise ItemError(f"classification label {label!r} must be one value per sample, got shape {list(raw_y.shape[1:])}")
        classes = np.unique(raw_y)
        y = np.searchsorted(classes, raw_y).astype(np.int64)
        spec["classes"] = classes.tolist()
        spec["label_dtype"] = str(param(params, ctx, "label_type", str(raw_y.dtype)))
        out_features = len(classes)
    else:
        y = np.asarray(raw_y, dtype=np.float32)
        if np.isnan(y).any():
            raise ItemError(f"label {label!r} has missing values (NaN): fill or drop them before training")
        spec["label_dims"] = [str(d) for d in ds[label].transpose(dim, ...).dims[1:]]
        spec["label_shape"] = list(y.shape[1:])
        out_features = int(np.prod(y.shape[1:], dtype=np.int64))
        if arch == "mlp":
            y = y.reshape(len(y), -1)
        elif y.ndim == 3:
            y = y[:, None]
        if arch == "cnn" and y.shape[2:] != x.shape[2:]:
            raise ItemError(f"cnn: label {label!r} is {list(y.shape[2:])} per sample but feature {feature!r} is {list(x.shape[2:])}; the CNN predicts a field of the input's size")

    if arch == "mlp":
        hidden_text = str(param(params, ctx, "hidden", "64"))
        try:
            spec["hidden"] = [int(h) for h in hidden_text.split(",") if h.strip()]
        except ValueError:
            raise ItemError(f"parameter 'hidden' must be comma-separated layer widths like '64,32', got {hidden_text!r}") from None
        spec["in_features"], spec["out_features"] = int(x.shape[1]), out_features
    else:
        spec["in_channels"], spec["channels"] = int(x.shape[1]), int(param(params, ctx, "channels", 16))
        spec["out_channels"] = 1 if task == "classification" else int(y.shape[1])

    cfg = training.FitConfig(
        task=task,
        batch_size=int(param(params, ctx, "batch_size", 64)),
        epochs=int(param(params, ctx, "epochs", 10)),
        learning_rate=float(param(params, ctx, "learning_rate", 1e-3)),
        seed=int(param(params, ctx, "seed", 0)),
    )
    if cfg.batch_size < 1 or cfg.epochs < 1 or cfg.learning_rate <= 0:
        raise ItemError(f"batch_size and epochs must be >= 1 and learning_rate > 0, got {cfg}")
    training.seed_everything(cfg.seed)
    net = nets.build(spec)
    fingerprint = hashlib.sha256(json.dumps(
        [spec, training.config_dict(cfg), list(x.shape), float(x.sum(dtype=np.float64)), getattr(ctx, "size", 1)],
        sort_keys=True, default=str).encode()).hexdigest()  # fmt: skip
    ctx.log(f"{arch} {task}: {len(x)} samples, batch {cfg.batch_size}, {cfg.epochs} epochs on {getattr(ctx, 'size', 1)} rank(s)")
    result = training.fit(net, x, y, cfg, ctx, fingerprint, threads=int(param(params, ctx, "threads", 0)))
    spec["training"] = training.config_dict(cfg)
    return TrainedNet(result.net.cpu(), spec, result.finished), stats_dataset(result.stats, task)


def stats_dataset(rows: list[dict[str, float]], task: str) -> xr.Dataset:
    # The sample dim is not called "epoch": a dim of that name would turn the epoch column
    # into a coordinate, and the statType's columns are data variables.
    data = {
        "epoch": ("sample", np.array([r["epoch"] for r in rows], dtype=np.int32)),
        "loss": ("sample", np.array([r["loss"] for r in rows], dtype=np.float32)),
    }
    if task == "classification":
        data["accuracy"] = ("sample", np.array([r["accuracy"] for r in rows], dtype=np.float32))
    return with_sample_dim(xr.Dataset(data), "sample")


def save(model: TrainedNet, directory: Path, params: dict[str, Any], ctx: Any) -> None:
    """Rank 0 writes the state dict (``torch.save``) and the network spec; others write nothing."""
    import torch  # heavy: torch loads only for tasks that train or predict

    if getattr(ctx, "rank", 0) != 0:
        return
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.net.state_dict(), directory / WEIGHTS)
    (directory / SPEC).write_text(json.dumps(model.spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def predict(directory: Path, inputs: dict[str, xr.Dataset], params: dict[str, Any], ctx: Any) -> xr.Dataset:
    import torch  # heavy: only a predicting task loads it

    from mfile.itemlib import nets  # torch, as above

    directory = Path(directory)
    spec = json.loads((directory / SPEC).read_text(encoding="utf-8"))
    net = nets.build(spec)
    net.load_state_dict(torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True))
    net.eval()
    ds = inputs["input"]
    dim = sample_dim(ds)
    x = _features(ds, spec)
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), 1024):
            outs.append(net(torch.from_numpy(np.ascontiguousarray(x[start : start + 1024]))).numpy())
    out = np.concatenate(outs) if outs else np.zeros((0,), np.float32)
    coords = {dim: ds[dim]} if dim in ds.coords else {}
    label = spec["label"]
    if spec["task"] == "classification":
        classes = np.asarray(spec["classes"])
        predicted = classes[out.argmax(axis=1)].astype(spec["label_dtype"])
        result = xr.Dataset({label: ((dim,), predicted), "logits": ((dim, "class"), out.astype(np.float32))}, coords=coords)
    else:
        shape, dims = spec["label_shape"], spec["label_dims"]
        values = out.reshape([len(x), *shape]).astype(np.float32)
        for d in dims:
            if d in ds.coords and ds[d].ndim == 1 and len(ds[d]) == values.shape[1 + dims.index(d)]:
                coords[d] = ds[d]
        result = xr.Dataset({label: ((dim, *dims), values)}, coords=coords)
    return with_sample_dim(result, dim)
