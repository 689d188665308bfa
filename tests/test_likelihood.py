import json

import numpy as np
import pytest
from scipy.stats import norm

import mnistgen_tf  # noqa: F401
from mnistgen_tf import data
from mnistgen_tf.cli import main
from mnistgen_tf.errors import MnistgenError
from mnistgen_tf.metrics.likelihood import in_float32, likelihood_report, log_weights
from mnistgen_tf.models.draw import build_draw


def _binary_digits(n=40, seed=0):
    x = np.random.default_rng(seed).random((n, 28, 28, 1)).astype("float32") ** 3
    return data.bernoulli_draw(x, seed), (np.arange(n) % 10).astype("int32")


def test_a_bernoulli_draw_is_binary_fixed_by_its_seed_and_keeps_the_intensity():
    x = np.full((200, 28, 28, 1), 0.3, "float32")
    a, b, c = data.bernoulli_draw(x, 0), data.bernoulli_draw(x, 0), data.bernoulli_draw(x, 1)
    assert set(np.unique(a)) == {0.0, 1.0} and np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.mean() == pytest.approx(0.3, abs=0.005)


def test_dynamic_binarization_draws_afresh_each_epoch_and_resumes_exactly():
    images = np.full((30, 28, 28), 128, "uint8")  # every image the same grey: only the draws tell batches apart
    labels = np.arange(30) % 10

    def epochs(first):
        ds = data.training_pipeline("images", images, labels, 10, 0, 3, first, dynamic_binarization=True)
        return [batch["image"].numpy() for batch in ds]

    full, resumed = epochs(0), epochs(1)
    assert len(full) == 9 and all(set(np.unique(b)) == {0.0, 1.0} for b in full)
    assert all(np.array_equal(a, b) for a, b in zip(full[3:], resumed))  # a resumed run sees the same draws
    assert not np.array_equal(full[0], full[3])  # a new draw each epoch
    assert np.mean(full) == pytest.approx(128 / 255, abs=0.01)


def test_dynamic_binarization_draws_from_its_own_stream():
    import tensorflow as tf

    images = np.full((20, 28, 28), 128, "uint8")
    ds = data.training_pipeline("images", images, np.arange(20) % 10, 10, 7, 1, dynamic_binarization=True)
    for number, batch in enumerate(ds):
        # (seed, n) keys the n-th draw of keras.random.SeedGenerator(seed): the posterior noise's stream.
        noise_bits = tf.random.stateless_uniform(batch["image"].shape, seed=[7, number]).numpy() < 128 / 255
        assert np.mean(batch["image"].numpy() == noise_bits) == pytest.approx(0.5, abs=0.02)  # unrelated


def test_each_weight_is_log_p_x_given_z_plus_log_p_z_minus_log_q():
    model = build_draw(2, 3, 8, seed=0)
    x, labels = _binary_digits(4)
    terms = log_weights(model, x, labels, k=1, seed=5)
    eps = np.random.default_rng(5).standard_normal((4, 2, 3)).astype("float32")
    out = model({"image": x, "label": labels, "noise": eps})
    z, mu, sigma = (np.asarray(out[k], np.float64) for k in ("z", "mu", "log_var"))
    sigma = np.exp(0.5 * sigma)
    p = 1 / (1 + np.exp(-np.asarray(out["logits"], np.float64)))
    target = x.reshape(4, -1)
    log_px = (target * np.log(p) + (1 - target) * np.log(1 - p)).sum(axis=1)
    expected = log_px + norm.logpdf(z).sum(axis=(1, 2)) - norm.logpdf(z, mu, sigma).sum(axis=(1, 2))
    np.testing.assert_allclose(terms["log_w"][:, 0], expected, rtol=1e-4)
    np.testing.assert_allclose(terms["reconstruction"], -log_px, rtol=1e-4)


