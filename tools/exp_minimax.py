#!/usr/bin/env python3
"""Derives the float exp polynomial of include/mixt/expr/cpu/packet_math.hpp (detail::float_consts<float>).

The polynomial p of degree 6 with the least maximum relative error |p(r) - e^r| / e^r on |r| <= ln2/2, by the
Remez exchange algorithm in 40-digit arithmetic; then prints its coefficients rounded to float and the error of
evaluating them in float32. Needs mpmath and numpy (pip install mpmath numpy). Not used by the build.

    tools/exp_minimax.py [degree]
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 40
HALF_LN2 = mp.log(2) / 2
GRID = 4000  # points of the grid on which the error's extrema are searched


def relative_error(c, x):
    return (mp.polyval(c[::-1], x) - mp.e**x) / mp.e**x


def remez(degree, iterations=30):
    n = degree + 2  # reference points: degree + 1 coefficients and the levelled error
    xs = [HALF_LN2 * mp.cos(mp.pi * (n - 1 - i) / (n - 1)) for i in range(n)]
    for _ in range(iterations):
        # Solve p(x_i) - e^x_i = (-1)^i E e^x_i for the coefficients and E.
        a, b = mp.matrix(n, n), mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for j in range(degree + 1):
                a[i, j] = x**j
            a[i, degree + 1] = (-1) ** i * mp.e**x
            b[i] = mp.e**x
        solution = mp.lu_solve(a, b)
        c = [solution[j] for j in range(degree + 1)]
        grid = [HALF_LN2 * (-1 + 2 * mp.mpf(k) / GRID) for k in range(GRID + 1)]
        err = [relative_error(c, x) for x in grid]
        turns = [k for k in range(1, GRID) if (err[k] - err[k - 1]) * (err[k + 1] - err[k]) <= 0]
        extrema = [grid[k] for k in [0] + turns + [GRID]]
        if len(extrema) != n:
            break
        xs = extrema
    return c, max(abs(e) for e in err)


def main():
    degree = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    c, worst = remez(degree)
    floats = [np.float32(float(x)) for x in c]
    print(f"degree {degree}: max relative error {mp.nstr(worst, 5)}")
    print("coefficients (float):", ", ".join(repr(float(x)) + "f" for x in floats))
    r = np.linspace(-float(HALF_LN2), float(HALF_LN2), 200001).astype(np.float32)
    p = np.full_like(r, floats[-1])
    for k in range(degree - 1, -1, -1):
        p = (p * r + floats[k]).astype(np.float32)
    exact = np.exp(r.astype(np.float64))
    print(f"evaluated in float32 (Horner): max relative error {np.max(np.abs(p - exact) / exact):.3g}")


if __name__ == "__main__":
    main()
