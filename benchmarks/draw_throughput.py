"""DRAW training throughput against the machine's matmul rate, square and at DRAW's own shapes.

Trains the thesis configuration (T=16, z=16, LSTM 256, batch 100, shared
weights; ``--read-n/--write-n`` add the DRAW paper's attention, ``--shared-dense``
its one Dense layer of each kind for all steps) for a fixed
number of steps on MNIST and prints images/s and the achieved FLOP rate,
divided by two references measured in the same run: the float32 matmul rate
of 2048x2048 squares, and the rate of DRAW's own matmuls -- every kernel's
forward (batch x in) @ (in x out) and its two backward products, once per
use in a step, as autodiff would run them -- executed alone (`own_shapes`;
the train step itself stacks a shared kernel's weight-gradient products over
the steps into one, `layers/step_products.py`).  Training and the own shapes
are timed in turn, ``--rounds`` times: each round's ratio and their median (the
images/s and own-shapes lines are medians too, so their quotient can differ a little).
FLOPs are counted analytically as the Functional DRAW computes: the
encoder's share of the gates from the image once per image, each other
kernel once per step, the attention filterbanks' products too; x 2 per
multiply-add, x 3 for forward + backward.

With ``--against REV`` it compares this checkout's DRAW with the one at git
revision REV instead, with ``--compare-precisions`` float32 with
mixed_bfloat16, with ``--compare-xla`` training with and without XLA, and with ``--compare-allocators``
TensorFlow's two CPU allocators (``TF_CPU_ALLOCATOR_USE_BFC`` true, the kit's default, or false): the two
train in turn, in fresh processes, for ``--rounds`` rounds each, and the medians, best rounds and ratios are printed (the
machine's load then weighs on both alike).  ``--breakdown`` times the training step's parts instead: the
forward pass, the backward pass, Adam's update and fit's loop, beside the time its kernel FLOPs take at
the own-shapes rate.

    python benchmarks/draw_throughput.py [--steps 100] [--jit] [--precision P] [--read-n N --write-n N]
                                         [--shared-dense]
                                         [--against REV | --compare-precisions | --compare-xla | --compare-allocators
                                          | --breakdown]
                                         [--rounds 3]
"""

import argparse
import io
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

import mnistgen_tf  # noqa: F401
import keras
import tensorflow as tf

from mnistgen_tf import data
from mnistgen_tf.models.draw import NUM_CLASSES, build_draw

ALLOCATOR_ENV = "TF_CPU_ALLOCATOR_USE_BFC"


def threads():
    """TensorFlow's intra-op threads: set in this process, or by TF_NUM_INTRAOP_THREADS (which TF reads
    itself without reporting it back), else all the machine's."""
    return (tf.config.threading.get_intra_op_parallelism_threads() or os.environ.get("TF_NUM_INTRAOP_THREADS")
            or "all")


def kernel_shapes(timesteps, z_dim, units, pixels=784, conditional=False, read_n=0, write_n=0):
    """``{(in, out): uses per image}`` of every Dense and LSTM kernel in one forward pass (shared weights)."""
    c = NUM_CLASSES * conditional
    uses = {}

    def add(shape, times):
        uses[shape] = uses.get(shape, 0) + times

    if read_n:
        add((units, 5), timesteps)  # the read window
        add((2 * read_n * read_n + units + c, 4 * units), timesteps)
    else:
        add((pixels, 4 * units), 1)  # the image's share of the encoder's gates, once per image
        add((pixels + units + c, 4 * units), timesteps)  # [x_hat, h_dec, label]
    add((units, 4 * units), timesteps)  # the encoder's recurrent kernel
    add((units, z_dim), 2 * timesteps)  # posterior mean and log-variance
    add((z_dim, z_dim), timesteps)  # the Dense on z
    add((z_dim + c, 4 * units), timesteps)  # the decoder's input kernel
    add((units, 4 * units), timesteps)  # the decoder's recurrent kernel
    if write_n:
        add((units, 5), timesteps)  # the write window
    add((units, write_n * write_n if write_n else pixels), timesteps)
    return uses


def forward_macs_per_image(timesteps, z_dim, units, pixels=784, conditional=False, read_n=0, write_n=0):
    """Multiply-adds of one forward pass of one image: the kernels, and the attention's filterbank products."""
    kernels = sum(a * b * n for (a, b), n in kernel_shapes(timesteps, z_dim, units, pixels, conditional,
                                                           read_n, write_n).items())
    side = int(round(pixels ** 0.5))  # square images: B = A
    read = 2 * (read_n * side * side + read_n * side * read_n) if read_n else 0  # Fy x Fx^T, for x and x_hat
    write = side * write_n * write_n + side * write_n * side if write_n else 0  # Fy^T w Fx
    return kernels + timesteps * (read + write)


