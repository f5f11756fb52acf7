"""Shared code for item payloads (built-in items and the examples' items); imports ``runtime``
and ``plan``, and nothing imports it but payloads and tests.

Payloads import from here so that each ``payload.py`` stays a thin statement of what the
item does; the heavy modules (torch, xarray) are imported by the submodules that need them,
never by this package's ``__init__``, so a payload that needs only xarray starts fast.

- :mod:`.params`   typed parameters: configure() params over the header's metaVariables
- :mod:`.data`     sample dimension, columns to numpy arrays, time coordinates as seconds
- :mod:`.nets`     the torch networks (MLP, small CNNs)
- :mod:`.training` the training loop: DDP, checkpoint on SIGUSR1 and resume, determinism
- :mod:`.trainable` train/save/predict shared by ``mfile/mlp``, ``mfile/cnn`` and examples
- :mod:`.models`   run a trained model directory's ``predict`` (for ``mfile/evaluate``)
- :mod:`.local`    load a payload and call it outside the runtime (tests, notebooks)
"""

from mfile.itemlib.params import ItemError

__all__ = ["ItemError"]
