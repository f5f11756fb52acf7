"""The torch networks of the built-in trainables, built from a JSON-able ``spec``.

The spec is saved next to the weights (``net.json``) so ``predict`` rebuilds the same
network from the model directory alone, without the training params.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    """Flattened features -> hidden layers (ReLU) -> outputs (class logits or regression values)."""

    def __init__(self, in_features: int, hidden: list[int], out_features: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class FieldCNN(nn.Module):
    """Gridded field(s) [C, H, W] -> field(s) [K, H, W] of the same size (next step, downscaled
    residual, ...). Fully convolutional, so it trains on a region and predicts on any other.
    The first input channel is added back (residual): a field predicts its own next step as
    "persistence plus a learned change", which trains much faster than the absolute field."""

    def __init__(self, in_channels: int, out_channels: int, channels: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual and out_channels == 1
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y + x[:, :1] if self.residual else y


class ClassCNN(nn.Module):
    """Small images [C, H, W] -> class logits (two conv blocks, global average pooling)."""

    def __init__(self, in_channels: int, classes: int, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * channels, classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build(spec: dict[str, Any]) -> nn.Module:
    arch = spec["arch"]
    if arch == "mlp":
        return MLP(int(spec["in_features"]), [int(h) for h in spec["hidden"]], int(spec["out_features"]))
    if arch == "cnn" and spec["task"] == "classification":
        return ClassCNN(int(spec["in_channels"]), len(spec["classes"]), int(spec["channels"]))
    if arch == "cnn":
        return FieldCNN(int(spec["in_channels"]), int(spec["out_channels"]), int(spec["channels"]), bool(spec.get("residual", True)))
    raise ValueError(f"unknown network {arch!r}")
