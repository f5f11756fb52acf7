"""Site profiles: TOML files that describe a Slurm site, loaded into frozen pydantic models.

A profile is data, not code (like snakemake's partition limits): the partitions with what one
node has, the defaults, the account, how to start a container and MPI ranks, and the site's
limits. ``load_profile("juwels-booster")`` reads the shipped ``profiles/juwels-booster.toml``;
a path loads a user's own file. Every check against a profile lives in ``resources.py``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from mfile.plan.environment import env_name_problem
from mfile.plan.frozen import Frozen
from mfile.plan.manifest import ProfileInfo
from mfile.plan.units import parse_time

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that reach a script unquoted (module names, srun/apptainer flags) must be plain words.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


class ProfileError(Exception):
    """An unknown profile name or a bad profile file (the CLI turns it into exit 2)."""


class Partition(Frozen):
    """What one node of a partition has, and the partition's limits."""

    cores_per_node: int = Field(gt=0)
    threads_per_core: int = Field(default=1, gt=0)
    gpus_per_node: int = Field(default=0, ge=0)
    memory_per_node_mb: int = Field(gt=0)
    max_time: str  # Slurm time format; checked with plan.units.parse_time
    default_time: str | None = None
    max_nodes: int = Field(gt=0)
    description: str = ""
    # The Apptainer image of this partition's tasks (a CUDA image for GPU partitions); None:
    # the profile's [container] image.
    image: str | None = None

    @property
    def cpus_per_node(self) -> int:
        """Slurm's CPUs per node: hardware threads when SMT is on."""
        return self.cores_per_node * self.threads_per_core


class Container(Frozen):
    """How a job step starts the runtime image (``environment = "apptainer"``)."""

    command: tuple[str, ...] = ("apptainer", "exec")
    flags: tuple[str, ...] = ("--cleanenv",)
    gpu_flags: tuple[str, ...] = ("--nv",)
    # Names of environment variables whose directories are bound when they are set at run time.
    bind_env: tuple[str, ...] = ()
    image: str | None = None  # default image; "$VAR/..." is expanded by the job's shell
    # Where a task's `container` may point (prefixes, "$VAR/..." compared as written), besides
    # its own item directory and `image`; None: anywhere (docs/security.md, "shared file systems").
    image_roots: tuple[str, ...] | None = None
    python: str = "python"  # the interpreter inside the image

    @field_validator("bind_env")
    @classmethod
    def _env_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"bind_env entry {name!r} is not an environment variable name")
        return names


