#!/usr/bin/env bash
# Fetch the real sample data the tests and the climate example use; nothing is downloaded at
# run time by a pipeline. Idempotent: files already present are kept.
#
#   scripts/fetch-sample-data.sh [DEST]      (DEST defaults to data/sample under the repo root)
#
# - ERA5 GRIB (z and t, 10 members x 4 times x 2 levels x 61 x 120) and its NetCDF twin, from the
#   cfgrib *sdist* on PyPI (the wheel does not ship tests/sample-data).
# - iris-sample-data (NetCDF climate fields: A1B_north_america.nc, ...) into the project venv.
#
# Environment: PYTHON (default .venv/bin/python under the repo root).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/data/sample}"
python="${PYTHON:-$root/.venv/bin/python}"
cfgrib_version="0.9.15.1"
files=(era5-levels-members.grib era5-levels-members.nc)

mkdir -p "$dest"
# The fetched files are data, never source: keep them out of git wherever DEST is.
[[ -e "$dest/.gitignore" ]] || printf '*\n' > "$dest/.gitignore"

missing=0
for f in "${files[@]}"; do
    [[ -s "$dest/$f" ]] || missing=1
done

if [[ $missing -eq 1 ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$python" -m pip download --quiet --no-deps --no-binary :all: \
        "cfgrib==$cfgrib_version" -d "$tmp"
    sdist="$tmp/cfgrib-$cfgrib_version.tar.gz"
    members=()
    for f in "${files[@]}"; do
        members+=("cfgrib-$cfgrib_version/tests/sample-data/$f")
    done
    tar -xzf "$sdist" -C "$tmp" "${members[@]}"
    for f in "${files[@]}"; do
        # Copy then rename, so an interrupted fetch never leaves a truncated file behind.
        cp "$tmp/cfgrib-$cfgrib_version/tests/sample-data/$f" "$dest/.$f.part"
        mv "$dest/.$f.part" "$dest/$f"
    done
    echo "fetched ${files[*]} into $dest"
else
    echo "ERA5 sample files already in $dest"
fi

if "$python" -c "import iris_sample_data" 2>/dev/null; then
    echo "iris-sample-data already installed"
else
    "$python" -m pip install --quiet iris-sample-data
    echo "installed iris-sample-data"
fi
"$python" - <<'PY'
import pathlib
import iris_sample_data

nc = pathlib.Path(iris_sample_data.path) / "A1B_north_america.nc"
if not nc.is_file():
    raise SystemExit(f"iris-sample-data is installed but {nc} is missing")
print(f"NetCDF sample: {nc}")
PY
