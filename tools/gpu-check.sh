#!/usr/bin/env bash
# The GPU check in one command, for a lent GPU machine: no network, no install.
#   bash tools/gpu-check.sh OUT
# Runs `dnas doctor --json` and the GPU test set (python -m pytest -m gpu) under a wall-time cap and
# writes OUT/gpu-check.json and OUT/gpu-check.md. On a machine without CUDA every GPU check reads
# "not run: no CUDA device" and the script exits 0 in well under a minute.
set -uo pipefail
OUT="${1:?usage: bash tools/gpu-check.sh OUT_DIR}"
CAP="${DNAS_GPU_CHECK_SECONDS:-420}"   # leaves room within an 8-minute device call
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
python -c "import suite, torch, pytest" 2>/dev/null || {
  echo "gpu-check: the environment lacks dnas-suite, torch or pytest: install with 'pip install -e .[test]' before the device call" >&2
  exit 2
}
python -m suite.cli doctor --json > "$OUT/doctor.json"
doctor_rc=$?
start=$(date +%s)
DNAS_GPU_TABLE="$OUT/gpu-throughput.md" timeout "$CAP" python -m pytest -m gpu tests/gpu -q -p no:cacheprovider -rs -s --junitxml "$OUT/gpu-tests.xml" \
  > "$OUT/gpu-tests.log" 2>&1
tests_rc=$?
python - "$OUT" "$doctor_rc" "$tests_rc" "$(( $(date +%s) - start ))" <<'PY'
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path
out, doctor_rc, tests_rc, seconds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
doctor = json.loads((out / "doctor.json").read_text())
cases = []
junit = out / "gpu-tests.xml"
if junit.exists():
    for case in ET.parse(junit).getroot().iter("testcase"):
        skipped, failed = case.find("skipped"), case.find("failure") or case.find("error")
        status = ("not run: " + skipped.get("message", "")) if skipped is not None else \
                 "FAILED: " + failed.get("message", "")[:200] if failed is not None else "passed"
        cases.append({"test": case.get("name"), "status": status, "seconds": float(case.get("time", 0))})
cuda = [c for c in doctor["checks"] if c["name"].startswith(("gpu", "cuda"))]
summary = {"doctor_ok": doctor["ok"], "gpu": [c["value"] for c in cuda], "tests_exit": tests_rc,
           "timed_out": tests_rc == 124, "seconds": seconds, "tests": cases}
(out / "gpu-check.json").write_text(json.dumps(summary, indent=1))
lines = ["# GPU check", "", *(f"- {g}" for g in summary["gpu"]), "",
         f"tests: exit {tests_rc}{' (timed out)' if tests_rc == 124 else ''}, {seconds} s", "",
         "| test | status | s |", "|---|---|---|",
         *(f"| {c['test']} | {c['status'].replace('|', '/')} | {c['seconds']:.1f} |" for c in cases)]
table = out / "gpu-throughput.md"
if table.exists():  # the throughput table the GPU test set printed: ours vs XAutoDL, fp32 and bf16
    lines += ["", *table.read_text().splitlines()]
(out / "gpu-check.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
if [ "$tests_rc" -ne 0 ] && [ "$tests_rc" -ne 5 ]; then exit 1; fi
exit $(( doctor_rc != 0 ))
