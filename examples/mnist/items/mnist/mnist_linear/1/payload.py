"""mnist/mnist_linear: the seed's train/predict, as a linear layer on the flattened image.

The shared torch trainable (mfile.itemlib.trainable) does the work: an MLP with no hidden
layer is a linear softmax classifier; the seed's parameter names map onto it here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mfile.itemlib import trainable
from mfile.itemlib.params import param


def _params(params: dict[str, Any], ctx: Any) -> dict[str, Any]:
    return {
        "feature": "image", "label": "label", "task": "classification", "hidden": "", "label_type": "uint8",
        "batch_size": param(params, ctx, "batch_size", 128), "epochs": param(params, ctx, "n_epochs", 40),
        "learning_rate": param(params, ctx, "learning_rate", 0.01), "seed": param(params, ctx, "seed", 0),
    }  # fmt: skip


def train(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> tuple[Any, Any]:
    return trainable.train(inputs, _params(params, ctx), ctx, arch="mlp")


def save(model: Any, directory: Path, params: dict[str, Any], ctx: Any) -> None:
    trainable.save(model, directory, params, ctx)


def predict(directory: Path, inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> Any:
    return trainable.predict(directory, inputs, params, ctx)
