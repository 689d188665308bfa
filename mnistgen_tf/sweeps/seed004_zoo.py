"""Seed 004's model zoo on MNIST, compared by one evaluation on one machine.

One cell per model (`MODELS`: a registry family and its options), each with
its own epochs (sized to a shared 2-core CPU).  Per cell: parameters (all,
and the generator's), seconds per training epoch, **sampling seconds per
1,000 images** (timed while drawing the evaluation samples, batches of 500),
FID[mnist-cnn] of those samples against the test split beside the
real-vs-real FID at the same size, the classifier score and class histogram
(mode coverage); for autoencoder-type models the test reconstruction MSE per
pixel, for VAEs the test −ELBO (BCE, nats), for the CVAE the label accuracy
per digit; for the DDPM also the full 1,000-step DDPM chain (its own sample
count, FID beside its own real-vs-real).

The seed's orderings of cost ("training: Diffusion > GAN > VQ-VAE > CVAE >
VAE > AE"; "sampling: Diffusion ≫ VQ-VAE > GAN > CVAE ≈ VAE ≈ AE") are read
against the seconds columns; its quality table against FID and score.
"""

import hashlib
import os
import time

import keras
import numpy as np

from mnistgen_tf import data
from mnistgen_tf.evaluate import label_accuracy, to_uint8
from mnistgen_tf.files import ensure_dir, write_arrays
from mnistgen_tf.metrics.features import ClassifierFeatures
from mnistgen_tf.metrics.fid import real_baseline, stats_of_images
from mnistgen_tf.metrics.frechet import fid_from_stats
from mnistgen_tf.sampling import cycled_digits, sample
from mnistgen_tf.sweep import SAMPLE_PARTS, Column, Experiment, Profile, train_cell

NAME = "seed004_zoo"
CODE = 16  # code size of every autoencoder-type model

# 12 epochs left the DDPM's samples speckled (FID 14.39 with 50 DDIM steps, its loss still falling), and
# its weight average after 12 epochs sampled no better.  At Ho et al.'s Adam 2e-4 the averaged model's samples
# still gained less with every 6 epochs up to 24 (a look at 1,000 of them, not kept): too slow for a budget of
# ~17,000 steps (Ho trained 800,000), so the zoo takes 1e-3, the rate of keras-io's DDIM example.
DDPM_EPOCHS = 40
DDPM_LEARNING_RATE = 1e-3

# model -> (registry family, options); the seed's loss for the VAEs is ‖x − x̂‖² + β·KL, here
# BCE (a Bernoulli likelihood) so that the −ELBO is a number in nats; --reconstruction l2 is one option away.
MODELS = {
    "ae": ("autoencoder", {"latent_dim": CODE, "loss": "l2", "decoder": "convtranspose"}),
    "vae": ("vae", {"latent_dim": CODE}),
    "beta_vae": ("vae", {"latent_dim": CODE, "beta": 4.0}),
    "cvae": ("vae", {"latent_dim": CODE, "conditional": True}),
    "gan": ("gan", {"dataset": "mnist", "learning_rate": 2e-4, "beta_1": 0.5, "fid_samples": 0}),
    "vqvae": ("vqvae", {"num_embeddings": 64, "embedding_dim": 16}),
    "ddpm": ("ddpm", {"schedule": "linear", "sample_steps": 50, "eta": 0.0, "learning_rate": DDPM_LEARNING_RATE}),
}
# The quick profile's stand-ins: the same families, tiny.
SMALL = {
    "ae": {"latent_dim": 3}, "vae": {"latent_dim": 3}, "beta_vae": {"latent_dim": 3}, "cvae": {"latent_dim": 3},
    "gan": {"latent_dim": 8, "batch_size": 50}, "vqvae": {"num_embeddings": 8, "embedding_dim": 4, "prior_filters": 8},
    "ddpm": {"timesteps": 20, "base_channels": 8, "sample_steps": 4},
}
FULL = Profile(
    settings={"model": "ae", "epochs": 10, "subset": None, "seed": 0, "eval_samples": 10_000, "chain_samples": 1000,
              "chain_steps": 1000, "small": False},
    grids=({("model", "epochs"): (("ae", 10), ("vae", 10), ("cvae", 30), ("beta_vae", 10), ("vqvae", 20),
                                  ("ddpm", DDPM_EPOCHS), ("gan", 20))},),
)
QUICK = Profile(
    settings={**FULL.settings, "epochs": 1, "subset": 300, "eval_samples": 300, "chain_samples": 20,
              "chain_steps": 20, "small": True},
    grids=({"model": tuple(MODELS)},),
)


