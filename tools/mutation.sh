#!/usr/bin/env bash
# Mutation testing of the pure core with mutmut: how many deliberate bugs do the unit tests miss?
#
# Test-only and slow: NOT part of CI (tools/test-all.sh). mutmut lives in its own venv
# (cached under ~/.cache/librbd_probe), and each module is mutated in a scratch copy of the
# working tree, so the checkout is never touched.
#
# Usage: tools/mutation.sh [MODULE:TESTS[:FUNCTIONS] ...]
#   MODULE     a file under librbd_probe/ (e.g. librbd_probe/locate.py)
#   TESTS      comma-separated test files run against each mutant
#   FUNCTIONS  optional comma-separated function names: only their mutants are counted
#              (live.py: plan/judge and the messages are pure, run_live needs a cluster)
# Without arguments: the default list below.  Environment: JOBS (mutmut --max-children,
# default 1: the machine is shared), LIBRBD_PROBE_MUTMUT_VENV, KEEP=1 keeps the scratch copies.
#
# Output: one line per module: mutants, killed, survived, no tests (a mutant no selected test
# even runs), timeouts, and "surviving" = (survived + no tests) / mutants.  Timeouts count as
# killed (the mutant made the tests hang: they noticed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MUTMUT_VERSION=3.8.1
VENV=${LIBRBD_PROBE_MUTMUT_VENV:-$HOME/.cache/librbd_probe/mutmut-venv}
JOBS=${JOBS:-1}
if [ ! -x "$VENV/bin/mutmut" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "mutmut==$MUTMUT_VERSION" pytest jsonschema
fi

DEFAULT=(
    "librbd_probe/locate.py:tests/test_locate.py,tests/test_rootfs.py,tests/test_scan.py"
    "librbd_probe/rootfs.py:tests/test_rootfs.py"
    "librbd_probe/config.py:tests/test_config.py"
    "librbd_probe/krbd.py:tests/test_krbd.py"
    "librbd_probe/live.py:tests/test_live_plan.py:plan,judge,expectation,_versions,_value,connection_message,live_problems,codename_order,_bits"
    "librbd_probe/identify.py:tests/test_identify.py"
    "librbd_probe/matrix.py:tests/test_matrix.py"
    "librbd_probe/knowledge/__init__.py:tests/test_knowledge.py"
)
[ $# -gt 0 ] && SPECS=("$@") || SPECS=("${DEFAULT[@]}")

printf "%-34s %7s %7s %8s %8s %8s %10s\n" module mutants killed survived "no tests" timeout surviving
for spec in "${SPECS[@]}"; do
    IFS=: read -r module tests functions <<<"$spec"
    [ -f "$module" ] || { echo "$module: no such file" >&2; exit 2; }
    work=$(mktemp -d /tmp/librbd-probe-mutation.XXXXXX)
    # the working tree as it is (tracked files, uncommitted edits included)
    git ls-files -z | tar --null -T - -cf - 2>/dev/null | tar -x -C "$work"
    selection=""
    for t in ${tests//,/ }; do
        [ -f "$t" ] || { echo "$t: no such test file" >&2; exit 2; }
        selection+="    $t"$'\n'
    done
    cat >"$work/setup.cfg" <<EOF
[mutmut]
source_paths=librbd_probe/
only_mutate=$module
also_copy=tests/
pytest_add_cli_args=-p no:cacheprovider -q -x
pytest_add_cli_args_test_selection=
$selection
EOF
    log="$work/mutmut.log"
    (cd "$work" && CI= nice "$VENV/bin/mutmut" run --max-children "$JOBS" >"$log" 2>&1) || true
    (cd "$work" && "$VENV/bin/mutmut" results --all true 2>/dev/null) >"$work/results.txt" || true
    # lines "    librbd_probe.locate.x_search_order__mutmut_3: killed"
    python3 - "$module" "$functions" "$work/results.txt" <<'PY'
import re, sys
module, functions, path = sys.argv[1], sys.argv[2], sys.argv[3]
wanted = {f for f in functions.split(",") if f}
counts = {"killed": 0, "survived": 0, "no tests": 0, "timeout": 0, "other": 0}
for line in open(path, encoding="utf-8", errors="replace"):
    m = re.match(r"\s*(\S+)__mutmut_\d+: (.+)$", line)
    if not m:
        continue
    name, status = m.group(1), m.group(2).strip()
    func = re.split(r"\.x_|ǁ", name, maxsplit=1)[-1].split("ǁ")[0]
    if wanted and func not in wanted:
        continue
    if status in counts:
        counts[status] += 1
    elif status.startswith("timeout"):
        counts["timeout"] += 1
    else:
        counts["other"] += 1
total = sum(counts.values())
missed = counts["survived"] + counts["no tests"]
pct = 100.0 * missed / total if total else float("nan")
print("%-34s %7d %7d %8d %8d %8d %9.1f%%" % (module, total, counts["killed"], counts["survived"],
                                             counts["no tests"], counts["timeout"], pct))
PY
    if [ "${KEEP:-0}" = 1 ]; then echo "  (kept $work)"; else rm -rf "$work"; fi
done
