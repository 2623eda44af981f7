#!/usr/bin/env bash
# cargo-mutants over the files whose tests issue 28 asks to bite: the ops
# (forward and backward passes), the losses, the refinement targets and the
# CAM-expansion methods. Each file runs against the test targets that cover
# it; files too large for the time budget of this machine (2 cores, about
# 20 s a mutant) are sampled with --shard 0/N --sharding round-robin
# (every N-th mutant). Writes
# one cargo-mutants output folder per file under OUT and prints a table of
# caught / missed / timed out / unviable per file (the table in
# docs/testing.md).
#
#   tools/mutants.sh [OUT]          # OUT defaults to target/mutants-report
#   ITERATE=1 tools/mutants.sh OUT  # again, only what OUT's run missed
#   ONLY=methods tools/mutants.sh   # only the files whose path matches
#
# With ITERATE=1 each file's run tests again exactly the mutants OUT's
# first run missed (by name, through --re; the source must not have moved
# since), writing OUT/<file>.iterate; the table then counts a mutant by its
# latest outcome. (cargo-mutants' own --iterate would also test every
# mutant the sampling left out.)
# It mutates the tree in place (--in-place), so run it in a worktree you do
# not touch meanwhile (git worktree add /tmp/mutree HEAD), after building
# the test targets once: cargo test --profile mutants --no-run.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/mutants-report}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

ops="--test gradcheck --test nn --test ops"
losses="--test losses --test gradcheck"
refine="--test refine --test random_walk --test losses"
methods="--test method_values --test gradcheck"

# file, sampling (1 = every mutant), test targets
plan=(
    "src/ops/elementwise.rs 2 $ops"
    "src/ops/reduce.rs 1 $ops"
    "src/ops/pool.rs 1 $ops"
    "src/ops/norm.rs 2 $ops"
    "src/ops/loss.rs 1 $ops"
    "src/ops/resize.rs 1 $ops"
    "src/ops/select.rs 1 $ops"
    "src/ops/conv.rs 2 $ops"
    "src/ops/matmul.rs 3 $ops"
    "src/losses/crf_loss.rs 1 $losses"
    "src/losses/point.rs 2 $losses"
    "src/losses/constrained.rs 4 $losses"
    "src/losses/seeded.rs 8 $losses"
    "src/refine/affinity.rs 1 $refine"
    "src/refine/region_growing.rs 2 $refine"
    "src/refine/random_walk.rs 6 $refine"
    "src/refine/crf.rs 8 $refine"
    "src/methods/seam.rs 1 $methods"
    "src/methods/attention.rs 1 $methods"
    "src/methods/mixing.rs 1 $methods"
    "src/methods/mixup.rs 1 $methods"
    "src/methods/fmix.rs 2 $methods"
    "src/methods/manifold.rs 1 $methods"
    "src/methods/has.rs 1 $methods"
    "src/methods/gain.rs 1 $methods"
    "src/methods/ae.rs 1 $methods"
    "src/methods/mod.rs 1 --test methods"
    "src/methods/cosa.rs 6 $methods"
)

for entry in "${plan[@]}"; do
    read -r file every tests <<<"$entry"
    [[ "$file" =~ ${ONLY:-.} ]] || continue
    name=$(echo "$file" | tr '/.' '__')
    select=()
    dest="$out/$name"
    if [ "${ITERATE:-0}" = 1 ]; then
        missed="$out/$name/mutants.out/missed.txt"
        [ -s "$missed" ] || continue
        while IFS= read -r m; do
            select+=(--re "^$(python3 -c 'import re,sys; print(re.escape(sys.argv[1]))' "$m")\$")
        done <"$missed"
        dest="$out/$name.iterate"
    elif [ "$every" -gt 1 ]; then
        select=(--shard "0/$every" --sharding round-robin)
    fi
    echo "== $file (every $every) against: $tests"
    # shellcheck disable=SC2086
    cargo mutants --in-place --profile mutants --baseline skip --timeout 180 \
        -f "$file" "${select[@]}" -o "$dest" -- $tests >"$dest.log" 2>&1 || true
    tail -n 1 "$dest.log"
done

python3 - "$out" <<'PY'
import json, os, sys, collections
out = sys.argv[1]
latest = collections.OrderedDict()
# The first runs, then the .iterate runs over them: the later outcome wins.
for d in sorted(os.listdir(out), key=lambda d: (d.endswith(".iterate"), d)):
    f = os.path.join(out, d, "mutants.out", "outcomes.json")
    if not os.path.exists(f):
        continue
    for o in json.load(open(f))["outcomes"]:
        m = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
        if not m:
            continue
        latest[(m["file"], m["name"])] = o["summary"]
rows = collections.OrderedDict()
for (file, _), summary in latest.items():
    rows.setdefault(file, collections.Counter())[summary] += 1
print("| file | mutants | caught | missed | timed out | unviable |")
print("|---|---|---|---|---|---|")
for file, c in rows.items():
    total = sum(c.values())
    print(f"| {file} | {total} | {c['CaughtMutant']} | {c['MissedMutant']} | {c['Timeout']} | {c['Unviable']} |")
PY
