import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import mnistgen_tf  # noqa: F401
from mnistgen_tf.losses import kl_divergence
from mnistgen_tf.models.draw import build_draw, build_generator


def _batch(n=6, seed=0, image_shape=(28, 28, 1)):
    rng = np.random.default_rng(seed)
    return {"image": rng.random((n, *image_shape)).astype("float32"),
            "label": (np.arange(n) % 10).astype("int32")}


def _with_noise(batch, model, seed=1):
    noise = np.random.default_rng(seed).standard_normal((len(batch["image"]), model.timesteps, model.z_dim))
    return {**batch, "noise": noise.astype("float32")}


def _lstm_params(input_dim, units):
    return 4 * units * (input_dim + units + 1)


def test_kl_matches_closed_form():
    mu = np.array([[0.5, -1.0, 2.0]], "float32")
    log_var = np.array([[0.0, np.log(0.25), np.log(4.0)]], "float32")
    var = np.exp(log_var)
    expected = 0.5 * np.sum(mu**2 + var - np.log(var) - 1)
    assert float(kl_divergence(mu, log_var)[0]) == pytest.approx(expected, rel=1e-6)
    assert float(kl_divergence(np.zeros((1, 7), "float32"), np.zeros((1, 7), "float32"))[0]) == 0.0


@pytest.mark.parametrize("scaling", ["thesis", "elbo", "thesis_kl_mean"])
def test_kl_term_scales_with_latent_size_not_timesteps(scaling):
    # A posterior N(m, v) in every unit and step: the thesis's KL/T is z_dim * k at any T,
    # the ELBO's is T * z_dim * k, and the mean over units and steps is k: the closed form / (T z).
    m, v = 0.7, 0.3
    k = 0.5 * (m**2 + v - np.log(v) - 1)
    for timesteps, z_dim in [(1, 8), (4, 8), (4, 2)]:
        model = build_draw(timesteps, z_dim, 8, loss_scaling=scaling)
        outputs = {"logits": np.zeros((2, 784), "float32"),
                   "mu": np.full((2, timesteps, z_dim), m, "float32"),
                   "log_var": np.full((2, timesteps, z_dim), np.log(v), "float32")}
        _, kl, _ = model.loss_terms(np.zeros((2, 28, 28, 1), "float32"), outputs)
        expected = {"elbo": timesteps * z_dim * k, "thesis": z_dim * k, "thesis_kl_mean": k}[scaling]
        np.testing.assert_allclose(np.asarray(kl), expected, rtol=1e-5)


def test_reconstruction_scaling_and_mse():
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    logits = np.random.default_rng(1).normal(size=(3, 784)).astype("float32")
    p = 1 / (1 + np.exp(-logits))
    bce = -(x.reshape(3, -1) * np.log(p) + (1 - x.reshape(3, -1)) * np.log(1 - p))
    outputs = {"logits": logits, "mu": np.zeros((3, 2, 4), "float32"), "log_var": np.zeros((3, 2, 4), "float32")}
    rec, _, _ = build_draw(2, 4, 8, loss_scaling="thesis").loss_terms(x, outputs)
    np.testing.assert_allclose(rec, bce.mean(-1), rtol=1e-5)
    rec, _, _ = build_draw(2, 4, 8).loss_terms(x, outputs)  # the default: the ELBO
    np.testing.assert_allclose(rec, bce.sum(-1), rtol=1e-5)
    rec, _, _ = build_draw(2, 4, 8, reconstruction="mse", loss_scaling="thesis").loss_terms(x, outputs)
    np.testing.assert_allclose(rec, ((x.reshape(3, -1) - p) ** 2).mean(-1), rtol=1e-5)


