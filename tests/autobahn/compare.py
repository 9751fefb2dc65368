"""Summarises an Autobahn report (index.json) and compares it, case by case,
with an expected-outcomes file; used by tests/autobahn/run and run-client.

    python3 compare.py INDEX_JSON EXPECTED UPDATE(0|1) PEER EXCLUDED_JSON [SCRIPT [CASES_JSON]]
"""
import collections, difflib, json, os, sys

index_path, expected_path, update = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
server_bin, excluded = sys.argv[4], json.loads(sys.argv[5])
script = sys.argv[6] if len(sys.argv) > 6 else "run"
selected = json.loads(sys.argv[7]) if len(sys.argv) > 7 else ["*"]
BAD = ("FAILED", "NON-STRICT")

with open(index_path) as f:
    index = json.load(f)
results = {}
for agent_results in index.values():
    for case, r in agent_results.items():
        results[case] = (r["behavior"], r["behaviorClose"])

def key(case):
    return tuple(int(p) for p in case.split("."))

lines = ["%s %s %s" % (case, *results[case]) for case in sorted(results, key=key)]

print()
width = max(len(o) for pair in results.values() for o in pair)
print("%d cases; outcomes (behavior / behaviorClose):" % len(results))
behavior = collections.Counter(b for b, _ in results.values())
closing = collections.Counter(c for _, c in results.values())
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
for outcome in order + sorted((set(behavior) | set(closing)) - set(order)):
    if behavior[outcome] or closing[outcome]:
        print("  %-*s %4d / %d" % (width, outcome, behavior[outcome], closing[outcome]))

bad = sorted({c for c, pair in results.items() if any(o in BAD for o in pair)}, key=key)
if bad:
    print("\ncases FAILED or NON-STRICT:")
    for case in bad:
        print("  %s %s %s" % (case, *results[case]))

if update:
    with open(expected_path, "w") as f:
        run = " (run: %s)" % ", ".join(selected) if selected != ["*"] else ""
        not_run = " (not run: %s)" % ", ".join(excluded) if excluded else ""
        f.write("# Autobahn outcomes per case against %s: CASE behavior behaviorClose%s%s.\n"
                % (server_bin, run, not_run))
        f.write("# Regenerate with: bash tests/autobahn/%s --update (with the same AUTOBAHN_* settings)\n"
                % script)
        f.write("\n".join(lines) + "\n")
    print("\nwrote %s" % expected_path)
    failed = len(bad)
    print("%d passed, %d failed" % (len(results) - failed, failed))
    sys.exit(1 if failed else 0)

if not os.path.exists(expected_path):
    print("\nno %s: run with --update to create it" % expected_path)
    print("0 passed, %d failed" % len(results))
    sys.exit(1)

with open(expected_path) as f:
    expected_lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
expected = {}
for l in expected_lines:
    case, *outcomes = l.split()
    expected[case] = tuple(outcomes)

differ = {c for c in set(results) | set(expected) if results.get(c) != expected.get(c)}
if differ:
    print("\noutcomes differ from %s:" % expected_path)
    sys.stdout.writelines(difflib.unified_diff(
        [l + "\n" for l in expected_lines], [l + "\n" for l in lines],
        "expected.txt", "this run", n=0))
else:
    print("\noutcomes match %s" % expected_path)
failed = len(differ | set(bad))
print("%d passed, %d failed" % (len(set(results) | set(expected)) - failed, failed))
sys.exit(1 if failed else 0)
