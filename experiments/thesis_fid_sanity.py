"""Thesis Table 2.1 and Figure 2.3: sanity checks of the FID on MNIST test images.

The thesis (section 2.2.1, InceptionV3 features) reports

    FID(first 1,000 MNIST images, second 1,000 MNIST images)  = 11.1349125
    FID(1,000 MNIST images, 1,000 images of random noise)     = 431.3836

and, in Figure 2.3 (no numbers given), the FID of k distinct MNIST images, each
repeated to make 1,000, against 1,000 other MNIST images: extremely high for
k = 1, low for k = 1,000.

This script computes, on the MNIST *test* split, with n images per side:

  1. FID(test[0:n], test[n:2n])
  2. FID(test[0:n], n images of uniform noise in [0, 1], drawn with --seed)
  3. for every k in --ks (k <= n): the first k images of test[0:n], tiled to
     n images (np.resize: each one repeated n/k times), against test[n:2n].

Every image is featurised once. The statistics of a tiled set are those of
the tiled features of its k images: the extractor maps each image on its
own, so featurising the n tiled images would give the same features again.

It writes, atomically (SUFFIX is empty for the mnist extractor, otherwise
"_<extractor>", so runs with other features never overwrite the mnist table):

    OUT/thesis_fid_sanity{SUFFIX}.csv    case, paper value, ours, extractor, n
    OUT/thesis_fid_sanity{SUFFIX}.md     the same table and a provenance block
    OUT/thesis_fid_sanity{SUFFIX}.json   the same rows with provenance
    OUT/figures/thesis_fig2_3_fid_repeated{SUFFIX}.png   FID against k

The thesis's numbers are Inception FIDs; under the 128-feature MNIST CNN
("mnist-cnn") the scale differs, so only the pattern can be compared. When
the Inception weights are not cached, --features inception exits with a
one-line error and status 2, writing nothing.

    python experiments/thesis_fid_sanity.py [--features mnist] [--n 1000] [--seed 0] [--out results]
"""

import argparse
import csv
import io
import json
import os
import sys
import time
import warnings

import numpy as np

import mnistgen_tf  # noqa: F401  (quiet TensorFlow start-up)
from mnistgen_tf import data
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics.features import EXTRACTORS, get_extractor
from mnistgen_tf.metrics.frechet import RankDeficientCovarianceWarning, fid_from_stats, stats_of
from mnistgen_tf import files
from mnistgen_tf.files import write_text
from mnistgen_tf import provenance

DEFAULT_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
PAPER_SAME = 11.1349125  # Table 2.1, Inception features
PAPER_NOISE = 431.3836
COLUMNS = ("case", "paper value (Inception)", "ours", "extractor", "n")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="thesis_fid_sanity.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--features", choices=EXTRACTORS, default="mnist",
                        help="feature extractor (default mnist: the shipped 128-feature MNIST CNN; "
                        "inception needs the cached ImageNet weights)")
    parser.add_argument("--n", type=int, default=1000, help="images per side (default 1000, as in the thesis)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the uniform noise images (default 0)")
    parser.add_argument("--ks", type=_int_list, default=DEFAULT_KS,
                        help="comma-separated numbers of distinct repeated images "
                        f"(default {','.join(map(str, DEFAULT_KS))}; those above --n are dropped)")
    parser.add_argument("--out", default="results", help="output folder (default results)")
    return parser.parse_args(argv)


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return tuple(sorted(set(values)))


def suffix_for(features):
    return "" if features == "mnist" else f"_{features}"


