"""Slurm's warning (USR1) that comes after the task's outcome is decided (issue 14): the
runtime ignores it, so a late warning cannot turn a finished task into a job that died of
SIGUSR1 (exit 138: seen on the local cluster when the warning came while the interpreter shut
down, where Python puts handled signals back to their default action, terminate)."""

from __future__ import annotations

import signal
import subprocess
import sys

LATE = """
import os, signal, sys, time
from mfile.runtime.context import ignore_late_signal, install_signal_handler
install_signal_handler()
{ignore}
class Late:
    def __del__(self):  # runs while the interpreter finalizes, after handlers were reset
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.2)
sys.modules["late"] = Late()  # module objects are torn down late in finalization
print("done", flush=True)
"""


def run(ignore: bool) -> subprocess.CompletedProcess[str]:
    code = LATE.replace("{ignore}", "ignore_late_signal()" if ignore else "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_warning_during_shutdown_kills_a_process_that_still_handles_it() -> None:
    proc = run(ignore=False)
    assert proc.stdout == "done\n"
    assert proc.returncode == -signal.SIGUSR1, (proc.returncode, proc.stderr)  # what the fix prevents


def test_the_runtime_ignores_a_warning_once_the_outcome_is_decided() -> None:
    proc = run(ignore=True)
    assert proc.stdout == "done\n" and proc.returncode == 0, (proc.returncode, proc.stderr)
