#!/usr/bin/env bash
# mixt against Apache MXNet 1.9.1 on this machine's CPU, in one command so both see the same machine: the MLP
# training step (bench_mlp vs mxnet/mlp_step.py, Gluon imperative and hybridized) and forward + backward of
# FullyConnected and Convolution (bench_ops vs mxnet/ops.py). Prints a table of times and speed ratios
# (MXNet's time / mixt's: above 1, mixt is faster).
#
#   benchmarks/compare_mxnet.sh [build_dir=build] [iterations=25]
#
# Both sides take the best of the same number of single iterations (iterations for Convolution, four times as
# many for FullyConnected).
#
# PYTHON: an interpreter that imports mxnet (default python3). To make one:
#   python3 -m venv /tmp/mx && /tmp/mx/bin/pip install mxnet==1.9.1 numpy==1.23.5 && PYTHON=/tmp/mx/bin/python ...
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
iterations=${2:-25}
python=${PYTHON:-python3}
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for program in bench_mlp bench_ops; do
  if [[ -x $build/benchmarks/$program ]]; then
    args=()
    [[ $program == bench_ops ]] && args=("$iterations")
    "$build/benchmarks/$program" "${args[@]}" | tee -a "$results"
  else
    echo "missing $build/benchmarks/$program: build it first (ninja -C $build)"
  fi
done
if "$python" -c 'import mxnet' 2>/dev/null; then
  "$python" benchmarks/mxnet/mlp_step.py | tee -a "$results"
  "$python" benchmarks/mxnet/ops.py "$iterations" | tee -a "$results"
else
  echo "MXNet is not importable by $python: only mixt's figures (see the top of this script to install it)"
fi

python3 - "$results" <<'PY'
import re, sys
mixt, mxnet = {}, {}
for line in open(sys.argv[1]):
    w = line.split()
    m = re.match(r"(\w+) .* mixt +([\d.]+) ms", line)  # bench_ops: "Convolution 64 x 32 ... mixt 141.23 ms ..."
    if m:
        mixt[m.group(1)] = float(m.group(2))
        continue
    if len(w) >= 4 and w[0] == "mixt" and w[2] in ("step_ms", "fwd_bwd_ms") and not w[1].startswith("gpu"):
        mixt["MLP step (batch 128)" if w[2] == "step_ms" else w[1]] = float(w[3])
    elif len(w) >= 4 and w[0].startswith("mxnet") and w[2] in ("step_ms", "fwd_bwd_ms"):
        key = "MLP step (batch 128)" if w[2] == "step_ms" else w[1]
        mode = w[0].split("-", 1)[1] if "-" in w[0] else "nd"
        mxnet.setdefault(key, {})[mode] = float(w[3])
print(f"\n{'CPU, ms per step':<24} {'mixt':>9} {'MXNet':>9} {'mode':<12} {'MXNet/mixt':>10}")
for key, ms in mixt.items():
    for mode, theirs in mxnet.get(key, {"-": None}).items():
        if theirs is None:
            print(f"{key:<24} {ms:9.3f} {'-':>9} {'-':<12} {'-':>10}")
        else:
            print(f"{key:<24} {ms:9.3f} {theirs:9.3f} {mode:<12} {theirs / ms:10.2f}")
PY
