#!/bin/bash
# mfile 0.1.0: the environment of one rank, run inside every task before the runtime.
# Slurm numbers the ranks; the runtime and torch.distributed read RANK, LOCAL_RANK, WORLD_SIZE.
set -euo pipefail
export RANK="${SLURM_PROCID:-0}"
export LOCAL_RANK="${SLURM_LOCALID:-0}"
export WORLD_SIZE="${SLURM_NTASKS:-1}"
# Apptainer's --cleanenv starts from an empty environment; APPTAINERENV_X becomes X inside.
# Pass on the rank layout, the rendezvous, the GPUs this task sees (CUDA_VISIBLE_DEVICES),
# PMIx for MPI, and Slurm's variables (job id, array index).
for name in $(compgen -e); do
    case "$name" in
        RANK | LOCAL_RANK | WORLD_SIZE | MASTER_ADDR | MASTER_PORT | CUDA_VISIBLE_DEVICES | \
            SLURM_* | PMIX_* | PMI_* | OMPI_*)
            export "APPTAINERENV_${name}=${!name}"
            ;;
    esac
done
exec "$@"
