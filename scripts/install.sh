#!/usr/bin/env bash
# Everything a fresh Debian 12 machine with Python 3.11 needs to develop and test mfile:
#   - Debian packages: Slurm (slurmctld, slurmd, client), munge, Open MPI, shellcheck, venv support,
#     iproute2 (the network namespaces of the two-node test cluster)
#   - a virtual environment at .venv with mfile installed editable (runtime, test, bench extras)
#   - the sample data the tests read (scripts/fetch-sample-data.sh)
# Idempotent: a second run only checks. Starting the local Slurm is scripts/local-slurm.sh's job.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

APT_PACKAGES=(munge slurmctld slurmd slurm-client openmpi-bin libopenmpi-dev shellcheck python3-venv iproute2)
# The torch CPU wheel is pinned and installed first: an unpinned torch (from the runtime extra)
# would pull the multi-GB CUDA build.
TORCH="torch==2.13.0"

step() { printf '==> %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    step "apt-get install ${missing[*]}"
    sudo=()
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "install.sh: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    # No systemd on CI machines and policy-rc.d refuses service starts: nothing starts here.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    step "python3 -m venv .venv"
    python3 -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

if ! .venv/bin/python -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.13.0"))' 2>/dev/null; then
    step "pip install $TORCH"
    "${pip[@]}" "$TORCH"
fi

step "pip install -e '.[runtime,test,bench]'"
"${pip[@]}" -e '.[runtime,test,bench]'

if [[ -f scripts/fetch-sample-data.sh ]]; then
    step "scripts/fetch-sample-data.sh"
    bash scripts/fetch-sample-data.sh
fi

step "installed: $(.venv/bin/python -c 'import mfile, torch; print("mfile", mfile.__version__, "torch", torch.__version__)')"
