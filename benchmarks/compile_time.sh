#!/usr/bin/env bash
# Compile-time benchmark: how long g++ -O2 takes to build the same small program (one fused expression and one
# matrix product) with mixt and with Eigen's Tensor module. Not part of the tests.
#
#   benchmarks/compile_time.sh [runs]      (default 3 runs each; the best time counts)
#
# Environment: CXX (default g++), CXXFLAGS (added to -std=c++20 -O2), EIGEN_INCLUDE (default /usr/include/eigen3).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
cxx=${CXX:-g++}
eigen_include=${EIGEN_INCLUDE:-/usr/include/eigen3}
work=$(mktemp -d "${TMPDIR:-/tmp}/mixt-compile-time.XXXXXX")
trap 'rm -rf "$work"' EXIT

# best_time NAME ARGS...: compiles `runs` times and prints the best wall time in seconds; fails when it does not
# compile or the program does not run.
best_time() {
  local name=$1 best="" t0 t1 t i
  shift
  for ((i = 0; i < runs; ++i)); do
    t0=$(date +%s.%N)
    if ! "$cxx" -std=c++20 -O2 ${CXXFLAGS:-} "$@" -o "$work/$name" 2>"$work/$name.err"; then
      return 1
    fi
    t1=$(date +%s.%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  "$work/$name" >"$work/$name.out" 2>&1 || return 1
  echo "$best"
}

printf 'compiler: %s\nflags: -std=c++20 -O2 %s\nruns: %d (best counts)\n\n' \
  "$("$cxx" --version | head -n1)" "${CXXFLAGS:-}" "$runs"

mixt_time=""
if mixt_time=$(best_time mixt_small -Wno-psabi -Iinclude benchmarks/compile_time/mixt_small.cpp); then
  printf '%-44s %7s s   (%s)\n' "mixt   (benchmarks/compile_time/mixt_small.cpp)" "$mixt_time" "$(cat "$work/mixt_small.out")"
else
  mixt_time=""
  printf '%-44s skipped: it does not compile or run yet:\n' "mixt   (benchmarks/compile_time/mixt_small.cpp)"
  grep -h -m 5 -E "error|Error" "$work/mixt_small.err" "$work/mixt_small.out" 2>/dev/null | sed 's/^/    /'
fi

eigen_time=""
if [[ ! -f $eigen_include/unsupported/Eigen/CXX11/Tensor ]]; then
  printf '%-44s skipped: no Eigen Tensor under %s (apt-get install libeigen3-dev)\n' \
    "Eigen  (benchmarks/compile_time/eigen_small.cpp)" "$eigen_include"
elif eigen_time=$(best_time eigen_small -I"$eigen_include" benchmarks/compile_time/eigen_small.cpp); then
  printf '%-44s %7s s   (%s)\n' "Eigen  (benchmarks/compile_time/eigen_small.cpp)" "$eigen_time" "$(cat "$work/eigen_small.out")"
else
  eigen_time=""
  printf '%-44s skipped: it does not compile:\n' "Eigen  (benchmarks/compile_time/eigen_small.cpp)"
  grep -h -m 5 error "$work/eigen_small.err" | sed 's/^/    /'
fi

if [[ -n $mixt_time && -n $eigen_time ]]; then
  awk -v m="$mixt_time" -v e="$eigen_time" 'BEGIN { printf "\nratio mixt / Eigen: %.2f\n", m / e }'
fi
