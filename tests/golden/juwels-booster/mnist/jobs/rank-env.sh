#!/bin/bash
# mfile 0.1.0: the environment of one rank, run inside every task before the runtime.
# Slurm numbers the ranks; the runtime and torch.distributed read RANK, LOCAL_RANK, WORLD_SIZE.
set -euo pipefail
export RANK="${SLURM_PROCID:-0}"
export LOCAL_RANK="${SLURM_LOCALID:-0}"
export WORLD_SIZE="${SLURM_NTASKS:-1}"
# Apptainer's --cleanenv starts from an empty environment; APPTAINERENV_X becomes X inside.
# Pass on the rank layout, the rendezvous, the GPUs this task sees (CUDA_VISIBLE_DEVICES),
# PMIx for MPI, Slurm's variables (job id, array index), the interconnect's and OpenMP's
# settings a user exported before sbatch, and what the job script names in MFILE_ENV (the
# profile's [env], the task's env, OMP_NUM_THREADS). Outside a container (modules, local)
# the variables are simply inherited; the extra APPTAINERENV_ copies do no harm there.
read -r -a passed <<<"${MFILE_ENV:-}"
for name in $(compgen -e); do
    case "$name" in
        RANK | LOCAL_RANK | WORLD_SIZE | MASTER_ADDR | MASTER_PORT | CUDA_VISIBLE_DEVICES | \
            SLURM_* | PMIX_* | PMI_* | OMPI_* | NCCL_* | GLOO_* | UCX_* | OMP_*)
            export "APPTAINERENV_${name}=${!name}"
            ;;
    esac
done
for name in "${passed[@]}"; do
    export "APPTAINERENV_${name}=${!name-}"
done
exec "$@"