def best_seconds(function, repeats):
    """The fastest of `repeats` timed calls of a traced `function`, after one call to trace and warm up."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function().numpy()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_flops_per_s(n=2048, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    return 2 * n**3 / best_seconds(tf.function(lambda: tf.reduce_sum(tf.matmul(a, b))), repeats)


def own_shapes_flops_per_s(uses, batch_size, dtype="float32", repeats=5):
    """FLOP/s of one training step's kernel matmuls run alone: for each kernel and use, the forward
    (batch x in) @ (in x out) and the backward (batch x out) @ (out x in), (in x batch) @ (batch x out)."""
    dtype = tf.bfloat16 if dtype == "mixed_bfloat16" else tf.float32
    operands = [(tf.cast(tf.random.normal((batch_size, a)), dtype), tf.cast(tf.random.normal((a, b)), dtype),
                 tf.cast(tf.random.normal((batch_size, b)), dtype), n) for (a, b), n in uses.items()]

    @tf.function
    def step():
        total = tf.constant(0.0, dtype)
        for x, w, dy, n in operands:
            def body(i, acc, x=x, w=w, dy=dy):  # a loop: identical products are not merged as one
                forward = tf.matmul(x, w)
                backward = tf.matmul(dy, w, transpose_b=True)[0, 0] + tf.matmul(x, dy, transpose_a=True)[0, 0]
                return i + 1, acc + forward[0, 0] + backward
            total = tf.while_loop(lambda i, acc: i < n, body, (0, total))[1]
        return total

    return kernel_flops_per_step(uses, batch_size) / best_seconds(step, repeats)


def kernel_flops_per_step(uses, batch_size):
    """FLOPs of one training step's kernel matmuls: forward and two backward products per use."""
    return sum(3 * 2 * batch_size * a * b * n for (a, b), n in uses.items())


def model_shape(args):
    """The measured DRAW's sizes, as `kernel_shapes` and `forward_macs_per_image` take them."""
    return dict(timesteps=args.timesteps, z_dim=args.z_dim, units=args.units, conditional=args.conditional,
                read_n=args.read_n, write_n=args.write_n)


def compiled_model_and_batches(args):
    """The measured DRAW, compiled with Adam (and XLA with ``--jit``), and ``--steps`` cached MNIST batches."""
    keras.utils.set_random_seed(0)
    x, y = data.load("mnist", "train")
    n = args.batch_size * args.steps
    ds = data.pipeline("images", x[:n], y[:n], args.batch_size).cache()
    # Only options other than the defaults are passed, so older revisions (--against) build too.
    options = {key: value for key, value in (("read_n", args.read_n), ("write_n", args.write_n),
                                             ("precision", args.precision), ("shared_dense", args.shared_dense))
               if value not in (0, "float32", False)}
    model = build_draw(args.timesteps, args.z_dim, args.units, conditional=args.conditional, seed=0, **options)
    model.compile(optimizer="adam", jit_compile=args.jit)
    return model, ds


def training_images_per_s(args):
    """One round: images/s of a fit over ``--steps`` batches, after ``--warmup-steps`` to trace and compile."""
    model, ds = compiled_model_and_batches(args)
    model.fit(ds.take(args.warmup_steps), epochs=1, verbose=0)  # trace, compile, warm caches
    return timed_fit(model, ds, args)


def timed_fit(model, ds, args):
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return args.batch_size * args.steps / (time.perf_counter() - start)


def throughput_rounds(args):
    """``[(images/s, own-shapes FLOP/s)]``, one pair per round of ``--rounds``: a fit over ``--steps`` batches,
    then the step's kernel matmuls alone, in turn in one process, so that each round's ratio compares the
    two under the same load (a shared machine's load moves between minutes)."""
    model, ds = compiled_model_and_batches(args)
    model.fit(ds, epochs=1, verbose=0)  # trace, compile, fill the cache, warm fit
    uses = kernel_shapes(**model_shape(args))
    return [(timed_fit(model, ds, args), own_shapes_flops_per_s(uses, args.batch_size, args.precision))
            for _ in range(args.rounds)]


