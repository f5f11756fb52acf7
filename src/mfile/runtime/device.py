"""Which torch device and torch.distributed backend a task uses: a GPU that was asked for is
used, or the task fails before it touches any data.

A task that asks for GPUs (``gpus > 0`` in its resolved resources) and does not say
``device: cpu`` must find a CUDA device in torch, and with several ranks the nccl backend;
otherwise it stops with :class:`DeviceError`, whose message names the image or modules to use
(the profile's ``gpu_environment``). Only a profile with ``gpu_required = false`` (the local
test cluster) lets such a task fall back to the CPU, and it says so in the log. The device
and backend are logged when the task starts.

torch is imported only for tasks that ask for GPUs (or when a payload asks for ``ctx.device``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # context.py imports this module before the SIGUSR1 handler is in place: stay light
    from mfile.plan.ir import Resources
    from mfile.plan.manifest import ProfileInfo


class DeviceError(Exception):
    """The GPUs a task asked for are not usable here: the message says what to run it with."""


@dataclass(frozen=True)
class DeviceRequest:
    gpus: int = 0  # per node, as allocated by Slurm; 0 = CPU
    required: bool = False  # no CUDA device -> DeviceError (else CPU, with a warning)
    hint: str = ""  # what provides CUDA at this site (the profile's gpu_environment)
    on_purpose_cpu: bool = False  # `device: cpu`: GPUs allocated (or asked for) but not used


def request_for(resources: Resources, profile: ProfileInfo) -> DeviceRequest:
    """The device rule of a task, from its resolved resources (a search's: its steps share the
    allocation) and the profile the plan was compiled for."""
    gpus = resources.gpus or 0
    if resources.device == "cpu":
        return DeviceRequest(0, False, profile.gpu_environment, on_purpose_cpu=gpus > 0)
    return DeviceRequest(gpus, profile.gpu_required and gpus > 0, profile.gpu_environment)


def _no_gpu(task: str, req: DeviceRequest, why: str) -> DeviceError:
    return DeviceError(
        f"task {task!r} asked for {req.gpus} GPU(s), but {why}. The GPUs would idle while the task "
        f"runs on CPU, so it stops here. Run it with {req.hint or 'a torch built with CUDA'}; "
        "or set `device: cpu` in its resources to run it on CPU on purpose"
    )


def pick_device(task: str, req: DeviceRequest, local_rank: int, log: Callable[[str], None], torch: Any = None) -> Any:
    """``torch.device`` for this rank: its GPU (``local_rank`` modulo the GPUs it sees), or CPU."""
    if torch is None:
        try:
            import torch  # heavy: only tasks that ask for GPUs (or for ctx.device) load it
        except ImportError:
            if req.required:
                raise _no_gpu(task, req, "torch cannot be imported in this environment") from None
            raise
    if req.gpus == 0:
        return torch.device("cpu")
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        built = getattr(torch.version, "cuda", None)
        why = (f"torch {torch.__version__} sees no CUDA device (CUDA_VISIBLE_DEVICES="
               f"{_visible()!r}; the job step has no GPU, or the container was started without --nv)"
               if built else f"torch {torch.__version__} is built without CUDA (a CPU-only build)")
        if req.required:
            raise _no_gpu(task, req, why)
        log(f"warning: asked for {req.gpus} GPU(s), but {why}: running on CPU (the profile allows it)")
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def pick_backend(task: str, req: DeviceRequest, device: Any, dist: Any) -> str:
    """nccl for GPUs (no silent fallback to gloo when a GPU was asked for), gloo for CPUs."""
    if device.type != "cuda":
        return "gloo"
    if not dist.is_nccl_available():
        if req.required:
            raise _no_gpu(task, req, "this torch has no nccl backend for torch.distributed (it would fall back to gloo)")
        return "gloo"
    return "nccl"


def describe(device: Any, torch: Any = None) -> str:
    """``cuda:0 (NVIDIA A100-SXM4-40GB), torch 2.5.1+cu124, CUDA 12.4`` or ``cpu, torch 2.5.1``."""
    if torch is None:
        import torch  # heavy: only when a device is described, i.e. torch is loaded already
    text = str(device)
    if device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    text += f", torch {torch.__version__}"
    if getattr(torch.version, "cuda", None):
        text += f", CUDA {torch.version.cuda}"
    return text


def _visible() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def announce(ctx: Any) -> None:
    """At task start: a task with GPUs picks its device now (failing fast, before any data is
    read) and logs it, with the torch.distributed backend when it has several ranks."""
    req = ctx.device_request
    if req.gpus == 0:
        ctx.log("device: cpu" + (" (`device: cpu` although the task has GPUs)" if req.on_purpose_cpu else ""))
        return
    device = ctx.device
    text = f"device: {describe(device)}"
    if ctx.size > 1:
        import torch.distributed as dist  # heavy: a GPU task with several ranks, torch is loaded already

        text += f"; torch.distributed backend: {pick_backend(ctx.task_id, req, device, dist)}"
    ctx.log(text)