@pytest.mark.parametrize("scaling", ["elbo", "thesis", "thesis_kl_mean"])
@pytest.mark.parametrize("reconstruction", ["bce", "mse"])
def test_neg_elbo_is_in_nats_whatever_the_training_loss(scaling, reconstruction):
    # BCE summed over pixels + KL summed over steps and units (posterior N(m, v) everywhere).
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    logits = np.random.default_rng(1).normal(size=(3, 784)).astype("float32")
    p = 1 / (1 + np.exp(-logits))
    bce = -(x.reshape(3, -1) * np.log(p) + (1 - x.reshape(3, -1)) * np.log(1 - p))
    m, v = 0.7, 0.3
    outputs = {"logits": logits, "mu": np.full((3, 2, 4), m, "float32"),
               "log_var": np.full((3, 2, 4), np.log(v), "float32")}
    model = build_draw(2, 4, 8, loss_scaling=scaling, reconstruction=reconstruction)
    *_, neg_elbo = model.loss_terms(x, outputs)
    np.testing.assert_allclose(neg_elbo, bce.sum(-1) + 8 * 0.5 * (m**2 + v - np.log(v) - 1), rtol=1e-5)


def test_canvas_accumulates_and_ends_in_a_sigmoid():
    model = build_draw(3, 4, 16, seed=0)
    out = model(_batch())
    canvases = np.asarray(out["canvases"])
    assert canvases.shape == (6, 3, 784)
    assert canvases.min() > 0 and canvases.max() < 1
    np.testing.assert_allclose(canvases[:, -1], 1 / (1 + np.exp(-np.asarray(out["logits"]))), rtol=1e-5)
    assert not np.allclose(canvases[:, 0], canvases[:, 1])  # each step writes


@pytest.mark.parametrize("timesteps", [1, 3])
@pytest.mark.parametrize("conditional", [False, True])
def test_generator_reproduces_the_trainers_decoder(timesteps, conditional):
    model = build_draw(timesteps, 4, 16, conditional=conditional, seed=0)
    batch = _with_noise(_batch(), model)
    out = model(batch)
    inputs = {"z": np.asarray(out["z"])}
    if conditional:
        inputs["label"] = batch["label"]
    images = build_generator(model)(inputs)
    np.testing.assert_allclose(np.asarray(images).reshape(6, -1), out["canvases"][:, -1], atol=1e-5)


