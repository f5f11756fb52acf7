"""Copy the real climate data the climate example reads into examples/climate/data/.
Nothing is downloaded here: the files come from packages that scripts/fetch-sample-data.sh
installs or fetches once (CI runs it from scripts/install.sh).

    python examples/climate/prepare_data.py [--out examples/climate/data] [--sample DIR]

- A1B_north_america.nc (iris-sample-data): HadCM3 A1B scenario air_temperature, 240 yearly
  fields 1860-2099 (360-day calendar) of 37 x 49 over North America. The pipeline learns
  next year's field from this year's.
- era5-levels-members.grib (the cfgrib sdist, when fetched): ERA5 z and t, 4 analyses,
  10 members, 2 levels, 61 x 120; the GRIB path of the example.

Files are copied under a temporary name and renamed; files already there and identical are
left alone, so rerunning is cheap.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REQUIRED = "A1B_north_america.nc"
OPTIONAL = ("era5-levels-members.grib",)
HINT = "run scripts/fetch-sample-data.sh first"


def find(name: str, sample_dirs: list[Path]) -> Path | None:
    for root in sample_dirs:
        if (root / name).is_file():
            return root / name
    return None


def sample_dirs(extra: Path | None) -> list[Path]:
    dirs = [extra] if extra else []
    if os.environ.get("MFILE_SAMPLE_DATA"):
        dirs.append(Path(os.environ["MFILE_SAMPLE_DATA"]))
    dirs.append(REPO / "data" / "sample")
    try:
        import iris_sample_data

        dirs.append(Path(iris_sample_data.path))
    except ImportError:
        pass
    return dirs


def copy(source: Path, out_dir: Path) -> str:
    target = out_dir / source.name
    if target.is_file() and filecmp.cmp(source, target, shallow=False):
        return "up to date"
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return "copied"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data", help="directory to fill (default examples/climate/data)")
    parser.add_argument("--sample", type=Path, default=None, help="where fetch-sample-data.sh put its files")
    args = parser.parse_args(argv)
    dirs = sample_dirs(args.sample)
    required = find(REQUIRED, dirs)
    if required is None:
        print(f"error: {REQUIRED} not found (iris-sample-data is not installed): {HINT}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    ignore = args.out / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # copies of packaged data stay out of git
    print(f"{REQUIRED}: {copy(required, args.out)} ({required})")
    for name in OPTIONAL:
        found = find(name, dirs)
        if found is None:
            print(f"{name}: not fetched, skipped ({HINT} for the GRIB path)")
        else:
            print(f"{name}: {copy(found, args.out)} ({found})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
