"""A GPU that was asked for is used, or the task fails (runtime/device.py), both ways.

This machine has no GPU (its torch is a CPU build), which is exactly the case the rule is
for: a task with gpus on a JUWELS profile must stop with a clear message and exit 1 before
it reads anything; ``device: cpu`` (or a profile with gpu_required = false) runs it on CPU.
The CUDA side (device and nccl picked, logged) is checked with a stand-in torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "runtime_items"))
from rt_plans import GEN, item, run, task, write_plan  # noqa: E402

from mfile.plan.ir import Resources
from mfile.plan.manifest import ProfileInfo
from mfile.runtime.device import DeviceError, DeviceRequest, pick_backend, pick_device, request_for

BOOSTER = ProfileInfo(name="juwels-booster", container="apptainer", mpi="srun", gpu_required=True,
                      gpu_environment="the CUDA image $PROJECT/mfile/mfile-cuda.sif (environment: apptainer)")


def _gen(**resources):
    return task("gen", item("gen", "dataset"), {"n": 10}, outputs=(("output", GEN),), **resources)


def test_gpu_asked_for_and_no_cuda_fails_with_what_to_use(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p", [_gen(gpus=4)], profile=BOOSTER)
    res = run(plan, "gen")
    assert res.returncode == 1, res.stderr
    assert "asked for 4 GPU(s)" in res.stderr and "mfile-cuda.sif" in res.stderr
    assert "`device: cpu`" in res.stderr and "Traceback" not in res.stderr
    # It stopped before the payload: nothing written, nothing looks done.
    assert not (tmp_path / "p" / "data" / "gen" / "output").exists()
    assert not (tmp_path / "p" / "state" / "gen.json").exists()


def test_device_cpu_runs_a_gpu_task_on_cpu_on_purpose(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p", [_gen(gpus=4, device="cpu")], profile=BOOSTER)
    res = run(plan, "gen")
    assert res.returncode == 0, res.stderr
    assert "device: cpu (`device: cpu` although the task has GPUs)" in res.stderr
    assert (tmp_path / "p" / "state" / "gen.json").is_file()


def test_a_profile_without_the_rule_runs_on_cpu_with_a_warning(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p", [_gen(gpus=1)], profile=ProfileInfo(name="local", gpu_required=False))
    res = run(plan, "gen")
    assert res.returncode == 0, res.stderr
    assert "warning: asked for 1 GPU(s)" in res.stderr and "running on CPU" in res.stderr


def test_cpu_tasks_log_their_device_without_importing_torch(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p", [_gen()], profile=BOOSTER)
    res = run(plan, "gen")
    assert res.returncode == 0, res.stderr
    assert "device: cpu" in res.stderr


class _Cuda:
    def __init__(self, count: int) -> None:
        self.count = count

    def is_available(self) -> bool:
        return self.count > 0

    def device_count(self) -> int:
        return self.count


def _torch(gpus: int, cuda: str | None = "12.4") -> SimpleNamespace:
    return SimpleNamespace(cuda=_Cuda(gpus), version=SimpleNamespace(cuda=cuda), __version__="2.5.1",
                           device=lambda kind, index=None: SimpleNamespace(type=kind, index=index))


def test_each_rank_gets_its_gpu_and_nccl() -> None:
    req = request_for(Resources(gpus=4), BOOSTER)
    assert req == DeviceRequest(4, True, BOOSTER.gpu_environment)
    dev = pick_device("train", req, local_rank=5, log=print, torch=_torch(4))
    assert (dev.type, dev.index) == ("cuda", 1)
    assert pick_backend("train", req, dev, SimpleNamespace(is_nccl_available=lambda: True)) == "nccl"


def test_no_silent_fallback_from_nccl_to_gloo() -> None:
    req = request_for(Resources(gpus=4), BOOSTER)
    dev = pick_device("train", req, 0, print, torch=_torch(4))
    with pytest.raises(DeviceError, match="no nccl backend"):
        pick_backend("train", req, dev, SimpleNamespace(is_nccl_available=lambda: False))
    cpu = SimpleNamespace(type="cpu")
    assert pick_backend("train", request_for(Resources(gpus=0), BOOSTER), cpu, None) == "gloo"


def test_a_cpu_build_of_torch_is_named_as_the_cause() -> None:
    req = request_for(Resources(gpus=1), BOOSTER)
    with pytest.raises(DeviceError, match="built without CUDA"):
        pick_device("train", req, 0, print, torch=_torch(0, cuda=None))
    with pytest.raises(DeviceError, match="sees no CUDA device"):
        pick_device("train", req, 0, print, torch=_torch(0))