def test_one_step_is_a_plain_vae():
    # T=1: the encoder sees only the image (canvas and decoder state are empty), and the
    # loss is reconstruction + the KL of a single Gaussian code.
    model = build_draw(1, 4, 16, seed=0)
    batch = _with_noise(_batch(), model)
    a, b = model(batch), model({**batch, "image": batch["image"][::-1]})
    np.testing.assert_allclose(np.asarray(a["mu"])[::-1], b["mu"], atol=1e-6)
    rec, kl, neg_elbo = model.loss_terms(batch["image"], a)
    x, p = batch["image"].reshape(6, -1), 1 / (1 + np.exp(-np.asarray(a["logits"], np.float64)))
    np.testing.assert_allclose(rec, -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(kl, kl_divergence(a["mu"][:, 0], a["log_var"][:, 0]), rtol=1e-6)
    np.testing.assert_allclose(neg_elbo, np.asarray(rec) + np.asarray(kl), rtol=1e-6)
    z = np.asarray(a["mu"] + np.exp(0.5 * np.asarray(a["log_var"])) * batch["noise"])
    np.testing.assert_allclose(a["z"], z, atol=1e-6)


def test_shared_and_per_step_weights():
    t, z, h = 4, 3, 16
    shared, per_step = build_draw(t, z, h), build_draw(t, z, h, shared_weights=False)
    lstm = _lstm_params(2 * 784 + h, h) + _lstm_params(z, h)
    assert per_step.count_params() - shared.count_params() == (t - 1) * lstm
    for model in (shared, per_step):
        out = model(_batch())
        assert out["mu"].shape == (6, t, z) and out["logits"].shape == (6, 784)


def test_conditional_label_changes_the_image():
    model = build_draw(2, 4, 16, conditional=True, seed=0)
    generator = build_generator(model)
    z = np.zeros((2, 2, 4), "float32")
    images = np.asarray(generator({"z": z, "label": np.array([3, 7], "int32")}))
    assert images.shape == (2, 28, 28, 1) and not np.allclose(images[0], images[1])


def test_colour_images():
    model = build_draw(2, 4, 16, image_shape=(32, 32, 3))
    out = model(_batch(image_shape=(32, 32, 3)))
    assert out["logits"].shape == (6, 32 * 32 * 3)
    assert build_generator(model)({"z": np.zeros((1, 2, 4), "float32")}).shape == (1, 32, 32, 3)


def test_short_training_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = build_draw(2, 4, 32, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    batch = _batch(64)
    before = model.evaluate(batch, batch_size=64, verbose=0, return_dict=True)["loss"]
    model.fit(batch, batch_size=16, epochs=5, verbose=0)
    after = model.evaluate(batch, batch_size=64, verbose=0, return_dict=True)["loss"]
    assert after < before


@pytest.mark.parametrize("cell, attention, precision, shared_dense", [
    ("keras", 0, "float32", False), ("thesis", 0, "float32", False), ("keras", 3, "float32", False),
    ("keras", 0, "mixed_bfloat16", True), ("keras", 3, "mixed_bfloat16", True), ("keras", 3, "float32", True)])
def test_save_and_reload_in_a_fresh_process(tmp_path, cell, attention, precision, shared_dense):
    model = build_draw(3, 4, 16, conditional=True, seed=0, cell=cell, read_n=attention, write_n=attention,
                       precision=precision, shared_dense=shared_dense)
    model.compile(optimizer="adam")
    generator = build_generator(model)
    batch = _with_noise(_batch(), model)
    inputs = {"z": np.asarray(model(batch)["z"], "float32"), "label": batch["label"]}
    model.save(tmp_path / "trainer.keras")
    generator.save(tmp_path / "generator.keras")
    np.savez(tmp_path / "io.npz", logits=np.asarray(model(batch)["logits"], "float32"), images=generator(inputs),
             **batch,
             z=inputs["z"])
    script = textwrap.dedent(f"""
        import numpy as np, keras, mnistgen_tf
        io = np.load(r"{tmp_path / 'io.npz'}")
        trainer = keras.models.load_model(r"{tmp_path / 'trainer.keras'}")
        generator = keras.models.load_model(r"{tmp_path / 'generator.keras'}")
        batch = {{k: io[k] for k in ("image", "label", "noise")}}
        np.testing.assert_allclose(np.asarray(trainer(batch)["logits"], "float32"), io["logits"], atol=1e-5)
        images = generator.predict({{"z": io["z"], "label": io["label"]}}, verbose=0)
        np.testing.assert_allclose(images, io["images"], atol=1e-6)
        assert type(trainer).__name__ == "Draw" and trainer.conditional and trainer.timesteps == 3
        encoder = trainer.get_layer("encoder_lstm_0")
        from mnistgen_tf.layers import recurrent, step_products
        assert trainer.cell == "{cell}" and isinstance(getattr(encoder, "lstm", encoder), (
            recurrent.ThesisLSTMCell if "{cell}" == "thesis" else step_products.LSTMCell))
        assert trainer.read_n == trainer.write_n == generator.get_layer("writer").write_n == {attention}
        compute = "bfloat16" if "{precision}" == "mixed_bfloat16" else "float32"
        assert trainer.get_layer("z_mean_0").compute_dtype == compute
        assert generator.get_layer("writer").cells[0].compute_dtype == compute and images.dtype == "float32"
        if {attention}:  # the windows in float32 whatever the precision
            assert trainer.get_layer("read_window_0").compute_dtype == "float32"
            assert generator.get_layer("writer").write_window[0].compute_dtype == "float32"
        assert trainer.shared_dense == generator.get_layer("writer").shared_dense == {shared_dense}
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_outputs_on_a_data_set_feed_the_latent_metrics():
    from mnistgen_tf.metrics.latent import latent_report

    model = build_draw(3, 4, 16, conditional=True, seed=0)
    model.compile(optimizer="adam")
    batch = _batch(25)
    out = model.outputs_on(batch["image"], batch["label"], keys=("mu", "log_var", "canvases"), batch_size=10)
    assert out["mu"].shape == (25, 3, 4) and out["canvases"].shape == (25, 3, 784)
    # The first step's posterior sees only the image; later ones depend on the noise drawn.
    np.testing.assert_allclose(out["mu"][:, 0], model(batch)["mu"][:, 0], atol=1e-5)
    report = latent_report(out["mu"], out["log_var"])
    mu, variance = np.asarray(out["mu"], np.float64), np.exp(np.asarray(out["log_var"], np.float64))
    np.testing.assert_allclose(report.variance_law, (mu.var(axis=0) + variance.mean(axis=0)).mean(axis=-1), rtol=1e-6)
    assert report.inactive_count == (variance.mean(axis=0) > 0.9).sum()


@pytest.mark.parametrize("attention", [(0, 0), (2, 3)])
def test_outputs_model_shares_the_weights_and_gives_the_same_values(attention):
    read_n, write_n = attention
    model = build_draw(3, 4, 16, seed=0, read_n=read_n, write_n=write_n)
    model.compile(optimizer="adam", jit_compile=True)  # not the CPU's "auto": XLA off
    batch = _with_noise(_batch(6), model)
    lean = model.outputs_model(("logits", "z"))
    assert {id(w) for w in lean.weights} == {id(w) for w in model.weights} and lean.jit_compile is True
    out, whole = lean.predict_on_batch(batch), model.predict_on_batch(batch)
    assert sorted(out) == ["logits", "z"]
    for key in out:
        np.testing.assert_allclose(out[key], whole[key], rtol=1e-5, atol=1e-5)
    del batch["noise"]
    assert lean.predict_on_batch(batch)["z"].shape == (6, 3, 4)  # noise left out: drawn


@pytest.mark.parametrize("kind", ["keras", "thesis"])
def test_encoder_step_equals_the_cell(kind):
    # The image's share of the gates, computed apart, plus the encoder's step is one
    # step of the same kind of cell on [x, rest] with the two kernels stacked.
    from mnistgen_tf.layers.recurrent import EncoderLSTM, make_cell

    encoder = EncoderLSTM(8, 12, kind)
    encoder.build([(None, 32), (None, 7)])
    rng = np.random.default_rng(0)
    encoder.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3 for w in encoder.get_weights()])
    w_x = rng.standard_normal((5, 32)).astype("float32") * 0.3
    cell = keras.layers.LSTMCell(8) if kind == "keras" else make_cell(kind, 8, "reference")
    cell.build((None, 12))
    kernel, *others = encoder.lstm.get_weights()
    cell.set_weights([np.concatenate([w_x, kernel]), *others])
    x, rest, h, c = (rng.standard_normal((3, n)).astype("float32") for n in (5, 7, 8, 8))
    h_ref, (_, c_ref) = cell(np.concatenate([x, rest], axis=-1), [h, c])
    h_ours, c_ours = encoder([x @ w_x, rest], states=[h, c])
    np.testing.assert_allclose(h_ours, h_ref, atol=1e-5)
    np.testing.assert_allclose(c_ours, c_ref, atol=1e-5)


def test_step_lstm_cell_is_kerass_lstm_cell():
    from mnistgen_tf.layers import step_products

    ours, keras_cell = step_products.LSTMCell(8), keras.layers.LSTMCell(8)
    for cell in (ours, keras_cell):
        cell.build((None, 5))
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.3 for w in ours.get_weights()]
    ours.set_weights(weights)
    keras_cell.set_weights(weights)
    x, h, c = (rng.standard_normal((3, n)).astype("float32") for n in (5, 8, 8))
    for a, b in zip(keras.tree.flatten(ours(x, [h, c])), keras.tree.flatten(keras_cell(x, [h, c]))):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("options", [
    {}, {"cell": "thesis"}, {"shared_weights": False}, {"conditional": True, "shared_dense": True},
    {"read_n": 2, "write_n": 3, "shared_dense": True, "conditional": True},
    {"precision": "mixed_bfloat16", "shared_dense": True}])
def test_one_product_per_kernel_gives_autodiffs_gradients(options):
    # The train step's gradients (each kernel's products over all steps stacked into one) are
    # the gradients of plain autodiff, for every cell, sharing and attention.
    import tensorflow as tf

    from mnistgen_tf.layers.step_products import record_step_products

    model = build_draw(4, 3, 16, seed=0, **options)
    batch = _with_noise(_batch(), model)

    def loss():
        return model._step(batch, training=True)[0]

    with tf.GradientTape() as tape:
        plain = tape.gradient(loss(), model.trainable_weights)
    with tf.GradientTape() as tape, record_step_products(tape) as products:
        ours = products.gradients(loss(), model.trainable_weights)
    recorded = {id(kernel) for kernel, _ in products.uses.values()}
    assert {id(w) for w in model.trainable_weights if "kernel" in w.path and "image_gates" not in w.path} == recorded
    for weight, a, b in zip(model.trainable_weights, plain, ours):
        a, b = np.asarray(a), np.asarray(b)
        if model.precision == "float32":
            np.testing.assert_allclose(b, a, atol=1e-6, rtol=1e-4, err_msg=weight.path)
        else:  # bfloat16 products (8 significant bits) summed in another order
            assert np.abs(b - a).max() <= 0.02 * np.abs(a).max(), weight.path


def test_the_train_step_applies_the_gradients_of_loss_and_gradients():
    # train_step = loss_and_gradients (what the throughput benchmark's --breakdown times) + the optimizer.
    model = build_draw(3, 4, 16, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    batch = _with_noise(_batch(), model)
    terms, grads = model.loss_and_gradients(batch)
    before = [np.asarray(w) for w in model.trainable_weights]
    logs = model.train_step(batch)
    assert float(logs["loss"]) == pytest.approx(float(terms[0]), rel=1e-6)
    for weight, old, grad in zip(model.trainable_weights, before, grads):
        np.testing.assert_allclose(np.asarray(weight), old - np.asarray(grad), atol=1e-6, err_msg=weight.path)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_fit_trains_as_plain_autodiff_would(precision):
    # Draw.train_step itself, compiled as fit compiles it (XLA, two steps per execution, a
    # partial last batch that retraces), against the same trainer on autodiff's gradients.
    import tensorflow as tf

    from mnistgen_tf.models.draw import Draw

    class Autodiff(Draw):
        def train_step(self, data):
            with tf.GradientTape() as tape:
                terms = self._step(data, training=True)
            self.optimizer.apply(tape.gradient(terms[0], self.trainable_weights), self.trainable_weights)
            return self._report(*terms)

    keras.utils.set_random_seed(0)  # the initial weights, whatever ran before
    options = dict(timesteps=3, z_dim=4, units=8, seed=0, read_n=2, write_n=3, conditional=True,
                   shared_dense=True, precision=precision)
    ours, plain = Draw(**options), Autodiff(**options)
    start = ours.get_weights()
    plain.set_weights(start)
    for model in (ours, plain):
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True, steps_per_execution=2)
        model.fit(_batch(10), batch_size=4, epochs=1, shuffle=False, verbose=0)
    moved = max(np.abs(a - b).max() for a, b in zip(ours.get_weights(), start))
    differ = max(np.abs(a - b).max() for a, b in zip(ours.get_weights(), plain.get_weights()))
    assert moved > 1e-2  # training changed the weights as autodiff's training did:
    # In bfloat16 the two sum their products in other orders: from initial weights of seeds 0-5 they
    # differed by at most 0.4% of how far training moved them (2.2% while the windows' Dense layers were bf16).
    assert differ < (1e-6 if precision == "float32" else 0.01 * moved)


def _thesis_cell(input_dim=12, units=8):
    from mnistgen_tf.layers.recurrent import ThesisLSTMCell

    cell = ThesisLSTMCell(units)
    cell.build((None, input_dim))
    rng = np.random.default_rng(3)
    cell.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3 for w in cell.get_weights()])
    return cell


def test_the_thesis_cell_is_its_chapter_1_lstm():
    # NumPy reference of the thesis's lstm(xsize, csize, hsize): Dense gates on [x, c],
    # new_C = c f + i C~, new_h = tanh(Dense(new_C)) o.
    cell = _thesis_cell()
    kernel, recurrent, bias, out_kernel, out_bias = (np.asarray(w, np.float64) for w in cell.get_weights())
    rng = np.random.default_rng(0)
    x, h, c = rng.standard_normal((3, 12)), rng.standard_normal((3, 8)), rng.standard_normal((3, 8))
    b = np.concatenate([x, c], axis=-1)
    dense = lambda rows: b @ np.concatenate([kernel, recurrent])[:, rows] + bias[rows]  # noqa: E731
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, state, o = (dense(slice(k * 8, (k + 1) * 8)) for k in range(4))
    new_c = c * sigmoid(f) + sigmoid(i) * np.tanh(state)
    new_h = np.tanh(new_c @ out_kernel + out_bias) * sigmoid(o)
    h_ours, (_, c_ours) = cell(x.astype("float32"), [h.astype("float32"), c.astype("float32")])
    np.testing.assert_allclose(h_ours, new_h, atol=1e-5)
    np.testing.assert_allclose(c_ours, new_c, atol=1e-5)
    # h is accepted and ignored by construction.
    h_other, _ = cell(x.astype("float32"), [np.zeros((3, 8), "float32"), c.astype("float32")])
    np.testing.assert_array_equal(h_other, h_ours)


def test_the_trainer_is_a_functional_graph_of_its_steps():
    # summary() shows the connectivity, and a step's encoder can be cut out of the graph
    # as the thesis's variance-law code does with encoder[i].
    model = build_draw(3, 4, 16, conditional=True, seed=0)
    lines = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    text = "\n".join(lines)
    assert "Connected to" in text and "encoder_lstm_0" in text and "write_2" in text
    batch = _with_noise(_batch(), model)
    step_1 = keras.Model(model.input, model.get_layer("z_mean_1").output)
    np.testing.assert_allclose(step_1(batch), model(batch)["mu"][:, 1], atol=1e-5)
    # The encoder's image share is computed once per image with shared weights.
    assert len(model.get_layer("encoder_image_gates_0")._inbound_nodes) == 1
    assert len(model.get_layer("encoder_lstm_0")._inbound_nodes) == 3


def test_the_graph_shows_every_step():
    # keras.utils.model_to_dot is what plot_model renders (rendering itself needs graphviz's dot program).
    import re

    dot = keras.utils.model_to_dot(build_draw(3, 4, 16))  # a node per layer: shared layers once
    layer = {node.get_name(): re.search(r"<b>(.*?)</b>", str(node.get_label())).group(1)
             for node in dot.get_nodes() if node.get_label()}
    edges = {(layer.get(e.get_source()), layer.get(e.get_destination())) for e in dot.get_edges()}
    for t in range(3):  # each step's posterior mean reads the shared encoder and feeds the shared sampler
        assert {("encoder_lstm_0", f"z_mean_{t}"), (f"z_mean_{t}", "sample_z")} <= edges
    assert "z_mean_3" not in layer.values()


RESULTS = pathlib.Path(__file__).resolve().parents[1] / "results"
GENERATORS_IN_RESULTS = sorted(str(p) for pattern in ("thesis_*/**/generator.keras", "draw_*/**/generator.keras")
                               for p in RESULTS.glob(pattern))


@pytest.mark.parametrize("path", GENERATORS_IN_RESULTS, ids=lambda p: p.split("results/")[-1])
def test_draw_generators_in_results_still_load(path):
    generator = keras.models.load_model(path)
    shapes = {tensor.name: tensor.shape for tensor in generator.inputs}
    inputs = {"z": np.zeros((2, *shapes["z"][1:]), "float32")}
    if "label" in shapes:
        inputs["label"] = np.array([1, 7], "int32")
    images = np.asarray(generator(inputs))
    assert images.shape == (2, 28, 28, 1) and 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize("conditional", [False, True])
def test_attention_reads_glimpses_and_writes_patches(conditional):
    model = build_draw(3, 4, 16, conditional=conditional, seed=0, read_n=2, write_n=5)
    batch = _with_noise(_batch(), model)
    out = model(batch)
    assert out["logits"].shape == (6, 784)
    # The encoder reads 2·2x2 glimpses (+ h_dec, + the label), the decoder writes 5x5 patches.
    assert model.get_layer("encoder_lstm_0").kernel.shape[0] == 8 + 16 + 10 * conditional
    assert model.get_layer("write_0").kernel.shape == (16, 25)
    inputs = {"z": np.asarray(out["z"]), **({"label": batch["label"]} if conditional else {})}
    images = build_generator(model)(inputs)
    np.testing.assert_allclose(np.asarray(images).reshape(6, -1), out["canvases"][:, -1], atol=1e-5)


@pytest.mark.parametrize("conditional", [False, True])
def test_shared_dense_keeps_one_of_each_layer_as_the_draw_paper(conditional):
    timesteps, z_dim, units, read_n, write_n = 4, 5, 16, 2, 3
    options = dict(conditional=conditional, seed=0, read_n=read_n, write_n=write_n)
    per_step, shared = build_draw(timesteps, z_dim, units, **options), build_draw(
        timesteps, z_dim, units, shared_dense=True, **options)
    names = {layer.name for layer in shared.layers}
    assert {"z_mean_0", "z_log_var_0", "read_window_0"} <= names and not names & {"z_mean_1", "read_window_1"}
    writer = shared.writer
    assert len(writer.latent_dense) == len(writer.write_dense) == len(writer.write_window) == 1
    # Each step's Dense layers, as many as the steps beyond the first, are what sharing saves.
    dense = (2 * (units * z_dim + z_dim) + (units * 5 + 5)  # z_mean, z_log_var, read window
             + (z_dim * z_dim + z_dim) + (units * write_n**2 + write_n**2) + (units * 5 + 5))  # latent, write, window
    assert per_step.count_params() - shared.count_params() == (timesteps - 1) * dense
    batch = _with_noise(_batch(), shared)
    out = shared(batch)
    inputs = {"z": np.asarray(out["z"]), **({"label": batch["label"]} if conditional else {})}
    images = build_generator(shared)(inputs)
    np.testing.assert_allclose(np.asarray(images).reshape(6, -1), out["canvases"][:, -1], atol=1e-5)


def test_attention_windows_are_outputs_for_pictures():
    model = build_draw(3, 4, 16, seed=0, read_n=2, write_n=5)
    out = model(_with_noise(_batch(), model))
    assert out["read_windows"].shape == out["write_windows"].shape == (6, 3, 5)
    first = np.asarray(out["read_windows"])[:, 0]  # from the empty decoder state: the Dense's bias
    np.testing.assert_allclose(first, np.broadcast_to(model.get_layer("read_window_0").bias, first.shape), atol=1e-6)
    assert not np.allclose(out["write_windows"][:, 0], out["write_windows"][0, 0])  # set by each image's z
    assert "read_windows" not in build_draw(2, 4, 8)(_batch())  # no attention, no windows


def test_attention_needs_two_filters_a_side():
    with pytest.raises(ValueError, match="at least 2"):
        build_draw(2, 4, 8, read_n=1)


def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_weights_and_loss():
    keras.utils.set_random_seed(0)
    model = build_draw(2, 4, 32, seed=0, precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    assert model.get_layer("write_1").compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    batch = _batch(64)
    before = model.evaluate(batch, batch_size=64, verbose=0, return_dict=True)["loss"]
    model.fit(batch, batch_size=16, epochs=5, verbose=0)
    after = model.evaluate(batch, batch_size=64, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(after) and after < before
    # Outputs, canvas and attention windows stay float32: only the layers' arithmetic is bfloat16.
    assert all(v.dtype == "float32" for v in model(batch).values())
    attentive = build_draw(2, 4, 16, precision="mixed_bfloat16", read_n=2, write_n=3)
    windows = [attentive.get_layer("attentive_read"), attentive.get_layer("read_window_0"),
               attentive.writer.attentive_write, attentive.writer.write_window[0]]
    assert [layer.compute_dtype for layer in windows] == ["float32"] * 4
    assert attentive.get_layer("encoder_lstm_0").compute_dtype == "bfloat16"  # the rest stays bfloat16
    assert all(v.dtype == "float32" for v in attentive(batch).values())


def test_a_trainer_saved_before_the_functional_draw_names_its_problem():
    from mnistgen_tf.errors import MnistgenError
    from mnistgen_tf.models.draw import Draw

    old = {k: v for k, v in build_draw(2, 4, 8).get_config().items() if k != "precision"}
    with pytest.raises(MnistgenError, match="older version of the kit"):
        Draw.from_config(old)
