"""Time `frechet_distance` against the scipy.linalg.sqrtm reference.

Both run on the same pair of covariance matrices in the same process; the
best of --repeats runs of each is reported, with the relative difference of
the two distances.

    python benchmarks/fid_speed.py [--dim 2048] [--samples 10000] [--repeats 3] [--threads 1]
"""

import argparse
import os
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension (Inception pool features: 2048)")
    parser.add_argument("--samples", type=int, default=10_000, help="samples per feature set")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="BLAS threads, 0 for the library's choice (default 1: compares the algorithms, not the "
        "thread scheduling, which on a busy machine can slow OpenBLAS down several-fold)",
    )
    return parser.parse_args(argv)


def feature_stats(rng, mixing, scales, shift, samples, batch=2_000):
    """Statistics of features z @ mixing + shift, z ~ N(0, diag(scales^2))."""

    from mnistgen_tf.metrics.frechet import FeatureStats

    stats = FeatureStats()
    for start in range(0, samples, batch):
        z = rng.standard_normal((min(batch, samples - start), len(scales))) * scales
        stats.update(z @ mixing + shift)
    return stats


def best_time(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        # OpenBLAS reads these when it loads, so they must be set before numpy is imported.
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import numpy as np

    from mnistgen_tf.metrics.frechet import frechet_distance, frechet_distance_sqrtm

    rng = np.random.default_rng(args.seed)
    d = args.dim
    # Power-law spectrum, as network features have: a few strong directions
    # and a long tail. The second set has a perturbed mixing and a shifted mean.
    scales = (1.0 + np.arange(d)) ** -0.75
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    mixing2 = mixing + 0.1 * rng.standard_normal((d, d)) / np.sqrt(d)
    print(f"building statistics: {args.samples} samples x {d} features, twice ...", flush=True)
    real = feature_stats(rng, mixing, scales, 0.0, args.samples)
    fake = feature_stats(rng, mixing2, scales, 0.01 * rng.standard_normal(d), args.samples)
    mu1, sigma1, mu2, sigma2 = real.mean, real.cov, fake.mean, fake.cov

    ours_s, ours = best_time(lambda: frechet_distance(mu1, sigma1, mu2, sigma2), args.repeats)
    print(f"frechet_distance:         {ours_s:8.3f} s  FID = {ours:.12g}", flush=True)
    ref_s, ref = best_time(lambda: frechet_distance_sqrtm(mu1, sigma1, mu2, sigma2), args.repeats)
    print(f"scipy.linalg.sqrtm path:  {ref_s:8.3f} s  FID = {ref:.12g}")
    print(f"speed-up: {ref_s / ours_s:.1f}x   relative difference: {abs(ours - ref) / abs(ref):.2e}")
    print(f"(best of {args.repeats}, dim {d}, BLAS threads: {args.threads or 'library default'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
