"""The long fuzz campaign (not run by CI): millions of inputs through check, headers and compile.

    .venv/bin/python fuzz/run_long.py --target program --runs 400000 --out fuzz/results/program
    .venv/bin/python fuzz/run_long.py --target bytes --engine atheris --runs 400000 --out fuzz/results/bytes

Targets:
  program  generated M-Files (fuzz/generate.py) through the whole check; every 20th one that
           checks clean is also compiled (local profile, temporary directory, ``bash -n``)
  bytes    raw bytes through decode + check; with atheris, coverage-guided from the case files
  header   generated MantikHeaders through the header loader
  hbytes   raw bytes as a MantikHeader
  compile  generated M-Files through ``mfile compile`` (every one)

Engines: ``random`` (seeded, reproducible: input i of seed s is ``RandomChooser(s * 10**9 + i)``)
or ``atheris`` (``pip install atheris``; coverage-guided, libFuzzer flags after ``--``).
A finding (an exception, a broken invariant, a slow input) does not stop the campaign: the
input and its traceback go to ``OUT/crashes/<hash>`` (deduplicated by the traceback's last
frames) and counting goes on. ``OUT/stats.json`` holds the counts, updated every 1,000 inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import harness  # noqa: E402


class Campaign:
    def __init__(self, target: str, out: Path) -> None:
        self.target, self.out = target, out
        (out / "crashes").mkdir(parents=True, exist_ok=True)
        self.count = self.findings = self.compiled = self.clean = self.run_dirs = 0
        self.signatures: dict[str, int] = {}
        self.slowest = 0.0
        self.start = time.time()
        self.scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"mfile-fuzz-{os.getpid()}"
        self.scratch.mkdir(parents=True, exist_ok=True)

    def one(self, make_input) -> None:
        self.count += 1
        data = None
        t0 = time.perf_counter()
        try:
            data = make_input()
            self.run(data)
        except Exception as exc:  # a finding: record it and go on
            self.record(data, exc)
        self.slowest = max(self.slowest, time.perf_counter() - t0)
        if self.count % 1000 == 0:
            self.save()

    def run(self, data) -> None:
        if self.target in ("program", "bytes"):
            raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
            reporter = harness.check_bytes(raw)
            if self.target == "program" and not reporter.has_errors:
                self.clean += 1
                if self.clean % 20 == 0:
                    self.compile(data, bash_check=self.clean % 100 == 0)
        elif self.target in ("header", "hbytes"):
            harness.load_header_text(data, self.scratch)
        elif self.target == "compile":
            self.compile(data, bash_check=self.count % 50 == 0)

    def compile(self, text: str, bash_check: bool) -> None:
        import shutil

        work = self.scratch / "compile"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        code, _ = harness.compile_text(text, work, bash_check=bash_check)
        self.compiled += 1
        self.run_dirs += code == 0

    def record(self, data, exc: BaseException) -> None:
        self.findings += 1
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        frames = [f"{f.filename}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)[-3:]]
        signature = hashlib.sha256(f"{type(exc).__name__}|{'|'.join(frames)}".encode()).hexdigest()[:12]
        self.signatures[signature] = self.signatures.get(signature, 0) + 1
        folder = self.out / "crashes" / signature
        if not folder.exists():
            folder.mkdir()
            raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else (data or b"")
            (folder / "input").write_bytes(raw)
            (folder / "traceback.txt").write_text("".join(tb))
        harness.MARKER.unlink(missing_ok=True)

    def save(self) -> None:
        stats = {
            "target": self.target, "inputs": self.count, "findings": self.findings,
            "distinct_findings": len(self.signatures), "signatures": self.signatures,
            "clean_programs": self.clean, "compiled": self.compiled, "run_dirs_written": self.run_dirs,
            "slowest_input_s": round(self.slowest, 3), "elapsed_s": round(time.time() - self.start, 1),
        }
        tmp = self.out / "stats.json.tmp"
        tmp.write_text(json.dumps(stats, indent=2) + "\n")
        os.replace(tmp, self.out / "stats.json")


def _generated(target: str, chooser) -> object:
    if target in ("program", "compile"):
        return generate.program(chooser)
    return generate.header(chooser)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["program", "bytes", "header", "hbytes", "compile"], required=True)
    parser.add_argument("--engine", choices=["random", "atheris"], default="random")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args, rest = parser.parse_known_args()
    campaign = Campaign(args.target, args.out)
    seeds = [p.read_bytes() for p in sorted((harness.REPO / "tests" / "cases").glob("*/*.mfile"))]
    headers = [p.read_bytes() for p in sorted((harness.REPO / "tests" / "headers").glob("*/*.yaml"))]

    if args.engine == "atheris":
        import atheris

        import mfile.compiler.frontend, mfile.compiler.headers.loader, mfile.commands.compile  # noqa: F401,E401

        atheris.instrument_all()  # coverage of everything loaded: the compiler, lark, yaml

        def one_input(data: bytes) -> None:
            if args.target in ("bytes", "hbytes"):
                campaign.one(lambda: data)
            else:
                provider = atheris.FuzzedDataProvider(data)
                campaign.one(lambda: _generated(args.target, generate.ProviderChooser(provider)))
            if campaign.count >= args.runs:
                campaign.save()
                os._exit(0)

        corpus = args.out / "corpus"
        corpus.mkdir(exist_ok=True)
        for i, seed in enumerate(seeds if args.target == "bytes" else headers if args.target == "hbytes" else []):
            (corpus / f"seed{i}").write_bytes(seed)
        atheris.Setup([sys.argv[0], str(corpus), f"-runs={args.runs}", "-timeout=30", *rest], one_input)
        atheris.Fuzz()
        return 0

    for i in range(args.runs):
        chooser = generate.RandomChooser(args.seed * 10**9 + i)
        if args.target == "bytes":
            rng = chooser.rng
            base = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 8)):  # byte-level mutation of a real M-File
                if base and rng.random() < 0.5:
                    pos = rng.randrange(len(base))
                    base[pos] = rng.randrange(256)
                else:
                    base[rng.randrange(len(base) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            campaign.one(lambda: bytes(base))
        elif args.target == "hbytes":
            rng = chooser.rng
            base = bytearray(rng.choice(headers))
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(base) or 1)
                base[pos:pos + 1] = bytes([rng.randrange(256)])
            campaign.one(lambda: bytes(base))
        else:
            campaign.one(lambda: _generated(args.target, chooser))
    campaign.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
