#!/bin/bash
# mfile 0.1.0: queue pipeline mnist on Slurm, every job at once: each waits
# (afterok) for the jobs whose outputs it reads, and is cancelled if one of them fails
# (--kill-on-invalid-dep=yes), so nothing needs to stay logged in. A search's select waits for
# its grid points to end however they ended (afterany) and picks the best that succeeded.
# `mfile submit` does the same with retries, --resume and --stage; this script is for when
# mfile is not at hand.
set -euo pipefail

RUN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$RUN_DIR"
mkdir -p logs state

# sbatch --parsable prints "jobid" or "jobid;cluster".
submit() {
    local out
    out="$(sbatch --parsable --chdir="$RUN_DIR" "$@")"
    echo "${out%%;*}"
}

declare -A job

# digits: task (stage prepare)
job[digits]="$(submit jobs/digits.sbatch)"
echo "digits: ${job[digits]}"
# split: task (stage prepare), after digits
job[split]="$(submit --dependency="afterok:${job[digits]}" --kill-on-invalid-dep=yes jobs/split.sbatch)"
echo "split: ${job[split]}"
# train: task (stage train), after split
job[train]="$(submit --dependency="afterok:${job[split]}" --kill-on-invalid-dep=yes jobs/train.sbatch)"
echo "train: ${job[train]}"
# evaluate: task (stage train), after split, train
job[evaluate]="$(submit --dependency="afterok:${job[split]}:${job[train]}" --kill-on-invalid-dep=yes jobs/evaluate.sbatch)"
echo "evaluate: ${job[evaluate]}"
# save: task (stage deploy), after train
job[save]="$(submit --dependency="afterok:${job[train]}" --kill-on-invalid-dep=yes jobs/save.sbatch)"
echo "save: ${job[save]}"

# The job ids, for `mfile status`.
{
    printf '{\n  "format": 1,\n  "submitted_by": "submit.sh",\n  "submitted_at": "%s",\n  "jobs": [\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        digits digits task "${job[digits]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        split split task "${job[split]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        train train task "${job[train]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        evaluate evaluate task "${job[evaluate]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"}\n' \
        save save task "${job[save]}"
    printf '  ]\n}\n'
} >state/jobs.json
