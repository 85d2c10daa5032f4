"""Apache MXNet's side of benchmarks/bench_mlp.cpp: the same MLP training step (784-256-128-10, batch 128, a batch
copied in from host memory, softmax cross-entropy, backward, SGD with momentum 0.9) with Gluon, imperative and
hybridized. Prints one line per mode, in bench_mlp's format:
    mxnet-imperative cpu(0) step_ms <ms> samples_per_s <rate>

    python mlp_step.py [steps=300]        (pip install mxnet==1.9.1 numpy==1.23.5)
"""
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn


def run(hybridize, steps, batch=128):
    ctx = mx.cpu()
    rng = np.random.default_rng(1)
    xs = [rng.random((batch, 784), dtype=np.float32) for _ in range(4)]
    ys = [rng.integers(0, 10, batch).astype(np.float32) for _ in range(4)]
    net = nn.HybridSequential()
    net.add(nn.Dense(256, activation="relu", in_units=784), nn.Dense(128, activation="relu", in_units=256),
            nn.Dense(10, in_units=128))
    net.initialize(mx.init.Uniform(0.05), ctx=ctx)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05, "momentum": 0.9})

    def step(s):
        data = mx.nd.array(xs[s % 4], ctx=ctx)
        label = mx.nd.array(ys[s % 4], ctx=ctx)
        with autograd.record():
            loss = loss_fn(net(data), label)
        loss.backward()
        trainer.step(batch)

    for s in range(20):
        step(s)
    mx.nd.waitall()
    t0 = time.perf_counter()
    for s in range(steps):
        step(s)
    mx.nd.waitall()
    secs = time.perf_counter() - t0
    mode = "mxnet-hybridized" if hybridize else "mxnet-imperative"
    print(f"{mode} cpu(0) step_ms {1e3 * secs / steps:.4f} samples_per_s {batch * steps / secs:.0f}", flush=True)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    run(False, n)
    run(True, n)
