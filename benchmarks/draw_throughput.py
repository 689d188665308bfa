"""DRAW training throughput against the machine's own matmul rate.

Trains the thesis configuration (T=16, z=16, LSTM 256, batch 100, shared
weights) for a fixed number of steps on MNIST and prints images/s and the
achieved FLOP rate divided by the float32 matmul rate (2048x2048, TF)
measured in the same run.  FLOPs are counted analytically: every Dense and
LSTM kernel's forward multiply-adds x 2, times 3 for forward + backward.

    python benchmarks/draw_throughput.py [--steps 100] [--jit]
"""

import argparse
import time

import numpy as np

import mnistgen_tf  # noqa: F401
import keras
import tensorflow as tf

from mnistgen_tf import data
from mnistgen_tf.models.draw import NUM_CLASSES, build_draw


def forward_macs_per_image(timesteps, z_dim, units, pixels=784, conditional=False):
    """Multiply-adds of every kernel in one forward pass of one image."""
    c = NUM_CLASSES * conditional
    encoder = (2 * pixels + units + c) * 4 * units + units * 4 * units
    posterior = 2 * units * z_dim
    decoder = z_dim * z_dim + (z_dim + c) * 4 * units + units * 4 * units
    write = units * pixels
    return timesteps * (encoder + posterior + decoder + write)


def matmul_flops_per_s(n=2048, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    matmul()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul().numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def training_images_per_s(args):
    keras.utils.set_random_seed(0)
    x, y = data.load("mnist", "train")
    n = args.batch_size * args.steps
    ds = data.pipeline(x[:n], y[:n], args.batch_size, shuffle=False).cache()
    model = build_draw(args.timesteps, args.z_dim, args.units, conditional=args.conditional, seed=0)
    model.compile(optimizer="adam", jit_compile=args.jit)
    model.fit(ds.take(args.warmup_steps), epochs=1, verbose=0)  # trace, compile, warm caches
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps (default 100)")
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--z-dim", type=int, default=16)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    args = parser.parse_args()

    peak_before = matmul_flops_per_s()
    images_per_s = training_images_per_s(args)
    peak = max(peak_before, matmul_flops_per_s())  # the machine's best, measured around the run
    flops_per_image = 3 * 2 * forward_macs_per_image(args.timesteps, args.z_dim, args.units,
                                                      conditional=args.conditional)
    achieved = images_per_s * flops_per_image
    print(f"config: T={args.timesteps} z={args.z_dim} LSTM={args.units} batch={args.batch_size} "
          f"shared weights, jit={args.jit}, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads")
    print(f"training:      {images_per_s:10.0f} images/s   ({60000 / images_per_s:.0f} s per 60,000-image epoch)")
    print(f"analytic cost: {flops_per_image / 1e6:10.1f} MFLOP per image (forward + backward)")
    print(f"achieved:      {achieved / 1e9:10.1f} GFLOP/s")
    print(f"matmul peak:   {peak / 1e9:10.1f} GFLOP/s (float32 2048x2048, TF)")
    print(f"ratio:         {achieved / peak:10.2f}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
