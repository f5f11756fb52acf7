"""Which environment variables a profile's ``[env]`` or a task's ``env`` may set for every rank.

One rule for both sides: the compiler checks a task's ``env`` (E322), codegen a profile's
``[env]``; the job scripts then export them and pass them through Apptainer's --cleanenv.
"""

from __future__ import annotations

import re
from typing import Any

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the generated scripts themselves, by Slurm or by Apptainer; a user's value would
# break the launch.
RESERVED_ENV = frozenset({"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "CUDA_VISIBLE_DEVICES",
                          "SRUN_CPUS_PER_TASK", "MFILE_ENV", "PATH", "HOME", "RUN_DIR"})
RESERVED_ENV_PREFIXES = ("SLURM_", "SRUN_", "PMIX_", "PMI_", "APPTAINER", "SINGULARITY")


def env_name_problem(name: Any) -> str | None:
    """Why ``name`` may not be set through ``env`` (profile or task), or None."""
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        return f"{name!r} is not an environment variable name (letters, digits, _; not starting with a digit)"
    if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES):
        return f"{name} is set by Slurm or by mfile's scripts and cannot be overridden"
    return None
