"""DRAW's test likelihood in nats: the −ELBO and importance-sampled estimates of −log p(x).

For k sequences z⁽ⁱ⁾ = (z_1 … z_T) drawn from the encoder's posterior q(z|x),

    log p(x) ≥ E[ log (1/k) Σ_i p(x|z⁽ⁱ⁾) p(z⁽ⁱ⁾) / q(z⁽ⁱ⁾|x) ],

a bound, in expectation, that tightens as k grows (Burda et al. 2016) and at
k = 1 is the ELBO.  For a conditional model every term is given the label,
so the estimate is of −log p(x | y).  The weights of k are the first k of the largest k
asked for, so the estimates for 1, 10, 100 samples are nested.  p(x|z) is a
Bernoulli likelihood, so the images must be binary (`data.bernoulli_draw`).
A DRAW trained in mixed_bfloat16 is measured with its (float32) weights in a
float32 copy: a bfloat16 z lies on a grid, not drawn from the Gaussian q whose
density the weights divide by, and the bound would not strictly hold.
"""

import math

import numpy as np
from scipy.special import logsumexp

from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.losses import bce_with_logits, kl_divergence

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
OUTPUTS = ("logits", "mu", "log_var", "z")  # the DRAW outputs the weights are computed from


def log_weights(trainer, images, labels, k, seed=0, batch_size=500):
    """Per image, in nats: ``log_w`` (n, k), log p(x|z) + log p(z) − log q(z|x) of k posterior sequences;
    ``reconstruction`` (n,), −log p(x|z) of the first; ``kl`` (n,), the analytic KL(q(z|x) ‖ p(z)) on its path."""
    images = np.asarray(images, np.float32)
    if not np.isin(images, (0.0, 1.0)).all():
        raise MnistgenError("the likelihood is Bernoulli: it needs binary images (train and evaluate with "
                            "--dynamic-binarization, or --binarize)")
    trainer = in_float32(trainer)
    model = trainer.outputs_model(OUTPUTS)
    rng = np.random.default_rng(seed)
    parts = {"log_w": [], "reconstruction": [], "kl": []}
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        batch = {"image": x, "label": np.asarray(labels[start:start + batch_size], "int32")}
        target = x.reshape(len(x), -1).astype(np.float64)
        rows = []
        for i in range(k):
            eps = rng.standard_normal((len(x), trainer.timesteps, trainer.z_dim)).astype(np.float32)
            out = model.predict_on_batch({**batch, "noise": eps})
            mu, log_var, z = (np.asarray(out[key], np.float64) for key in ("mu", "log_var", "z"))
            log_px = -np.asarray(bce_with_logits(target, np.asarray(out["logits"], np.float64))).sum(axis=1)
            log_pz = (-0.5 * z ** 2 - _HALF_LOG_2PI).sum(axis=(1, 2))
            # The noise of the z the model used, rounding included: (z - mu) / sigma.
            drawn = (z - mu) * np.exp(-0.5 * log_var)
            log_qz = (-0.5 * (drawn ** 2 + log_var) - _HALF_LOG_2PI).sum(axis=(1, 2))
            rows.append(log_px + log_pz - log_qz)
            if i == 0:
                parts["reconstruction"].append(-log_px)
                parts["kl"].append(np.asarray(kl_divergence(mu, log_var)).sum(axis=1))
        parts["log_w"].append(np.stack(rows, axis=1))
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def in_float32(trainer):
    """`trainer` itself when it computes in float32, else a float32 DRAW with its weights."""
    from mnistgen_tf.models.draw import Draw

    if trainer.precision == "float32":
        return trainer
    copy = Draw.from_config({**trainer.get_config(), "precision": "float32"})
    copy.set_weights(trainer.get_weights())  # float32 already: mixed precision keeps its variables in float32
    return copy


def likelihood_report(trainer, images, labels, ks=(1, 10, 100), seed=0, batch_size=500):
    """Means over the images, in nats: the −ELBO (first sequence's reconstruction + analytic KL) and
    the k-sample estimate of −log p(x) for each k in `ks`."""
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise MnistgenError(f"sample counts must be at least 1, got {ks}")
    terms = log_weights(trainer, images, labels, ks[-1], seed, batch_size)
    log_w = terms["log_w"]
    return {"neg_elbo_nats": float((terms["reconstruction"] + terms["kl"]).mean()),
            "reconstruction_nats": float(terms["reconstruction"].mean()), "kl_nats": float(terms["kl"].mean()),
            "nll_nats": {k: float(-(logsumexp(log_w[:, :k], axis=1) - math.log(k)).mean()) for k in ks},
            "images": len(log_w), "seed": seed}
