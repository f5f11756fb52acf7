"""Helpers for the attack tests (tests/test_security_*.py): hostile strings, running the CLI in
a subprocess, M-File string literals, and shims that stand in for Slurm and Apptainer so the
generated scripts really run under bash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASE_ITEMS = REPO / "tests" / "cases" / "items"
SEC_ITEMS = REPO / "tests" / "fixtures" / "security_items"


def hostile(marker: Path) -> list[str]:
    """Strings that would run ``touch MARKER`` (or worse) if any shell ever evaluated them."""
    m = str(marker)
    return [
        f"$(touch {m})",
        f"`touch {m}`",
        f"; touch {m}",
        f"' ; touch {m} ; '",
        f'" ; touch {m} ; "',
        f"\ntouch {m}\n",
        f"a\x00b; touch {m}",
        f"${{IFS}}touch${{IFS}}{m}",
        f"| touch {m}",
        f"&& touch {m} #",
        "--output=/etc/passwd",
        "-rf",
        "\u202e\u0301 é 🙂 \u200b",
        "%x-%j-%A \\ \\n {0} {name}",
        "\r\n#SBATCH --wrap=id",
        "../../../../etc/passwd",
    ]


def mfile_string(text: str) -> str:
    """A double-quoted M-File literal that evaluates to ``text`` exactly (every non-printable
    and non-ASCII character escaped, so the M-File itself stays plain ASCII)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def run_mfile(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mfile.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


SBATCH_SHIM = r"""#!/bin/bash
# sbatch --parsable --chdir=DIR [--dependency=...] [--kill-on-invalid-dep=yes] SCRIPT:
# run SCRIPT synchronously in DIR with bash, print a job id (afterok: ids of finished jobs).
chdir=.
while [[ $# -gt 1 ]]; do
    case "$1" in --chdir=*) chdir="${1#--chdir=}" ;; esac
    shift
done
n=$(( $(cat "$SHIM_STATE/count" 2>/dev/null || echo 100) + 1 ))
echo "$n" >"$SHIM_STATE/count"
( cd "$chdir" && SLURM_JOB_ID=$n bash "$1" ) >>"$SHIM_STATE/jobs.log" 2>&1 || { echo "job $1 failed" >&2; exit 1; }
echo "$n"
"""

APPTAINER_SHIM = r"""#!/bin/bash
# apptainer exec [--flags] [--bind PATH]... IMAGE CMD...: record every argument (NUL-separated,
# so newlines in paths survive), then run CMD without a container.
printf '%s\0' "$@" >"$SHIM_STATE/apptainer.args"
shift
while [[ $# -gt 0 ]]; do
    case "$1" in --bind) shift 2 ;; --*) shift ;; *) break ;; esac
done
shift
exec "$@"
"""

SRUN_SHIM = r"""#!/bin/bash
# srun [--options] CMD...: the job step, one rank (these tests run one-rank tasks), in place.
printf '%s\0' "$@" >"$SHIM_STATE/srun.args"
while [[ "$1" == --* ]]; do shift; done
SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_STEP_ID=0 exec "$@"
"""

MODULE_SHIM = """#!/bin/bash
printf '%s\\0' "$@" >>"$SHIM_STATE/module.args"
"""


def install_shims(bin_dir: Path, state: Path, python: str | None = None) -> dict[str, str]:
    """Shims on PATH for sbatch, srun, apptainer, module (and python, for images whose Python is
    ``python``); returns the environment to run scripts with."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    shims = {"sbatch": SBATCH_SHIM, "srun": SRUN_SHIM, "apptainer": APPTAINER_SHIM, "module": MODULE_SHIM,
             "python": f'#!/bin/bash\nexec {python or sys.executable} "$@"\n'}
    for name, body in shims.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SHIM_STATE": str(state)}
