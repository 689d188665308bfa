"""Seed 003's comparison: the DCGAN and the VAE side by side, from their sweeps' cells.

Reads the finished cells of `mnistgen sweep seed003_gan` and `mnistgen sweep
seed003_vae` (nothing is trained or sampled here) and writes one table, a
row per cell, grouped by data set:

    OUT/seed003_gan_vs_vae.csv   model, data, parameters (all / generator), epochs,
                                 seconds per epoch, FID with its extractor and sample
                                 count, real-vs-real FID, classifier score, and for
                                 the VAE the test reconstruction (BCE) and -ELBO
    OUT/seed003_gan_vs_vae.md    the same table, its notes and provenance

The seconds per epoch are those the cell's last training session measured
on its machine (`timing.csv` of each sweep names it); on a shared CPU they
are noisy, so read them as an order of magnitude.

    python experiments/seed003_gan_vs_vae.py [--results results] [--quick]
"""

import argparse
import csv
import io
import os
import sys

import mnistgen_tf  # noqa: F401  (quiet TensorFlow start-up)
from mnistgen_tf import provenance
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.files import read_json, write_text
from mnistgen_tf.sweep import RUN_DIR, Results, profile_root
from mnistgen_tf.sweeps import seed003_gan, seed003_vae

STEM = "seed003_gan_vs_vae"
HEADERS = ("model", "data", "parameters", "generator parameters", "epochs", "s / epoch", "FID", "extractor",
           "samples", "real vs real", "classifier score", "test BCE (nats)", "test -ELBO (nats)")


def _gan_name(settings):
    smoothing = "real label 0.9" if settings["real_label"] != 1 else "no label smoothing"
    return (f"DCGAN, Adam {settings['learning_rate']:g} (β1 {settings['beta_1']:g}), {smoothing}, "
            f"{settings['lr_schedule']} rate")


def _vae_name(settings):
    return f"VAE, code {settings['latent_dim']}" + (f", β {settings['beta']:g}" if settings["beta"] != 1 else "")


def _row(results, record, name):
    run_info = read_json(os.path.join(results.dir, "cells", record["cell"], RUN_DIR, "run.json"), "run record")
    metrics, timing = record["metrics"], record.get("timing", {})
    return {
        "model": name, "data": record["settings"]["dataset"], "parameters": run_info["parameters"],
        "generator parameters": run_info["generator_parameters"], "epochs": record["epochs"],
        "s / epoch": timing.get("seconds_per_epoch"), "FID": f"{metrics['fid']:.2f}", "extractor": record["extractor"],
        "samples": record["eval_samples"], "real vs real": f"{metrics['fid_real_vs_real']:.3f}",
        "classifier score": f"{metrics['classifier_score']:.2f}",
        "test BCE (nats)": f"{metrics['test_bce']:.2f}" if "test_bce" in metrics else "",
        "test -ELBO (nats)": f"{metrics['test_neg_elbo']:.2f}" if "test_neg_elbo" in metrics else "",
    }


def comparison_rows(results_dir, quick=False):
    """One row per finished cell of both sweeps, Fashion-MNIST first, GAN before VAE."""
    gan = Results(seed003_gan.EXPERIMENT, results_dir, quick)
    vae = Results(seed003_vae.EXPERIMENT, results_dir, quick)
    rows = ([_row(gan, r, _gan_name(r["settings"])) for r in gan.records]
            + [_row(vae, r, _vae_name(r["settings"])) for r in vae.records])
    if not rows:
        raise MnistgenError(f"no finished cells of seed003_gan or seed003_vae in {profile_root(results_dir, quick)}: "
                            f"run `mnistgen sweep seed003_gan{' --quick' * quick}` (and seed003_vae) first")
    order = {"fashion_mnist": 0, "mnist": 1}
    return sorted(rows, key=lambda row: order.get(row["data"], 2)), gan.missing + vae.missing


def markdown(rows, missing, command):
    prov = provenance.record()
    lines = ["# Seed 003: DCGAN and VAE compared", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(str(row[h]) if row[h] is not None else "" for h in HEADERS) + " |" for row in rows]
    lines += ["",
              "- FID of as many samples as the samples column against the data set's whole test split, with the "
              "shipped classifier of that data set as extractor; real vs real: as many real training images "
              "against the same reference (the floor of FID at that size). Classifier score: "
              "exp E KL(p(y|x) || p(y)) under the same classifier (1 to 10).",
              "- The GAN samples its last epoch's generator; the VAE decodes N(0, I) codes. Test BCE: the VAE's "
              "reconstruction error summed over the 784 pixels, mean over the test split, one sampled code per "
              "image (as in its training loss); -ELBO adds the KL.",
              "- s / epoch: the last training session of the cell, on a shared 2-core CPU beside other jobs "
              "(`timing.csv` of each sweep): an order of magnitude, not a benchmark.",
              "- Each row's source: `seed003_gan/cells/<cell>/cell.json` or `seed003_vae/cells/<cell>/cell.json`.",
              ]
    if missing:
        lines.append(f"- Cells not finished yet, so not in the table: {', '.join(missing)}.")
    lines += ["", f"Made by `{command}` at {prov['git_commit']}, {prov['date']}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="seed003_gan_vs_vae.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="results folder the sweeps wrote (default results)")
    parser.add_argument("--quick", action="store_true", help="read the sweeps' quick profile (tests)")
    args = parser.parse_args(argv)
    try:
        rows, missing = comparison_rows(args.results, args.quick)
    except MnistgenError as e:
        print(f"{parser.prog}: {e}", file=sys.stderr)
        return 2
    out = profile_root(args.results, args.quick)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, HEADERS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(os.path.join(out, STEM + ".csv"), buffer.getvalue())
    command = " ".join(["python", "experiments/seed003_gan_vs_vae.py"] + list(sys.argv[1:] if argv is None else argv))
    write_text(os.path.join(out, STEM + ".md"), markdown(rows, missing, command))
    print(f"wrote {os.path.join(out, STEM)}.csv and .md ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
