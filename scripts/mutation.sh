#!/usr/bin/env bash
# Mutation testing (mutmut; configuration in pyproject.toml [tool.mutmut], notes in docs/mutation.md).
#
#   scripts/mutation.sh            every mutant of the configured modules (nightly; about half an
#                                  hour on 2 cores), then the score per module
#   scripts/mutation.sh --sample   the CI sample: the mutants of SAMPLE below (a few hundred, a few
#                                  minutes); .ci/run calls it after the tests
#   scripts/mutation.sh --report   only print the scores of the last run
#
# Fails (exit 1) when the score (killed / checked) of what ran is below THRESHOLD percent.
# Environment: MUTATION_JOBS (parallel mutants, default 2), MUTATION_THRESHOLD (default 90),
# PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
JOBS="${MUTATION_JOBS:-2}"
THRESHOLD="${MUTATION_THRESHOLD:-90}"

# The CI sample: functions whose wrong answer is silent, one or more per module.
SAMPLE=(
    "mfile.plan.types.x_cast_kind__mutmut_*"
    "mfile.compiler.typecheck.x_check_split__mutmut_*"
    "mfile.compiler.typecheck.x_timelag_output__mutmut_*"
    "mfile.codegen.jobs.x_array_chunks__mutmut_*"
    "mfile.codegen.jobs.x_plan_jobs__mutmut_*"
    "mfile.plan.state.x_tasks_to_run__mutmut_*"
    "mfile.plan.state.x__to_redo__mutmut_*"
    "mfile.plan.state.x_is_done__mutmut_*"
    "mfile.runtime.records.x__key_changes__mutmut_*"
    "mfile.commands.submit.x__submit_jobs__mutmut_*"
)

mode=full
case "${1:-}" in
    "") ;;
    --sample) mode=sample ;;
    --report) mode=report ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "usage: scripts/mutation.sh [--sample|--report]" >&2; exit 2 ;;
esac

MUTMUT="$(dirname "$PYTHON")/mutmut"
if [[ ! -x "$MUTMUT" ]]; then
    echo "mutation: $MUTMUT not found: install the test extra (pip install -e '.[test]')" >&2
    exit 1
fi

# mutmut copies the project into mutants/ and imports mfile from mutants/src. That directory must
# exist before Python starts, or the path is cached as absent and the editable install of mfile
# (the unmutated source) wins: every mutant would then "survive" for want of tests.
mkdir -p mutants/src
export PYTHONPATH="$ROOT/mutants/src${PYTHONPATH:+:$PYTHONPATH}"

t0=$SECONDS
if [[ $mode == full ]]; then
    "$MUTMUT" run --max-children "$JOBS"
elif [[ $mode == sample ]]; then
    "$MUTMUT" run --max-children "$JOBS" "${SAMPLE[@]}"
fi
[[ $mode == report ]] || echo "mutation: mutmut ran for $((SECONDS - t0)) s"

"$MUTMUT" results --all true > mutants/results.txt
patterns=()
[[ $mode == sample ]] && patterns=("${SAMPLE[@]}")
"$PYTHON" - mutants/results.txt "$THRESHOLD" "${patterns[@]}" <<'EOF'
"""Score per module from `mutmut results --all true` lines ("    name: status")."""
import fnmatch
import re
import sys
from collections import Counter, defaultdict

results, threshold, patterns = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
by_module: dict[str, Counter] = defaultdict(Counter)
survivors = []
for line in open(results, encoding="utf-8"):
    name, sep, status = line.strip().rpartition(": ")
    if not sep or (patterns and not any(fnmatch.fnmatch(name, p) for p in patterns)):
        continue
    if status in ("not checked", "skipped", "check was interrupted by user"):
        continue
    found = re.match(r"(.*?)\.x[_\u01c1]", name)  # mfile.plan.types.x_compare__mutmut_3, .xǁClassǁ...
    module = found.group(1) if found else name.rsplit(".", 1)[0]
    verdict = "killed" if status in KILLED else "survived"
    by_module[module][verdict] += 1
    if verdict == "survived":
        survivors.append(f"{name}: {status}")
total = Counter()
print(f"{'module':32} {'killed':>7} {'checked':>8} {'score':>7}")
for module in sorted(by_module):
    c = by_module[module]
    total.update(c)
    n = c["killed"] + c["survived"]
    print(f"{module:32} {c['killed']:7} {n:8} {100 * c['killed'] / n:6.1f}%")
n = total["killed"] + total["survived"]
if n == 0:
    print("mutation: no mutant was checked (is mutants/src on PYTHONPATH before mfile's editable install?)")
    sys.exit(1)
score = 100 * total["killed"] / n
print(f"{'all':32} {total['killed']:7} {n:8} {score:6.1f}%")
if survivors:
    print(f"\n{len(survivors)} survivor(s) (mutmut show NAME; docs/mutation.md says why each is acceptable):")
    print("\n".join("  " + s for s in survivors))
if score < threshold:
    print(f"\nmutation: score {score:.1f}% is below the threshold of {threshold:g}%")
    sys.exit(1)
print(f"\nmutation: score {score:.1f}% (threshold {threshold:g}%)")
EOF