def step_breakdown(args, rounds=3):
    """Milliseconds per batch of the training step's parts, each the median of `rounds` rounds of
    ``--steps`` calls on one batch, the parts in turn in every round: the forward pass and loss, with the
    backward pass (``loss_and_gradients``), with Adam's update and the metrics (``train_step``), and
    ``fit`` over ``--steps`` batches (its loop, the cached data pipeline and callbacks too)."""
    model, ds = compiled_model_and_batches(args)
    batch = next(iter(ds))
    parts = {"forward": lambda data: model._step(data, training=True)[0],
             "+ backward": model.loss_and_gradients, "+ Adam": model.train_step}
    parts = {name: tf.function(part, jit_compile=args.jit) for name, part in parts.items()}
    model.fit(ds, epochs=1, verbose=0)  # builds the optimizer, fills the cache, warms fit
    for part in parts.values():
        part(batch)  # trace (and compile)
    times = {name: [] for name in [*parts, "fit"]}
    for _ in range(rounds):
        for name, part in parts.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                out = part(batch)
            tf.nest.map_structure(lambda t: t.numpy(), out)  # wait for the last call
            times[name].append((time.perf_counter() - start) / args.steps)
        start = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0)
        times["fit"].append((time.perf_counter() - start) / args.steps)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def alternate(variants, rounds, own_args, reference):
    """Run each ``(label, PYTHONPATH, extra args[, environment])`` variant in turn in fresh processes,
    `rounds` times; print the medians, the best rounds and the ratio of each variant to the one labelled
    `reference`."""
    rates = {label: [] for label, *_ in variants}
    for _ in range(rounds):
        for label, path, extra, *environment in variants:
            env = {**os.environ, "PYTHONPATH": path, **(environment[0] if environment else {})}
            out = subprocess.run([sys.executable, __file__, "--json", *own_args, *extra], env=env, check=True,
                                 capture_output=True, text=True).stdout
            rates[label].append(json.loads(out.strip().splitlines()[-1])["images_per_s"])
    for label, r in rates.items():
        print(f"{label:>15}: median {statistics.median(r):5.0f}, best {max(r):5.0f} images/s  "
              f"(rounds: {', '.join(f'{v:.0f}' for v in r)})")
    # The best round is the one least disturbed by other work on a shared machine.
    for label in rates:
        if label != reference:
            for name, stat in (("median", statistics.median), ("best", max)):
                print(f"ratio {label} / {reference}, {name}: {stat(rates[label]) / stat(rates[reference]):.3f}")


def _measurement_args(args):
    """The options of one measurement, for a comparison's fresh processes (each adds its --precision)."""
    names = ("steps", "warmup_steps", "batch_size", "timesteps", "z_dim", "units", "read_n", "write_n")
    return ([f"--{name.replace('_', '-')}={getattr(args, name)}" for name in names]
            + [f"--{flag.replace('_', '-')}" for flag in ("conditional", "jit", "shared_dense") if getattr(args, flag)])


def compare(args):
    """--against REV: this checkout against REV's DRAW; --compare-precisions: float32 against mixed_bfloat16;
    --compare-xla: with and without XLA; --compare-allocators: TensorFlow's BFC CPU allocator against its default."""
    repo = str(pathlib.Path(__file__).resolve().parents[1])
    own_args = _measurement_args(args)
    if args.compare_allocators:
        same = ["--precision", args.precision]
        return alternate([(f"bfc {flag}", repo, same, {ALLOCATOR_ENV: flag}) for flag in ("false", "true")],
                         args.rounds, own_args, reference="bfc false")
    if args.compare_xla:
        own_args = [a for a in own_args if a != "--jit"]
        return alternate([("xla", repo, ["--jit", "--precision", args.precision]),
                          ("no xla", repo, ["--precision", args.precision])], args.rounds, own_args, reference="xla")
    if args.compare_precisions:
        return alternate([(p, repo, ["--precision", p]) for p in ("float32", "mixed_bfloat16")], args.rounds,
                         own_args, reference="float32")
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", repo, "archive", args.against, "mnistgen_tf"],
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        same = ["--precision", args.precision]
        alternate([("this checkout", repo, same), (args.against, old, same)], args.rounds, own_args,
                  reference=args.against)