def test_a_bfloat16_draw_is_measured_by_a_float32_copy_of_its_weights():
    model = build_draw(2, 3, 8, seed=0, read_n=2, write_n=3, precision="mixed_bfloat16")
    copy = in_float32(model)
    assert copy.get_layer("z_mean_0").compute_dtype == "float32" and in_float32(copy) is copy
    for mine, theirs in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    x, labels = _binary_digits(4)
    eps = np.random.default_rng(5).standard_normal((4, 2, 3)).astype("float32")
    batch = {"image": x, "label": labels, "noise": eps}
    logits, exact = (np.asarray(m(batch)["logits"], "float32") for m in (model, copy))
    assert not np.array_equal(logits, exact)  # the copy does not round to bfloat16 ...
    np.testing.assert_allclose(logits, exact, atol=0.1)  # ... but is the same model
    np.testing.assert_array_equal(log_weights(model, x, labels, k=2, seed=5)["log_w"],
                                  log_weights(copy, x, labels, k=2, seed=5)["log_w"])


def test_more_samples_give_a_tighter_bound_below_the_elbo():
    model = build_draw(3, 4, 16, seed=0)
    for t in range(3):  # a posterior far wider than the prior: a loose ELBO that more samples must tighten
        kernel, bias = model.get_layer(f"z_log_var_{t}").get_weights()
        model.get_layer(f"z_log_var_{t}").set_weights([kernel, bias + 2.0])
    x, labels = _binary_digits(40)
    report = likelihood_report(model, x, labels, ks=(1, 10, 100), seed=0)
    nll = report["nll_nats"]
    assert nll[100] < nll[10] < nll[1]
    assert nll[100] < report["neg_elbo_nats"]
    # One sample estimates the ELBO itself (its KL term by one draw instead of in closed form).
    assert nll[1] == pytest.approx(report["neg_elbo_nats"], rel=0.02)


def test_grey_images_are_refused():
    model = build_draw(2, 3, 8, seed=0)
    with pytest.raises(MnistgenError, match="binary images"):
        log_weights(model, np.full((2, 28, 28, 1), 0.5, "float32"), np.zeros(2, "int32"), k=1)


def test_nll_command_reports_and_writes_json(binarized_run, tmp_path, capsys):
    out = tmp_path / "nll.json"
    assert main(["nll", str(binarized_run), "--k", "1", "5", "--images", "50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "one fixed Bernoulli draw" in printed and "k=5" in printed
    report = json.loads(out.read_text())
    # The command measures the run's trainer on the first 50 test images, fixed binarization, seed 0.
    from mnistgen_tf.train import load_trainer, read_config

    trainer, _ = load_trainer(str(binarized_run))
    images, labels = data.load("mnist", "test")
    direct = likelihood_report(trainer, data.for_evaluation(images[:50], read_config(str(binarized_run))), labels[:50],
                               [1, 5], 0)
    assert report["images"] == 50 and report["neg_elbo_nats"] == pytest.approx(direct["neg_elbo_nats"], rel=1e-6)
    assert [report["nll_nats"][k] for k in ("1", "5")] == pytest.approx([direct["nll_nats"][k] for k in (1, 5)],
                                                                          rel=1e-6)


@pytest.mark.parametrize("args, fragment", [
    (["nll", "no/such/run"], "holds no training run"),
    (["nll", "RUN", "--out", "x.txt"], "must end in .json"),
    (["nll", "RUN", "--out", "no/such/folder/x.json"], "missing or not writable"),
    (["nll", "MSE"], "likelihood is Bernoulli"),
    (["nll", "VAE"], "the likelihood is measured for DRAW"),
])
def test_nll_refuses(args, fragment, binarized_run, tmp_path, capsys):
    for name, config in (("MSE", {"family": "draw", "reconstruction": "mse"}), ("VAE", {"family": "vae"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    args = [{"RUN": str(binarized_run), "MSE": str(tmp_path / "MSE"), "VAE": str(tmp_path / "VAE")}.get(a, a)
            for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_binarize_and_dynamic_binarization_exclude_each_other(tmp_path, capsys):
    assert main(["train", "draw", "--out", str(tmp_path / "run"), "--binarize", "--dynamic-binarization"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
