"""Run a trained model (a model port directory) on data: what ``mfile/evaluate`` calls.

A model directory (docs/architecture.md) holds the trained item's ``MantikHeader``,
``model.json`` (item ref, params), the item's ``payload.py`` and the weights. The runtime
may hand a ``ModelHandle`` with a ``predict`` method of its own; a plain directory works too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xarray as xr

from mfile.itemlib.local import load_payload
from mfile.itemlib.params import ItemError


def model_directory(model: Any) -> Path:
    for attr in ("directory", "path", "dir"):
        if hasattr(model, attr):
            return Path(getattr(model, attr))
    return Path(model)


def predict(model: Any, data: xr.Dataset, ctx: Any) -> xr.Dataset:
    """The model's predictions for ``data`` (the trained item's ``predict`` on input ``input``)."""
    if hasattr(model, "predict") and callable(model.predict):
        return model.predict({"input": data}, ctx=ctx)
    directory = model_directory(model)
    if not (directory / "payload.py").is_file():
        raise ItemError(f"{directory} is not a trained model directory (no payload.py)")
    params: dict[str, Any] = {}
    model_json = directory / "model.json"
    if model_json.is_file():
        params = dict(json.loads(model_json.read_text(encoding="utf-8")).get("params") or {})
    payload = load_payload(directory)
    if not hasattr(payload, "predict"):
        raise ItemError(f"the payload of {directory} has no predict(directory, inputs, params, ctx)")
    return payload.predict(directory, {"input": data}, params, ctx)