def print_breakdown(args):
    """The step's parts, each as the time it adds to the part before, and the time the step's kernel FLOPs
    take at the own-shapes rate (the reference of the throughput's ratio: per-step products, where the
    train step stacks a shared kernel's weight-gradient products into one)."""
    ms = step_breakdown(args, args.rounds)
    uses = kernel_shapes(**model_shape(args))
    own = own_shapes_flops_per_s(uses, args.batch_size, args.precision)
    kernel_ms = 1e3 * kernel_flops_per_step(uses, args.batch_size) / own
    print(f"config: T={args.timesteps} z={args.z_dim} LSTM={args.units} batch={args.batch_size}, read "
          f"{args.read_n} write {args.write_n}, shared Dense layers={args.shared_dense}, {args.precision}, "
          f"jit={args.jit}, {threads()} threads; ms per batch, medians of {args.rounds} rounds")
    before = 0.0
    for name, value in ms.items():
        print(f"{name:>12}: {value:8.1f} ms  (adds {value - before:7.1f}, {(value - before) / ms['fit']:5.1%} of fit)")
        before = value
    print(f"kernel FLOPs at the own-shapes rate ({own / 1e9:.1f} GFLOP/s): {kernel_ms:.1f} ms, "
          f"{kernel_ms / ms['fit']:.1%} of fit")


def print_throughput(args):
    """Images/s and the achieved FLOP rate against the square matmul rate (measured before and after) and,
    round by round, against the own-shapes rate."""
    shape = model_shape(args)
    peak_before = matmul_flops_per_s()
    rounds = throughput_rounds(args)
    peak = max(peak_before, matmul_flops_per_s())  # the machine's best, measured around the run
    flops_per_image = 3 * 2 * forward_macs_per_image(**shape)
    ratios = [images * flops_per_image / own for images, own in rounds]
    images_per_s = statistics.median(images for images, _ in rounds)
    own = statistics.median(own for _, own in rounds)
    achieved = images_per_s * flops_per_image
    attention = f", read {args.read_n} write {args.write_n}" if args.read_n or args.write_n else ""
    print(f"config: T={args.timesteps} z={args.z_dim} LSTM={args.units} batch={args.batch_size}{attention}, "
          f"shared weights{' and Dense layers' if args.shared_dense else ''}, {args.precision}, jit={args.jit}, "
          f"{threads()} threads; medians of {args.rounds} rounds")
    print(f"training:      {images_per_s:10.0f} images/s   ({60000 / images_per_s:.0f} s per 60,000-image epoch)")
    print(f"analytic cost: {flops_per_image / 1e6:10.1f} MFLOP per image (forward + backward)")
    print(f"achieved:      {achieved / 1e9:10.1f} GFLOP/s")
    print(f"matmul peak:   {peak / 1e9:10.1f} GFLOP/s (float32 2048x2048, TF)")
    print(f"own shapes:    {own / 1e9:10.1f} GFLOP/s (one step's kernel matmuls alone, batch {args.batch_size}, "
          f"{args.precision})")
    print(f"ratio to peak:       {achieved / peak:6.2f}")
    print(f"ratio to own shapes: {statistics.median(ratios):6.2f}   (median of the rounds': "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"training by round:   {', '.join(f'{i:.0f}' for i, _ in rounds)} images/s")
    print(f"own shapes by round: {', '.join(f'{o / 1e9:.1f}' for _, o in rounds)} GFLOP/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps (default 100)")
    parser.add_argument("--warmup-steps", type=int, default=10,
                        help="steps that trace and warm each comparison's fresh process (default 10; a "
                             "measurement in one process warms with a whole fit)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--z-dim", type=int, default=16)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument("--read-n", type=int, default=0, help="attention read N (default 0: none)")
    parser.add_argument("--write-n", type=int, default=0, help="attention write N (default 0: none)")
    parser.add_argument("--shared-dense", action="store_true",
                        help="one of each Dense layer for all steps, as the DRAW paper (draw_paper_mnist)")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--against", metavar="REV", help="compare with the DRAW at git revision REV")
    parser.add_argument("--compare-precisions", action="store_true", help="compare float32 with mixed_bfloat16")
    parser.add_argument("--compare-xla", action="store_true", help="compare training with and without XLA")
    parser.add_argument("--compare-allocators", action="store_true",
                        help=f"compare TensorFlow's CPU allocators (${ALLOCATOR_ENV} false and true)")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the training step's parts (forward, backward, Adam, fit's loop) against its "
                             "matmuls at their own shapes' rate")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of training and own shapes in turn, of each variant when comparing, or of each "
                             "part with --breakdown (default 3)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one round, for the comparisons
    args = parser.parse_args()
    if args.json:  # first: a comparison's child must not start comparisons of its own
        return print(json.dumps({"images_per_s": training_images_per_s(args)}))
    if args.against or args.compare_precisions or args.compare_xla or args.compare_allocators:
        return compare(args)
    if args.breakdown:
        return print_breakdown(args)
    print_throughput(args)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
