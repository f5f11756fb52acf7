"""sbatch's option grammar, once: which ``sbatch_extra`` options a task may add to its script.

sbatch reads ``#SBATCH`` lines with getopt_long, which takes any unambiguous prefix of a long
option (``--accou=x`` is ``--account=x``, ``--outp=f`` is ``--output=f``). A denylist of
names is therefore bypassed by abbreviations, and by options nobody thought of (``--export``,
``--container``). Here an option is resolved the way getopt resolves it, against every long
option sbatch knows, and then it must be on ``ALLOWED``: options that only annotate or
schedule the job within what Slurm already lets the user do (docs/security.md, "sbatch
options"). The header check (E327/E328, at ``mfile check``) and codegen (E410/E413) both
classify through :func:`classify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every long option of sbatch: Slurm 22.05 (`sbatch --<letter>` lists them) and the ones later
# releases added (23.02-24.11: tres-per-task, tres-bind, oom-kill-step, segment, ...). An
# option missing here could only make a prefix look unambiguous that sbatch finds ambiguous
# (sbatch then refuses the script), so when in doubt a name is listed.
SBATCH_LONG_OPTIONS: frozenset[str] = frozenset("""
account acctg-freq array batch begin bb bbf burst-buffer chdir cluster cluster-constraint
clusters comment container container-id context contiguous constraint core-spec
cores-per-socket cpu-freq cpus-per-gpu cpus-per-task deadline delay-boot dependency
distribution error exclude exclusive export export-file extra extra-node-info get-user-env
gid gpu-bind gpu-freq gpus gpus-per-node gpus-per-socket gpus-per-task gres gres-flags help
hint hold ignore-pbs input job-name kill-on-invalid-dep licenses mail-type mail-user
mcs-label mem mem-bind mem-per-cpu mem-per-gpu mincpus network nice no-kill no-requeue
nodefile nodelist nodes ntasks ntasks-per-core ntasks-per-gpu ntasks-per-node
ntasks-per-socket ntasks-per-tres oom-kill-step open-mode output overcommit oversubscribe
parsable partition power prefer priority profile propagate qos quiet reboot requeue
reservation resv-ports segment signal sockets-per-node spread-job switches tasks-per-node
test-only thread-spec threads-per-core time time-min tmp tres-bind tres-per-task uid usage
use-min-nodes verbose version wait wait-all-nodes wckey wrap x11
""".split())

SHORT_OPTIONS: dict[str, str] = {
    "a": "array", "A": "account", "b": "begin", "B": "extra-node-info", "c": "cpus-per-task",
    "C": "constraint", "d": "dependency", "D": "chdir", "e": "error", "F": "nodefile",
    "G": "gpus", "h": "help", "H": "hold", "i": "input", "J": "job-name", "k": "no-kill",
    "L": "licenses", "m": "distribution", "M": "clusters", "n": "ntasks", "N": "nodes",
    "o": "output", "O": "overcommit", "p": "partition", "q": "qos", "Q": "quiet",
    "s": "oversubscribe", "S": "core-spec", "t": "time", "v": "verbose", "V": "version",
    "W": "wait", "w": "nodelist", "x": "exclude",
}  # fmt: skip

# What a task may add, and why it is harmless: none of these names a file, an account, an
# environment, code, or a resource that mfile computes and checks against the profile.
ALLOWED: dict[str, str] = {
    "mail-type": "notification only",
    "mail-user": "notification only",
    "comment": "free text stored with the job",
    "constraint": "node features; the node count and charge stay mfile's",
    "prefer": "soft node features",
    "qos": "Slurm checks that the account may use the QOS",
    "reservation": "Slurm checks that the user may use the reservation",
    "begin": "only delays the start",
    "deadline": "only cancels a job that cannot end in time",
    "nice": "only lowers the priority (raising it needs an administrator)",
    "exclude": "avoids nodes; never adds any",
    "licenses": "site licenses the job waits for",
    "wckey": "an accounting label",
}

# Refused with a reason. Options that mfile sets name the resource field to use instead.
RESERVED: dict[str, str] = {
    "job-name": "the task id",
    "account": "the profile or $BUDGET_ACCOUNTS",
    "partition": "partition",
    "time": "time", "time-min": "time",
    "nodes": "nodes",
    "ntasks": "tasks", "ntasks-per-node": "tasks and nodes", "tasks-per-node": "tasks and nodes",
    "cpus-per-task": "cpus_per_task",
    "gres": "gpus", "gpus": "gpus", "gpus-per-node": "gpus", "gpus-per-task": "gpus",
    "mem": "memory", "mem-per-cpu": "memory", "mem-per-gpu": "memory",
    "output": "the run directory's logs/", "error": "the run directory's logs/",
    "signal": "checkpointing of trainables", "requeue": "requeue", "no-requeue": "requeue",
    "open-mode": "requeue (logs are appended)",
    "array": "the hyperparameter search",
    "dependency": "the pipeline's edges", "kill-on-invalid-dep": "the pipeline's edges",
    "chdir": "the run directory",
    "parsable": "mfile submit", "wrap": "the generated script",
}  # fmt: skip

_OPTION = re.compile(r"--([A-Za-z0-9][A-Za-z0-9_-]*)(?:=([A-Za-z0-9_.,:=@%/+-]+))?")
_SHORT = re.compile(r"-([A-Za-z])")


@dataclass(frozen=True)
class Verdict:
    """What sbatch would make of one ``sbatch_extra`` entry, and whether mfile lets it through.

    ``problem``: None (allowed), "malformed" (not ``--name[=plain-value]``), "ambiguous" (a
    prefix of several options: ``candidates``), "unknown" (no sbatch option), "reserved" (mfile
    sets it: ``reason`` names the resource field), "refused" (not on the allowlist).
    ``name`` is the full option name getopt resolves to, when there is one.
    """

    option: str
    problem: str | None
    name: str | None = None
    reason: str = ""
    candidates: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def reads(self) -> str:
        """`` (sbatch reads it as --full-name)`` when what was written abbreviates it, else ""."""
        written = self.option.split("=", 1)[0].lstrip("-")
        return f" (sbatch reads it as --{self.name})" if self.name and written != self.name else ""


def resolve_long(word: str) -> tuple[str | None, tuple[str, ...]]:
    """getopt_long's match: an exact name wins, else the one option ``word`` is a prefix of.
    Returns (full name, ()) or (None, the candidates) — no candidates: not an option."""
    if word in SBATCH_LONG_OPTIONS:
        return word, ()
    matches = tuple(sorted(name for name in SBATCH_LONG_OPTIONS if name.startswith(word)))
    if len(matches) == 1:
        return matches[0], ()
    return None, matches


def _judge(option: str, name: str) -> Verdict:
    if name in ALLOWED:
        return Verdict(option, None, name)
    if name in RESERVED:
        return Verdict(option, "reserved", name, f"mfile sets it from {RESERVED[name]}")
    return Verdict(option, "refused", name, "it is not on mfile's allowlist of sbatch options")


def classify(option: str) -> Verdict:
    short = _SHORT.match(option) if isinstance(option, str) and not option.startswith("--") else None
    if short is not None:
        name = SHORT_OPTIONS.get(short.group(1))
        if name is None:
            return Verdict(option, "unknown", reason=f"sbatch has no option -{short.group(1)}")
        return _judge(option, name)
    m = _OPTION.fullmatch(option) if isinstance(option, str) else None
    if m is None:
        return Verdict(option, "malformed", reason="write --name or --name=value (letters, digits and _ . , : = @ % / + -)")
    name, candidates = resolve_long(m.group(1))
    if name is None and candidates:
        return Verdict(option, "ambiguous", candidates=candidates,
                       reason="sbatch reads it as an abbreviation of " + ", ".join("--" + c for c in candidates))
    if name is None:
        return Verdict(option, "unknown", reason=f"sbatch has no option --{m.group(1)}")
    return _judge(option, name)


def allowed_list() -> str:
    return ", ".join("--" + name for name in sorted(ALLOWED))
