#!/bin/bash
# mfile 0.1.0: queue pipeline era5 on Slurm, every job at once: each waits
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

# era5: task (stage prepare)
job[era5]="$(submit jobs/era5.sbatch)"
echo "era5: ${job[era5]}"
# normalize: task (stage prepare), after era5
job[normalize]="$(submit --dependency="afterok:${job[era5]}" --kill-on-invalid-dep=yes jobs/normalize.sbatch)"
echo "normalize: ${job[normalize]}"
# train: task (stage train), after normalize
job[train]="$(submit --dependency="afterok:${job[normalize]}" --kill-on-invalid-dep=yes jobs/train.sbatch)"
echo "train: ${job[train]}"
# tune: array of grid points (stage tune), after normalize
job[tune]="$(submit --dependency="afterok:${job[normalize]}" --kill-on-invalid-dep=yes jobs/tune.sbatch)"
echo "tune: ${job[tune]}"
# tune.select: pick the best point (stage tune), after tune
job[tune.select]="$(submit --dependency="afterany:${job[tune]}" --kill-on-invalid-dep=yes jobs/tune.select.sbatch)"
echo "tune.select: ${job[tune.select]}"
# save: task (stage deploy), after tune.select
job[save]="$(submit --dependency="afterok:${job[tune.select]}" --kill-on-invalid-dep=yes jobs/save.sbatch)"
echo "save: ${job[save]}"

# The job ids, for `mfile status`.
{
    printf '{\n  "format": 1,\n  "submitted_by": "submit.sh",\n  "submitted_at": "%s",\n  "jobs": [\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        era5 era5 task "${job[era5]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        normalize normalize task "${job[normalize]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        train train task "${job[train]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        tune tune array "${job[tune]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"},\n' \
        tune.select tune select "${job[tune.select]}"
    printf '    {"name": "%s", "task": "%s", "kind": "%s", "job_id": "%s"}\n' \
        save save task "${job[save]}"
    printf '  ]\n}\n'
} >state/jobs.json
