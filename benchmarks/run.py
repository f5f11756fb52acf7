"""Benchmarks of mfile against Snakemake, Kubeflow Pipelines and submitit (issue 7).

    .venv/bin/python benchmarks/run.py                 # everything (~15 min here)
    .venv/bin/python benchmarks/run.py --quick         # small sizes (CI): guards the goals, leaves docs/ alone
    .venv/bin/python benchmarks/run.py --only planning # one section; the others keep their last results
                                                       # (or, without results here, their text in docs/)

Sections: planning (time vs N), profile (where `mfile compile` spends its time, py-spy),
sweep (sbatch calls for a 1,000-point grid), data (hand-off and data-parallel normalize vs
xarray+dask vs dd), lint (mfile check vs snakemake --lint), goals (check start-up vs
``python -c pass``, parse vs ``ast.parse``, plan.json size, ``mfile run`` cost per task).
The peers live in their own venv, ``benchmarks/.work/peers-venv``, created here on first
use; when it cannot be created their columns say why and mfile's side still runs. Results
accumulate in ``benchmarks/.work/results.json``; every full run rewrites ``docs/benchmarks.md``
and ``docs/benchmarks-planning.png`` from them, with the table of goals (met or missed, the
ratio measured in the same run) and a machine-readable record of the verdicts.

``--quick`` writes ``benchmarks/.work/quick-results.json`` only, never docs/, and exits 1
when a goal that docs/benchmarks.md records as met is missed by more than the tolerance of
``suite/goals.py`` (ratios only: the CI machine is shared and noisy), or a section fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import common, prose, report  # noqa: E402

SECTIONS = ("planning", "profile", "sweep", "data", "lint", "goals")
RESULTS = common.WORK / "results.json"
QUICK_RESULTS = common.WORK / "quick-results.json"


def _section(name: str, peers: common.Peers, quick: bool):  # type: ignore[no-untyped-def]
    from suite import datapath, goals, lint, planning, profile, sweep

    def log(msg: str) -> None:
        print(msg, flush=True)

    runners = {"planning": planning.run, "profile": profile.run, "sweep": sweep.run, "data": datapath.run, "lint": lint.run,
               "goals": goals.run}  # fmt: skip
    return runners[name](peers, quick, log)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="mfile vs Snakemake / KFP / submitit benchmarks")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one or two runs; results to benchmarks/.work only; fails on a regressed goal")  # fmt: skip
    ap.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    ap.add_argument("--no-docs", action="store_true", help="print the table; leave docs/ alone")
    ap.add_argument("--report-only", action="store_true", help="measure nothing: rewrite docs/ from the last results")
    args = ap.parse_args(argv)
    command = "python benchmarks/run.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    t_start = time.perf_counter()
    # A quick run never mixes its numbers into the full run's results nor into docs/.
    results_file = QUICK_RESULTS if args.quick else RESULTS
    if args.quick:
        results = {}
    else:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report_only:
        print(common.byte_compile(), flush=True)
        peers = common.ensure_peers(lambda m: print(m, flush=True))
        if not peers.ok:
            print(f"peers unavailable: {peers.reason}", flush=True)
        results["machine"] = common.machine(peers)
    sections = results.setdefault("sections", {})
    failed = False
    for name in [] if args.report_only else args.only or SECTIONS:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        entry = {"command": command, "quick": args.quick, "date": results["machine"]["date"]}
        try:
            entry["result"] = _section(name, peers, args.quick)
        except Exception as exc:  # one broken section must not hide the others' numbers
            traceback.print_exc()
            entry["error"] = f"{type(exc).__name__}: {exc}"
            failed = True
        entry["wall_s"] = time.perf_counter() - t0
        sections[name] = entry
        common.WORK.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps(results, indent=2, default=str))

    print()
    print(report.terminal(results))
    from suite import goals

    measured = goals.evaluate(results)
    if any(g.id.endswith("-failed") for g in measured):
        failed = True
    if args.quick:
        problems = goals.guard(measured, report.DOC)
        for p in problems:
            print(f"goal regressed: {p}", flush=True)
        if problems:
            failed = True
        else:
            print(f"goals recorded as met in {report.DOC.relative_to(common.REPO)} hold (tolerance {goals.TOLERANCE}×)")
        print(f"wrote {results_file.relative_to(common.REPO)} (docs/ untouched: --quick)")
    elif not args.no_docs:
        if "planning" in sections and "result" in sections["planning"]:
            report.plot(sections["planning"]["result"])
        texts = prose.texts()
        texts["closing"] = prose.closing(results)
        previous = report.DOC.read_text(encoding="utf-8") if report.DOC.exists() else None
        report.DOC.write_text(report.markdown(results, texts, previous), encoding="utf-8")
        print(f"wrote {report.DOC.relative_to(common.REPO)} and {report.PLOT.relative_to(common.REPO)}")
    print(f"total {time.perf_counter() - t_start:.0f} s ({shlex.join(sys.argv)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
