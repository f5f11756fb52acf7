"""mfile/mlp and mfile/cnn: accuracy on the real digits, determinism, checkpoint/resume, DDP."""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from test_items_support import digits, frame, item, mpirun, sample, trained_model

from mfile.itemlib import ItemError, local
from mfile.runtime.context import Context

MLP = {"epochs": 20, "batch_size": 32, "hidden": "64", "learning_rate": 0.003, "seed": 0}


def split(ds, seed=0, test=0.25):
    payload, ctx = item("train_test_split", local.Path("."))
    out = payload.apply({"input": ds}, {"test_size": test, "by": "random", "seed": seed}, ctx)
    return out["train"], out["test"]


def test_mlp_learns_digits_above_0_9_held_out(tmp_path):
    train, test = split(digits())
    t0 = time.monotonic()
    model_dir, stats = trained_model("mlp", {"input": train}, MLP, tmp_path)
    took = time.monotonic() - t0
    mlp, ctx = item("mlp", tmp_path)
    pred = mlp.predict(model_dir, {"input": test}, {}, ctx)
    accuracy = float((pred["label"].values == test["label"].values).mean())
    assert accuracy > 0.9, accuracy
    assert pred["label"].dtype == np.int32 and pred["logits"].shape == (len(test["label"]), 10)
    assert list(stats.data_vars) == ["epoch", "loss", "accuracy"] and stats["epoch"].dtype == np.int32
    assert stats["loss"].values[-1] < stats["loss"].values[0] / 5
    assert took < 60, f"training took {took:.1f}s"  # ~2.5 s on an idle 2-core VM
    assert (model_dir / "weights.pt").is_file() and json.loads((model_dir / "net.json").read_text())["classes"] == list(range(10))


def test_training_is_deterministic_for_a_seed(tmp_path):
    train, _ = split(digits())
    small = {**MLP, "epochs": 3}
    mlp, ctx = item("mlp", tmp_path)
    (m1, s1), (m2, s2) = mlp.train({"input": train}, small, ctx), mlp.train({"input": train}, small, ctx)
    (m3, s3) = mlp.train({"input": train}, {**small, "seed": 1}, ctx)
    np.testing.assert_array_equal(s1["loss"].values, s2["loss"].values)
    for a, b in zip(m1.net.state_dict().values(), m2.net.state_dict().values()):
        assert torch.equal(a, b)
    assert not np.array_equal(s1["loss"].values, s3["loss"].values)


@dataclass
class StopAfter(Context):
    """A Context whose SIGUSR1 flag comes up after ``after`` checks (one check per batch)."""

    after: int = 0
    checks: int = 0

    @property
    def stop_requested(self) -> bool:
        self.checks += 1
        return self.checks > self.after