class Modules(Frozen):
    """The site's module stack plus a venv on top (``environment = "modules"``, no container)."""

    load: tuple[str, ...] = ()  # `module load` words, in order (a Stages release first on JSC)
    venv: str | None = None  # the venv's directory; tasks run its bin/python ("$VAR/..." allowed)

    @field_validator("load")
    @classmethod
    def _plain_modules(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not _PLAIN_WORD.fullmatch(name):
                raise ValueError(f"module {name!r} contains characters that need quoting")
        return names


class Mpi(Frozen):
    """How several ranks are started: ``srun`` with these arguments, or not at all."""

    launcher: Literal["srun", "mpirun", "none"] = "srun"
    args: tuple[str, ...] = ()


class Profile(Frozen):
    name: str
    description: str = ""
    partitions: dict[str, Partition]
    cpu_partition: str
    gpu_partition: str | None = None
    account: str | None = None
    # Environment variable that holds the account (JSC: `jutil env activate -p P` sets it).
    account_env: str | None = "BUDGET_ACCOUNTS"
    account_required: bool = True
    # How tasks get their software, unless a task says otherwise (resources `environment`):
    # "apptainer" ([container]), "modules" ([modules]), "none" (the compiler's Python; local).
    environment: Literal["apptainer", "modules", "none"] = "none"
    container: Container = Field(default_factory=Container)
    modules: Modules = Field(default_factory=Modules)
    mpi: Mpi = Field(default_factory=Mpi)
    # Variables every rank of every task gets (interconnect settings); a task's `env` adds to them.
    env: dict[str, str] = Field(default_factory=dict)
    # A task with gpus whose torch sees no CUDA device fails (False: it runs on CPU, for a
    # test cluster without GPUs).
    gpu_required: bool = True
    max_array_size: int = Field(default=1001, gt=1)  # Slurm's MaxArraySize: indices < this
    submit_limit: int = Field(default=1000, gt=0)  # jobs one submission may queue (arrays count per element)
    array_throttle: int = Field(default=8, gt=0)  # default %T of a search's array
    interconnect_suffix: str = ""
    # Nodes are given to one job whole (JSC): budgets are charged for every core of a node.
    exclusive_nodes: bool = False
    default_time: str = "01:00:00"
    default_cpus_per_task: int = Field(default=1, gt=0)
    requeue_trainables: bool = True  # trainables checkpoint on USR1, so they may be requeued
    signal_seconds: int = Field(default=120, gt=0)
    select_time: str = "00:15:00"  # the job that picks a search's best point
    python: str | None = None  # environment "none": None means the Python that ran the compiler
    sha256: str = ""  # of the TOML text, filled by load_profile

    @field_validator("env", mode="before")
    @classmethod
    def _env_table(cls, table: object) -> object:
        if not isinstance(table, dict):
            return table
        out = {}
        for name, value in table.items():
            why = env_name_problem(name)
            if why:
                raise ValueError(why)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"env.{name} must be a string or a number")
            if re.search(r"[\x00-\x1f\x7f]", str(value)):
                raise ValueError(f"env.{name} contains control characters")
            out[name] = str(value)
        return dict(sorted(out.items()))

    @field_validator("partitions")
    @classmethod
    def _plain_partitions(cls, partitions: dict[str, Partition]) -> dict[str, Partition]:
        for name in partitions:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"partition name {name!r} is not a Slurm partition name")
        return partitions

    @field_validator("interconnect_suffix")
    @classmethod
    def _plain_suffix(cls, suffix: str) -> str:
        if suffix and not re.fullmatch(r"[A-Za-z0-9.-]+", suffix):
            raise ValueError(f"interconnect_suffix {suffix!r} is not a host-name fragment")
        return suffix

    @model_validator(mode="after")
    def _defaults_exist(self) -> "Profile":
        for key in ("cpu_partition", "gpu_partition"):
            value = getattr(self, key)
            if value is not None and value not in self.partitions:
                raise ValueError(f"{key} {value!r} is not one of the partitions {sorted(self.partitions)}")
        if self.gpu_partition and self.partitions[self.gpu_partition].gpus_per_node == 0:
            raise ValueError(f"gpu_partition {self.gpu_partition!r} has no GPUs")
        if self.account_env is not None and not _ENV_NAME.fullmatch(self.account_env):
            raise ValueError(f"account_env {self.account_env!r} is not an environment variable name")
        for word in self.mpi.args + self.container.command + self.container.flags + self.container.gpu_flags:
            if not _PLAIN_WORD.fullmatch(word):
                raise ValueError(f"{word!r} contains characters that need quoting")
        return self

    def image_for(self, partition: str) -> str | None:
        part = self.partitions.get(partition)
        return (part.image if part is not None else None) or self.container.image

    def gpu_environment(self) -> str:
        """What a GPU task needs, in words, for the runtime's error when CUDA is missing."""
        ways = []
        images = sorted({image for name, p in self.partitions.items() if p.gpus_per_node and (image := self.image_for(name))})
        if images:
            ways.append("the CUDA image " + " or ".join(images) + " (environment: apptainer; build it from containers/mfile-cuda.def)")
        if self.modules.venv:
            ways.append(f"the module stack `module load {' '.join(self.modules.load)}` with the venv {self.modules.venv} (environment: modules)")
        return "; or ".join(ways) or "a Python whose torch is built with CUDA"

    def info(self) -> ProfileInfo:
        mpi = self.mpi.launcher
        return ProfileInfo(
            name=self.name,
            container=self.environment,
            mpi=mpi,
            interconnect_suffix=self.interconnect_suffix,
            gpu_required=self.gpu_required,
            gpu_environment=self.gpu_environment(),
        )


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a TOML file by path. Raises ProfileError."""
    path = Path(name_or_path)
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path
    if not looks_like_path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name_or_path) or not (PROFILE_DIR / f"{name_or_path}.toml").is_file():
            raise ProfileError(
                f"unknown profile {name_or_path!r}; shipped: {', '.join(shipped_profiles())} "
                "(or pass the path of a .toml file)"
            )
        path = PROFILE_DIR / f"{name_or_path}.toml"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read profile {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"profile {str(path)!r} is not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    data["sha256"] = hashlib.sha256(raw).hexdigest()
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'profile'}: {err['msg']}" for err in exc.errors()
        )
        raise ProfileError(f"profile {str(path)!r} is invalid: {problems}") from None
    for pname, part in profile.partitions.items():
        for field in ("max_time", "default_time"):
            value = getattr(part, field)
            if value is not None and parse_time(value) is None:
                raise ProfileError(f"profile {str(path)!r}: partitions.{pname}.{field} {value!r} is not a Slurm time")
    for field in ("default_time", "select_time"):
        if parse_time(getattr(profile, field)) is None:
            raise ProfileError(f"profile {str(path)!r}: {field} is not a Slurm time")
    return profile
