"""Apache MXNet's side of benchmarks/bench_ops.cpp: forward + backward of FullyConnected (batch 128, 784 -> 256) and
Convolution (batch 64, 32 -> 64 channels, 3x3, pad 1, 28x28) on the CPU, through mx.nd under autograd (gradients for
data, weight and bias). Prints the best of single iterations (each waited for) per operator:
    mxnet <Operator> fwd_bwd_ms <ms>

    python ops.py [iterations=25]        (pip install mxnet==1.9.1 numpy==1.23.5)

Convolution runs `iterations` times and FullyConnected four times as many, as bench_ops does with the same
argument: on a VM whose speed swings, a best of 50 against a best of 7 favoured the side with more tries.
"""
import sys
import time

import mxnet as mx
from mxnet import autograd


def time_op(name, make_inputs, call, iterations):
    inputs = make_inputs()
    for a in inputs:
        a.attach_grad()
    with autograd.record():
        head = mx.nd.ones_like(call(*inputs))

    def step():
        with autograd.record():
            out = call(*inputs)
        out.backward(head)

    for _ in range(5):
        step()
    mx.nd.waitall()
    # The best of single, waited-for iterations, as bench_ops measures mixt's.
    best = float("inf")
    for _ in range(iterations):
        t0 = time.perf_counter()
        step()
        mx.nd.waitall()
        best = min(best, time.perf_counter() - t0)
    print(f"mxnet {name} fwd_bwd_ms {1e3 * best:.4f}", flush=True)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    u = mx.nd.random.uniform
    time_op("FullyConnected", lambda: [u(-1, 1, (128, 784)), u(-0.1, 0.1, (256, 784)), u(-0.1, 0.1, (256,))],
            lambda x, w, b: mx.nd.FullyConnected(x, w, b, num_hidden=256), 4 * n)
    time_op("Convolution",
            lambda: [u(-1, 1, (64, 32, 28, 28)), u(-0.1, 0.1, (64, 32, 3, 3)), u(-0.1, 0.1, (64,))],
            lambda x, w, b: mx.nd.Convolution(x, w, b, kernel=(3, 3), pad=(1, 1), num_filter=64), n)
