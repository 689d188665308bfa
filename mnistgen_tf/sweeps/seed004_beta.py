"""Seed 004's β-VAE study: rate against distortion, sample quality and unused variables, by β.

The seed's loss ‖x − x̂‖² + β·KL (squared error summed over pixels), code
16, on MNIST; β in {0.1, 0.3, 1, 3, 10}.  Per cell, on the test split: the
distortion (the squared error term, one sampled code, and the MSE per pixel
through the posterior mean), the rate (KL, nats), inactive variables
(E[σ²] > 0.9) and the variance law; FID[mnist-cnn] and classifier score of
10,000 samples from N(0, I).  The seed's claim: β < 1 reconstructs better,
β > 1 generates better.
"""

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import to_uint8
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import real_baseline, stats_of_images
from mnistgen_tf.metrics.frechet import fid_from_stats
from mnistgen_tf.metrics.latent import latent_report
from mnistgen_tf.sampling import sample
from mnistgen_tf.sweep import Column, Experiment, Profile, train_cell

NAME = "seed004_beta"
BETAS = (0.1, 0.3, 1.0, 3.0, 10.0)

# 10 epochs of 55,000 images: about 1-2 minutes an epoch on a shared 2-core CPU.
FULL = Profile(
    settings={"dataset": "mnist", "latent_dim": 16, "reconstruction": "l2", "beta": 1.0, "epochs": 10,
              "subset": None, "seed": 0, "eval_samples": 10_000},
    grids=({"beta": BETAS},),
)
QUICK = Profile(settings={**FULL.settings, "latent_dim": 3, "epochs": 1, "subset": 300, "eval_samples": 300},
                grids=({"beta": (0.1, 10.0)},))


def run_vae_study_cell(cell_dir, settings, verbose=0):
    """Train (resuming) and measure one VAE of a study; returns ``(record, arrays)`` for `sweep.run`."""
    settings = dict(settings)
    n = settings.pop("eval_samples")
    cell = train_cell("vae", cell_dir, settings, verbose)
    vae, seed = cell.trainer, settings["seed"]

    images, labels = data.load("mnist", "test")
    x = data.to_float(images)
    batches = {"image": x, "label": labels.astype("int32")}
    terms = vae.evaluate(data.batches(batches), verbose=0, return_dict=True)
    reconstructions, mean, log_var = (np.asarray(t) for t in vae.predict(data.batches(batches), verbose=0))
    latent = latent_report(mean, log_var)

    classifier = ClassifierFeatures("mnist")
    distance, _, reference = real_baseline("mnist", classifier, n, "test")
    samples = sample(cell.generator, n, seed=seed + 3)
    record = {
        "metrics": {"distortion": terms["reconstruction"], "rate": terms["kl"],
                    "test_mse": float(np.mean((reconstructions - x) ** 2)),
                    "fid": fid_from_stats(stats_of_images(samples, classifier), reference),
                    "fid_real_vs_real": distance, "classifier_score": classifier.score(samples),
                    "inactive": latent.inactive_count, "variance_law": latent.overall_variance_law},
        "extractor": classifier.name, "eval_samples": n, "epochs": cell.config["epochs"],
        "train_images": cell.run_info["train_images"], "parameters": cell.run_info["parameters"],
        "timing": cell.timing,
    }
    arrays = {"samples": to_uint8(samples[:64]), "reconstructions": to_uint8(reconstructions[:10])}
    keras.backend.clear_session()
    return record, arrays


COLUMNS = (
    Column("β", "settings.beta", "g"),
    Column("distortion ‖x − x̂‖²", "metrics.distortion", ".2f"),
    Column("rate KL (nats)", "metrics.rate", ".2f"),
    Column("test MSE", "metrics.test_mse", ".4f"),
    Column("inactive of {latent_dim}", "metrics.inactive"),
    Column("variance law", "metrics.variance_law", ".3f"),
    Column("FID, {eval_samples} samples", "metrics.fid", ".2f"),
    Column("real vs real", "metrics.fid_real_vs_real", ".2f"),
    Column("classifier score", "metrics.classifier_score", ".2f"),
)


def draw_tradeoff(results, path):
    """Rate against distortion (one point per β) and FID against β."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    betas = [r["settings"]["beta"] for r in records]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot([r["metrics"]["rate"] for r in records], [r["metrics"]["distortion"] for r in records], "o-")
    for beta, r in zip(betas, records):
        left.annotate(f"β={beta:g}", (r["metrics"]["rate"], r["metrics"]["distortion"]), fontsize=8,
                      xytext=(4, 4), textcoords="offset points")
    left.set(xlabel="rate: KL (nats)", ylabel="distortion: ‖x − x̂‖² per image", title="rate against distortion")
    right.semilogx(betas, [r["metrics"]["fid"] for r in records], "o-")
    right.set(xlabel="β", ylabel=f"FID[mnist-cnn], {records[0]['eval_samples']} samples", title="samples")
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004: the β-VAE's trade-off on MNIST",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_vae_study_cell,
    columns=COLUMNS,
    id_labels=(("beta", "beta"), ("seed", "seed")),
    figures=(("seed004_beta_tradeoff.png", draw_tradeoff),),
    notes=(
        "The seed's loss, ‖x − x̂‖² summed over pixels + β·KL, code {latent_dim}, {epochs} epochs; distortion and "
        "rate on the 10,000 test images with one sampled code each; test MSE per pixel through the posterior "
        "mean.",
        "Inactive: variables with E[σ²] > 0.9 over the test images; variance law: Var(μ) + E[σ²] averaged over "
        "the variables (1 when the aggregate posterior matches the prior).",
        "FID[mnist-cnn] and classifier score of {eval_samples} samples of N(0, I) through the decoder, against "
        "the test split; real vs real: as many real training images against the same reference.",
    ),
)
