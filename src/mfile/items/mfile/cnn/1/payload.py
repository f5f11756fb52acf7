"""mfile/cnn: the shared torch trainable (mfile.itemlib.trainable) with a small CNN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mfile.itemlib import trainable


def train(inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> tuple[Any, Any]:
    return trainable.train(inputs, params, ctx, arch="cnn")


def save(model: Any, directory: Path, params: dict[str, Any], ctx: Any) -> None:
    trainable.save(model, directory, params, ctx)


def predict(directory: Path, inputs: dict[str, Any], params: dict[str, Any], ctx: Any) -> Any:
    return trainable.predict(directory, inputs, params, ctx)