def _reconstruction_metrics(family, trainer, x, labels):
    """Test reconstruction MSE per pixel (posterior mean for VAEs); for VAEs the test −ELBO terms, for the
    VQ-VAE the codebook's use over the test codes (perplexity, codes never used)."""
    if family == "autoencoder":
        return {"test_mse": float(np.mean((trainer.predict(data.batches(x), verbose=0) - x) ** 2))}
    if family == "vae":
        batches = {"image": x, "label": labels.astype("int32")}
        reconstructions = np.asarray(trainer.predict(data.batches(batches), verbose=0)[0])
        terms = trainer.evaluate(data.batches(batches), verbose=0, return_dict=True)
        return {"test_mse": float(np.mean((reconstructions - x) ** 2)),
                "test_neg_elbo": terms["reconstruction"] + terms["kl"], "test_kl": terms["kl"]}
    if family == "vqvae":
        from mnistgen_tf.models.vqvae import code_usage

        reconstructions, indices = (np.asarray(t) for t in trainer.predict(data.batches({"image": x}), verbose=0))
        perplexity, dead = code_usage(indices, trainer.num_embeddings)
        return {"test_mse": float(np.mean((reconstructions - x) ** 2)), "codebook_perplexity": perplexity,
                "dead_codes": dead}
    return {}


PART = 1000  # images per part


def timed_sample(generator, n, seed, parts_dir=None):
    """`n` images from `generator` and the seconds per 1,000 they took (compilation included).

    With `parts_dir`, the images are drawn in parts of `PART` (part k from seed ``(seed, k)``), each saved
    there with its seconds as it finishes, so a sampling of hours that is cut off resumes at its last part.
    Parts are named by a hash of the generator's weights: another model's parts are never taken up.
    """
    if parts_dir is None:
        started = time.perf_counter()
        images = sample(generator, n, seed=seed)
        return images, (time.perf_counter() - started) * 1000 / n
    ensure_dir(parts_dir)
    weights = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in generator.get_weights())).hexdigest()[:12]
    images, seconds = [], 0.0
    for k, start in enumerate(range(0, n, PART)):
        path = os.path.join(parts_dir, f"{generator.name}-{weights}-n{n}-seed{seed}-part{k}.npz")
        if not os.path.exists(path):
            started = time.perf_counter()
            part = sample(generator, min(PART, n - start), seed=(seed, k))
            write_arrays(path, {"images": part, "seconds": time.perf_counter() - started})
        with np.load(path) as saved:
            images.append(saved["images"])
            seconds += float(saved["seconds"])
    return np.concatenate(images), seconds * 1000 / n


def run_zoo_cell(cell_dir, settings, verbose=0):
    """Train (resuming) and measure one model of the zoo; returns ``(record, arrays)`` for `sweep.run`."""
    from mnistgen_tf.models.ddpm import with_sampler

    model, seed = settings["model"], settings["seed"]
    family, options = MODELS[model]
    options = {**options, **(SMALL[model] if settings["small"] else {}), "epochs": settings["epochs"],
               "subset": settings["subset"], "seed": seed}
    cell = train_cell(family, cell_dir, options, verbose)
    generator, n = cell.generator, settings["eval_samples"]

    classifier = ClassifierFeatures("mnist")
    distance, _, reference = real_baseline("mnist", classifier, n, "test")
    parts = os.path.join(cell_dir, SAMPLE_PARTS) if family == "ddpm" else None  # hours on a CPU: resumable
    images, seconds = timed_sample(generator, n, seed + 3, parts)
    labels = classifier.classify(images)
    metrics = {"fid": fid_from_stats(stats_of_images(images, classifier), reference), "fid_real_vs_real": distance,
               "classifier_score": classifier.score(images),
               "rarest_class_share": float(np.bincount(labels, minlength=10).min() / n),
               "sampling_seconds_per_1000": seconds, "train_seconds_per_epoch": cell.timing["seconds_per_epoch"]}
    record = {"class_histogram": np.bincount(labels, minlength=10).tolist()}
    if options.get("conditional"):  # samples cycle through the digits 0-9
        metrics["label_accuracy"], record["label_accuracy_per_digit"] = label_accuracy(labels, cycled_digits(n))
    test_images, test_labels = data.load("mnist", "test")
    metrics.update(_reconstruction_metrics(family, cell.trainer, data.to_float(test_images), test_labels))
    if family == "ddpm":  # the full chain, on fewer samples (it costs T network passes per image)
        chain = with_sampler(generator, settings["chain_steps"], eta=1.0)
        chain_images, chain_seconds = timed_sample(chain, settings["chain_samples"], seed + 4, parts)
        chain_distance = real_baseline("mnist", classifier, settings["chain_samples"], "test")[0]
        metrics.update({"chain_fid": fid_from_stats(stats_of_images(chain_images, classifier), reference),
                        "chain_fid_real_vs_real": chain_distance, "chain_sampling_seconds_per_1000": chain_seconds})
    record.update({
        "metrics": metrics, "family": family, "options": options, "extractor": classifier.name, "eval_samples": n,
        "epochs": cell.config["epochs"], "train_images": cell.run_info["train_images"],
        "parameters": cell.run_info["parameters"], "generator_parameters": cell.run_info["generator_parameters"],
        "timing": cell.timing,
    })
    arrays = {"samples": to_uint8(images[:100])}
    keras.backend.clear_session()
    return record, arrays