def test_stop_checkpoints_and_the_rerun_resumes_to_the_same_model(tmp_path):
    train, _ = split(digits())
    params = {**MLP, "epochs": 4}
    mlp, plain = item("mlp", tmp_path / "a")
    whole, whole_stats = mlp.train({"input": train}, params, plain)

    header = local.read_header(local.builtin_item_dir("mlp"))
    ckpt = tmp_path / "ckpt"
    stopping = StopAfter(task_id="mlp", header=header, checkpoint_dir=ckpt, after=100)  # mid epoch 3
    partial, _ = mlp.train({"input": train}, params, stopping)
    assert partial.finished is False and (ckpt / "train.pt").is_file()
    resumed_ctx = Context(task_id="mlp", header=header, checkpoint_dir=ckpt)
    resumed, resumed_stats = mlp.train({"input": train}, params, resumed_ctx)
    assert resumed.finished and not (ckpt / "train.pt").exists()
    np.testing.assert_allclose(resumed_stats["loss"].values, whole_stats["loss"].values, rtol=1e-6)
    for a, b in zip(whole.net.state_dict().values(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_cnn_learns_next_step_of_a1b_field_and_beats_its_start(tmp_path):
    load, ctx = item("netcdf", tmp_path)
    ds = load.load({"path": str(sample("A1B_north_america.nc")), "variable": "air_temperature"}, ctx).load()
    norm, _ = item("normalize", tmp_path)
    lag, _ = item("timelag", tmp_path)
    data = lag.apply({"input": norm.apply({"input": ds}, {}, ctx)["output"]}, {"lag": "360D"}, ctx)
    params = {"feature": "air_temperature_lag1", "label": "air_temperature", "epochs": 4, "batch_size": 16, "channels": 8}
    model_dir, stats = trained_model("cnn", {"input": data}, params, tmp_path)
    loss = stats["loss"].values
    assert loss[-1] < loss[0], loss
    cnn, _ = item("cnn", tmp_path)
    pred = cnn.predict(model_dir, {"input": data}, {}, ctx)
    assert pred["air_temperature"].dims == ("time", "latitude", "longitude")
    assert pred["air_temperature"].shape == data["air_temperature"].shape
    np.testing.assert_array_equal(pred["time"].values, data["time"].values)


def test_cnn_classifies_digit_images(tmp_path):
    train, test = split(digits(flat=False))
    params = {"feature": "image", "label": "label", "task": "classification", "epochs": 6, "batch_size": 32,
              "learning_rate": 0.01, "channels": 8}  # fmt: skip
    model_dir, stats = trained_model("cnn", {"input": train}, params, tmp_path)
    assert stats["accuracy"].values[-1] > stats["accuracy"].values[0]
    cnn, ctx = item("cnn", tmp_path)
    pred = cnn.predict(model_dir, {"input": test}, {}, ctx)
    assert float((pred["label"].values == test["label"].values).mean()) > 0.5


def test_bad_training_inputs_fail_with_the_column_named(tmp_path):
    mlp, ctx = item("mlp", tmp_path)
    with pytest.raises(ItemError, match="'pixels'"):
        mlp.train({"input": digits()}, {**MLP, "feature": "pixels"}, ctx)
    nan = frame(image=(("sample", "p"), np.array([[np.nan, 1.0], [0.0, 1.0]], dtype=np.float32)), label=(("sample",), np.array([0, 1])))
    with pytest.raises(ItemError, match="missing values"):
        mlp.train({"input": nan}, MLP, ctx)
    with pytest.raises(ItemError, match="hidden"):
        mlp.train({"input": digits()}, {**MLP, "hidden": "wide"}, ctx)


DDP = textwrap.dedent('''
    import hashlib, sys
    import numpy as np
    from mpi4py import MPI
    from sklearn.datasets import load_digits
    import xarray as xr
    from mfile.itemlib import local

    comm = MPI.COMM_WORLD
    d = load_digits()
    ds = xr.Dataset({"image": (("sample", "p"), (d.images / 16.0).reshape(-1, 64).astype(np.float32)),
                     "label": ("sample", d.target.astype(np.int32))}, attrs={"sample_dim": "sample"})
    mlp_dir = local.builtin_item_dir("mlp")
    ctx = local.context(mlp_dir, task_id="mlp", comm=comm)
    payload = local.load_payload(mlp_dir)
    model, stats = payload.train({"input": ds.isel(sample=slice(0, 1400))}, {"epochs": 8, "batch_size": 64, "seed": 0}, ctx)
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.net.state_dict().values())).hexdigest()
    digests = comm.gather(digest, root=0)
    if comm.Get_rank() == 0:
        import torch
        x = torch.from_numpy(ds["image"].values[1400:])
        acc = float((model.net(x).argmax(1).numpy() == ds["label"].values[1400:]).mean())
        np.savez(sys.argv[1], digests=np.array(digests), acc=acc, loss=stats["loss"].values)
    import torch.distributed as dist
    dist.destroy_process_group()  # the runtime does this after the payload returns
''')


@pytest.mark.mpi
@pytest.mark.slow
def test_mlp_ddp_on_two_gloo_ranks(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP)
    mpirun(2, [str(script), str(tmp_path / "ddp.npz")], timeout=240)
    out = np.load(tmp_path / "ddp.npz")
    assert len(set(out["digests"])) == 1, "DDP ranks ended with different weights"
    assert out["loss"][-1] < out["loss"][0]
    assert float(out["acc"]) > 0.85