def compute(extractor, n, seed, ks):
    """Rows (dicts) of the table; also returns how many rank warnings fired."""
    images, _ = data.load("mnist", "test")
    if n < 2 or 2 * n > len(images):
        raise MnistgenError(f"--n must be between 2 and {len(images) // 2} (two disjoint sets of test images); got {n}")
    first = extractor(images[:n])
    second = extractor(images[n:2 * n])
    noise_images = np.random.default_rng(seed).uniform(0.0, 1.0, size=(n,) + images.shape[1:]).astype(np.float32)
    noise = extractor(noise_images)
    stats_first, stats_second = stats_of(first), stats_of(second)
    name = extractor.name

    def row(case, paper, value, k=None):
        return {"case": case, "paper value (Inception)": paper, "ours": value, "extractor": name, "n": n, "k": k}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RankDeficientCovarianceWarning)
        same = fid_from_stats(stats_first, stats_second)
        noisy = fid_from_stats(stats_first, stats_of(noise))
        rows = [
            row(f"first {n} vs second {n} test images", PAPER_SAME, same),
            row(f"{n} test images vs {n} uniform noise images", PAPER_NOISE, noisy),
        ]
        for k in ks:
            tiled = np.resize(first[:k], (n, first.shape[1]))  # the first k images, each repeated n/k times
            rows.append(row(f"k={k} distinct test images repeated to {n} vs {n} other test images", None,
                            fid_from_stats(stats_of(tiled), stats_second), k))
    rank_warnings = sum(issubclass(w.category, RankDeficientCovarianceWarning) for w in caught)
    for w in caught:  # anything else is passed on unchanged
        if not issubclass(w.category, RankDeficientCovarianceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return rows, rank_warnings


def _fmt(value):
    return "" if value is None else f"{value:.4f}"


def csv_text(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        paper = r["paper value (Inception)"]
        writer.writerow([r["case"], "" if paper is None else repr(paper), f"{r['ours']:.6f}", r["extractor"], r["n"]])
    return buffer.getvalue()


def markdown_text(rows, meta, notes):
    lines = [
        "# Thesis Table 2.1 and Figure 2.3: FID sanity checks (MNIST test split)",
        "",
        "Paper values are the thesis's InceptionV3 FIDs (section 2.2.1); Figure 2.3 gives no numbers. "
        f"Ours use the `{meta['extractor']}` features ({meta['feature_dim']} dimensions), so only the pattern "
        "is comparable unless the extractor is `inception`.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        paper = "" if r["paper value (Inception)"] is None else repr(r["paper value (Inception)"])
        lines.append(f"| {r['case']} | {paper} | {_fmt(r['ours'])} | {r['extractor']} | {r['n']} |")
    lines += [""] + [f"- {note}" for note in notes] + ["", "## Provenance", ""]
    for key in ("command", "git_commit", "date", "machine", "seed", "n", "ks", "extractor", "python", "keras",
                "tensorflow", "seconds"):
        lines.append(f"- {key}: `{meta[key]}`")
    return "\n".join(lines) + "\n"


def save_figure(rows, meta, path):
    import mnistgen_tf.figures  # noqa: F401  (sets the Agg backend first)
    import matplotlib.pyplot as plt

    repeated = [r for r in rows if r["k"] is not None]
    ks = [r["k"] for r in repeated]
    values = [r["ours"] for r in repeated]
    same, noise = rows[0]["ours"], rows[1]["ours"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(ks, values, "o-", label=f"k distinct images repeated to {meta['n']}")
    ax.axhline(same, color="tab:green", ls="--", lw=1, label=f"{meta['n']} vs {meta['n']} distinct test images")
    ax.axhline(noise, color="tab:red", ls=":", lw=1, label=f"{meta['n']} test images vs uniform noise")
    ax.set_xscale("log")
    if min(values + [same]) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("k, number of distinct MNIST test images (log scale)")
    ax.set_ylabel(f"FID vs {meta['n']} other test images (log scale)")
    ax.set_title(f"Thesis Fig. 2.3: FID of repeated images, {meta['extractor']} features")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.save_figure(fig, path, dpi=120)
    plt.close(fig)


def run(args, argv=None):
    start = time.perf_counter()
    ks = tuple(k for k in args.ks if k <= args.n)
    if not ks:
        raise MnistgenError(f"no k in --ks is at most --n={args.n}")
    extractor = get_extractor(args.features)  # fails first, before anything is written
    rows, rank_warnings = compute(extractor, args.n, args.seed, ks)

    command = "python " + " ".join([os.path.relpath(os.path.abspath(__file__))] +
                                   list(sys.argv[1:] if argv is None else argv))
    meta = {"command": command, **provenance.record(), "seed": args.seed, "n": args.n, "ks": list(ks),
            "extractor": extractor.name, "feature_dim": extractor.dim, "split": "mnist:test",
            "seconds": round(time.perf_counter() - start, 1)}
    notes = [
        f"Sets: test[0:{args.n}] and test[{args.n}:{2 * args.n}]; noise: uniform in [0, 1], "
        f"numpy default_rng(seed={args.seed}); repeated sets: the first k images of test[0:{args.n}], "
        f"tiled with np.resize.",
        "k = n is the first row again (n distinct images against the other n).",
    ]
    if rank_warnings:
        notes.append(f"{rank_warnings} covariances came from fewer samples (n={args.n}) than feature dimensions "
                     f"({extractor.dim}): they are rank-deficient and these FIDs are biased upwards.")
        print(f"note: n={args.n} < {extractor.dim} features: covariances are rank-deficient "
              f"({rank_warnings} warnings silenced)", file=sys.stderr)

    suffix = suffix_for(args.features)
    figures = os.path.join(args.out, "figures")
    os.makedirs(figures, exist_ok=True)
    base = os.path.join(args.out, f"thesis_fid_sanity{suffix}")
    figure = os.path.join(figures, f"thesis_fig2_3_fid_repeated{suffix}.png")
    meta["figure"] = figure
    write_text(base + ".csv", csv_text(rows))
    write_text(base + ".md", markdown_text(rows, meta, notes))
    write_text(base + ".json", json.dumps({"rows": rows, "notes": notes, **meta}, indent=2) + "\n")
    save_figure(rows, meta, figure)
    return {"rows": rows, "paths": [base + ".csv", base + ".md", base + ".json", figure], **meta}


def main(argv=None):
    provenance.capture()  # the code as it is now, before any work
    """Run with command-line arguments `argv`; returns 0, or 2 after a one-line error."""
    args = parse_args(argv)
    try:
        result = run(args, argv)
    except MnistgenError as e:
        print(f"thesis_fid_sanity: error: {e}", file=sys.stderr)
        return 2
    width = max(len(r["case"]) for r in result["rows"])
    for r in result["rows"]:
        paper = "" if r["paper value (Inception)"] is None else f"  (thesis, Inception: {r['paper value (Inception)']})"
        print(f"{r['case']:<{width}}  {r['ours']:10.4f}{paper}")
    print("wrote " + ", ".join(result["paths"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