COLUMNS = (
    Column("model", "settings.model"),
    Column("family", "family"),
    Column("parameters", "parameters"),
    Column("generator parameters", "generator_parameters"),
    Column("epochs", "epochs"),
    Column("s / epoch", "metrics.train_seconds_per_epoch", ".1f"),
    Column("s / 1,000 samples", "metrics.sampling_seconds_per_1000", ".2f"),
    Column("FID, {eval_samples} samples", "metrics.fid", ".2f"),
    Column("real vs real", "metrics.fid_real_vs_real", ".2f"),
    Column("classifier score", "metrics.classifier_score", ".2f"),
    Column("rarest class share", "metrics.rarest_class_share", ".3f"),
    Column("label accuracy", "metrics.label_accuracy", ".4f"),
    Column("test MSE", "metrics.test_mse", ".4f"),
    Column("test -ELBO (nats)", "metrics.test_neg_elbo", ".2f"),
    Column("codebook perplexity", "metrics.codebook_perplexity", ".1f"),
    Column("dead codes", "metrics.dead_codes"),
    Column("{chain_steps}-step chain: FID ({chain_samples})", "metrics.chain_fid", ".2f"),
    Column("its real vs real", "metrics.chain_fid_real_vs_real", ".2f"),
    Column("its s / 1,000", "metrics.chain_sampling_seconds_per_1000", ".1f"),
)


# ---------------------------------------------------------------- figures

def draw_samples(results, path):
    """Samples side by side: 10 × 10 per model, in cell order."""
    from mnistgen_tf.figures import plt, write_png

    records = results.records
    if not records:
        return False
    fig, axes = plt.subplots(1, len(records), figsize=(3 * len(records), 3.3), squeeze=False)
    for ax, record in zip(axes[0], records):
        grid = results.arrays(record)["samples"][:100, ..., 0]
        grid = np.pad(grid, ((0, 100 - len(grid)), (0, 0), (0, 0)))
        ax.imshow(grid.reshape(10, 10, 28, 28).transpose(0, 2, 1, 3).reshape(280, 280), cmap="gray")
        ax.set_title(f"{record['settings']['model']}: FID {record['metrics']['fid']:.1f}", fontsize=9)
        ax.axis("off")
    fig.suptitle("Seed 004 zoo: samples (CVAE: digits 0-9 by column)", fontsize=10)
    write_png(fig, path)
    return True


EXPERIMENT = Experiment(
    name=NAME,
    title="Seed 004: the model zoo on MNIST, one evaluation",
    profiles={"full": FULL, "quick": QUICK},
    run_cell=run_zoo_cell,
    columns=COLUMNS,
    id_labels=(("", "model"), ("seed", "seed")),
    figures=(("seed004_zoo_samples.png", draw_samples),),
    notes=(
        "FID[mnist-cnn] and classifier score of {eval_samples} samples against the 10,000 test images; real vs "
        "real: as many real training images against the same reference (the floor of FID at that size). "
        "Rarest class share: the smallest fraction of samples read as one digit (0.1 when even).",
        "s / epoch: the cell's last training session; s / 1,000 samples: drawing the evaluation samples in "
        "batches of 500, compilation included (the DDPM's in resumable parts of 1,000, summed); both on a "
        "shared 2-core CPU beside other jobs, so read ratios "
        "of an order of magnitude, not small differences (`timing.csv`).",
        "VQ-VAE: 7x7 grid of codes from a codebook of 64 vectors of 16, PixelCNN prior; perplexity: exp of the "
        "entropy of the codes' use over the test images' grids (64 if all equally used); dead: never used.",
        "Autoencoder-type models: code size 16; test MSE per pixel through the code (the posterior mean for "
        "VAEs); test -ELBO: BCE summed over pixels plus KL with one sampled code (for the beta-VAE the KL "
        "counted once, so it is comparable; on grey, not binarised, pixels it is not a bound on -log p(x), so "
        "not comparable with published likelihoods). AE samples: its decoder fed N(0, I) codes, the seed's goal.",
        "DDPM: T = 1000, linear schedule, sampled with the moving average of its weights (decay 0.999; the "
        "cell made without it, FID 14.39, is in git history at 05c4df7); its FID column is the saved generator, "
        "50 DDIM steps (eta 0); the "
        "chain columns run Ho et al.'s sampler over all {chain_steps} steps (eta 1) on {chain_samples} samples.",
        "Epochs per model as in the epochs column; each cell's options in `cells/<cell>/cell.json`.",
    ),
)
