"""The model families the kit trains, by name: options, trainer, data, generator.

A family is a `Family`: a frozen dataclass of options with their defaults
(each `option` carries its help text and allowed values, from which
``mnistgen train <family>`` makes its flags), a function that builds the
compiled trainer from those options, the kind of data pipeline it trains on
(`mnistgen_tf.data.PIPELINES`), and a function that turns the trained
trainer into the generator that is saved and sampled.  The one trainer in
`mnistgen_tf.train` and the CLI read everything else from here.

Adding a family: write ``models/<family>.py`` (Functional builders, and a
`keras.Model` subclass with ``train_step`` when training is more than a
compiled loss), then one `Family` entry at the bottom of this file.
"""

import dataclasses
import math
from typing import Callable, Optional, Union

from mnistgen_tf.data import DATASETS, PIPELINES
from mnistgen_tf.errors import MnistgenError


def option(default, help, choices=None, minimum=None, maximum=None, above=None, off_flag=None):
    """A family option: its default, a help line, allowed values, bounds.

    ``minimum`` and ``maximum`` are inclusive, ``above`` exclusive (a learning
    rate must be above 0: at 0 nothing trains).  A boolean option whose
    default is True gets a CLI flag that turns it off: ``off_flag`` is its
    spelling and the `help` describes that flag, e.g. ``("--per-step-weights",
    "one LSTM per step instead of one shared")`` for ``shared_weights``.
    """
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum,
                                                        "maximum": maximum, "above": above, "off_flag": off_flag})


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Options every family has."""

    dataset: str = option("mnist", "training data", choices=DATASETS)
    epochs: int = option(10, "training epochs", minimum=1)
    batch_size: int = option(100, "training batch size", minimum=1)
    learning_rate: float = option(1e-3, "Adam learning rate", above=0)
    subset: Optional[int] = option(None, "train on the first N training images only (at least 20)", minimum=20)
    seed: int = option(0, "random seed of weights, data order and noise (0 to 2**32 - 1)", minimum=0,
                       maximum=2**32 - 1)
    convergence_delta: float = option(0.0, "stop before --epochs once the validation loss (DRAW: its -ELBO in "
                                           "nats) changed by less than this over the last 2 epochs (0: train "
                                           "all --epochs)", minimum=0)


@dataclasses.dataclass(frozen=True)
class Family:
    """One trainable model family (see the module docstring).

    ``build(options)`` returns a compiled, built trainer; ``generator(trainer,
    options)`` the Functional generator to save: inputs ``z`` and/or
    ``label`` (see `mnistgen_tf.sampling`), or, when not ``samples_noise``,
    other named inputs (the adder's ``image`` and ``number``).  ``monitor`` is the logged
    quantity whose minimum picks the saved epoch, or a function of the options
    that names it; None saves the last epoch (models with no validation loss,
    such as GANs).
    """

    name: str
    summary: str
    description: str
    options: type
    data: str
    build: Callable
    generator: Callable
    monitor: Union[str, Callable, None] = "val_loss"
    # The logged quantity whose settling stops a run with convergence_delta (None: the monitor).
    converges_on: Optional[str] = None
    val_batch_size: Optional[int] = None  # None: the training batch size
    # ``callbacks(options, out_dir) -> [keras callbacks]`` run each epoch before it is recorded.
    callbacks: Optional[Callable] = None
    samples_noise: bool = True  # False: the generator maps other inputs (an image and a number) to images
    # Models saved beside the generator, ``{file name: function(trainer) -> model}`` (e.g. the VAE's
    # encoder, which style transfer needs).
    companions: dict = dataclasses.field(default_factory=dict)

    def monitor_for(self, options):
        """The logged quantity that picks the saved epoch of a run with `options` (None: the last)."""
        return self.monitor(options) if callable(self.monitor) else self.monitor

    def convergence_key(self, options):
        """The logged quantity `options.convergence_delta` watches (None: the family logs none)."""
        return self.converges_on or self.monitor_for(options)

    def make_options(self, **values):
        """The family's options with `values` applied, checked; a one-line error names a bad one."""
        names = {f.name: f for f in dataclasses.fields(self.options)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise MnistgenError(f"{self.name} has no option {unknown[0]!r}; its options are {', '.join(names)}")
        for name, value in values.items():
            _check_value(names[name], value)
        return self.options(**values)


def _check_value(field, value):
    meta, name = field.metadata, field.name
    if value is None:
        if field.default is not None:
            raise MnistgenError(f"{name} needs a value")
        return
    kind = type(field.default) if field.default is not None else int
    if kind is bool:
        if not isinstance(value, bool):
            raise MnistgenError(f"{name} must be true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MnistgenError(f"{name} must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise MnistgenError(f"{name} must be a finite number, got {value!r}")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise MnistgenError(f"{name} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise MnistgenError(f"{name} must be at least {meta['minimum']}, got {value!r}")
    if meta["above"] is not None and value <= meta["above"]:
        raise MnistgenError(f"{name} must be above {meta['above']}, got {value!r}")
    high = meta["maximum"]
    if high is not None and value > high:
        raise MnistgenError(f"{name} must be at most {high}, got {value!r}")


# ------------------------------------------------------------------ DRAW

@dataclasses.dataclass(frozen=True)
class DrawOptions(TrainingOptions):
    conditional: bool = option(False, "condition encoder and decoder on the digit label")
    timesteps: int = option(16, "drawing steps T", minimum=1)
    z_dim: int = option(16, "latent variables per step", minimum=1)
    units: int = option(256, "LSTM state size", minimum=1)
    shared_weights: bool = option(True, "one LSTM per step instead of one shared by all steps",
                                  off_flag="--per-step-weights")
    shared_dense: bool = option(False, "one of each Dense layer around the LSTMs for all steps, as the DRAW "
                                       "paper (the thesis has one per step)")
    reconstruction: str = option("bce", "reconstruction loss", choices=("bce", "mse"))
    loss_scaling: str = option("elbo", "elbo: the negative ELBO in nats; thesis: mean-over-pixels reconstruction "
                                       "+ KL summed over units / T (one reading of the thesis's code; collapses "
                                       "the posterior on MNIST); thesis_kl_mean: + KL averaged over units and "
                                       "steps (the other reading, the Keras VAE tutorial's kl_loss, and the one "
                                       "consistent with the thesis's figures: results/thesis_fidelity)",
                               choices=("elbo", "thesis", "thesis_kl_mean"))
    cell: str = option("keras", "LSTM of encoder and decoder: keras (LSTMCell) or thesis (the thesis's own: gates "
                                "read [x, c], h = tanh(Dense(c)) * o)", choices=("keras", "thesis"))
    read_n: int = option(0, "attention: read an N x N glimpse of the image and of the error image through a "
                            "Gaussian window the decoder moves (the DRAW paper; 0: read them whole, as the thesis)",
                         minimum=0)
    write_n: int = option(0, "attention: write an N x N patch through a Gaussian window (0: write the whole canvas)",
                          minimum=0)
    binarize: bool = option(False, "threshold pixels at 0.5")
    dynamic_binarization: bool = option(False, "binarized MNIST as in the DRAW paper: each pixel 1 with probability "
                                               "its intensity, drawn afresh for every training batch; validation "
                                               "and test images are one fixed draw")
    test_every_epoch: bool = option(False, "evaluate the -ELBO in nats on the test split after every epoch "
                                           "(history column test_neg_elbo, the DRAW paper's curve; the saved "
                                           "epoch is still chosen on the validation split)")
    clip_norm: float = option(0.0, "clip the gradient's global norm at this value before Adam steps (0: no "
                                   "clipping; guards a long run against a spike's blowing it up)", minimum=0)
    precision: str = option("float32", "mixed_bfloat16: compute in bfloat16 with float32 weights and loss",
                            choices=("float32", "mixed_bfloat16"))
    # Measured on CPU (results/benchmarks/draw_xla.txt); draw_paper_mnist trains without it.
    xla: bool = option(True, "train without XLA compilation (on CPU, XLA trains the thesis's configuration 1.2x "
                             "faster and the DRAW paper's, T 64 and z 100, 3.4x slower)", off_flag="--no-xla")

    def __post_init__(self):
        for name in ("read_n", "write_n"):
            if getattr(self, name) == 1:
                raise MnistgenError(f"--{name.replace('_', '-')} must be 0 (no attention) or at least 2, got 1")
        if self.binarize and self.dynamic_binarization:
            raise MnistgenError("--binarize (threshold at 0.5) and --dynamic-binarization (Bernoulli draws) "
                                "exclude each other")


def _draw_trainer(options, image_shape):
    import keras

    from mnistgen_tf.models.draw import build_draw

    model = build_draw(timesteps=options.timesteps, z_dim=options.z_dim, units=options.units,
                       shared_weights=options.shared_weights, reconstruction=options.reconstruction,
                       conditional=options.conditional, loss_scaling=options.loss_scaling,
                       image_shape=image_shape, seed=options.seed, cell=options.cell, read_n=options.read_n,
                       write_n=options.write_n, precision=options.precision, shared_dense=options.shared_dense)
    # XLA fuses DRAW's many small per-step ops.
    optimizer = keras.optimizers.Adam(options.learning_rate, global_clipnorm=options.clip_norm or None)
    model.compile(optimizer=optimizer, jit_compile=options.xla)
    return model


def _draw_callbacks(options, out_dir):
    from mnistgen_tf import data
    from mnistgen_tf.callbacks import TestSplitLoss

    if not options.test_every_epoch:
        return []
    images, labels = data.load(options.dataset, "test")
    return [TestSplitLoss(data.for_evaluation(images, dataclasses.asdict(options)), labels, "neg_elbo",
                          options.batch_size)]


def _draw_generator(trainer, options):
    from mnistgen_tf.models.draw import build_generator

    return build_generator(trainer)


# ------------------------------------------------------------------ label -> image decoders

LABEL_DECODER_VARIANTS = ("A", "B", "transformer-1", "transformer-6", "decoder-only")


@dataclasses.dataclass(frozen=True)
class LabelDecoderOptions(TrainingOptions):
    variant: str = option("A", "A: dense, latent 10; B: dense, latent 1; transformer-1/-6: 1+1 or 6+6 layers; "
                               "decoder-only: no encoder, no attention", choices=LABEL_DECODER_VARIANTS)
    epochs: int = option(3, "training epochs", minimum=1)
    batch_size: int = option(16, "training batch size", minimum=1)


def _label_decoder_trainer(options, image_shape):
    import keras

    from mnistgen_tf.models.label_decoders import build_label_decoder

    model = build_label_decoder(options.variant)
    model.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss="binary_crossentropy")
    return model


def _uncompiled_copy(trainer, options):
    """The trained model itself, without optimizer state: it is its own generator."""
    import keras

    generator = keras.models.clone_model(trainer)
    generator.set_weights(trainer.get_weights())
    return generator


# ------------------------------------------------------------------ seed 002: conv autoencoders

DECODERS = ("convtranspose", "upsample", "interpolate")  # as `models.autoencoder.DECODERS` (a test keeps them equal)

@dataclasses.dataclass(frozen=True)
class AutoencoderOptions(TrainingOptions):
    dataset: str = option("mnist", "training data (28x28 grey images)", choices=("mnist", "fashion_mnist"))
    decoder: str = option("convtranspose", "convtranspose: learned Conv2DTranspose; upsample: nearest-neighbour "
                                           "UpSampling2D + Conv; interpolate: bilinear resizing + Conv",
                          choices=DECODERS)
    latent_dim: int = option(2, "size of the code", minimum=1)
    loss: str = option("l2", "reconstruction loss: l2 (mean squared error) or bce", choices=("l2", "bce"))
    epochs: int = option(30, "training epochs", minimum=1)
    batch_size: int = option(128, "training batch size", minimum=1)


def _autoencoder_trainer(options, image_shape):
    from mnistgen_tf.models.autoencoder import build_autoencoder, compile_autoencoder

    model = build_autoencoder(options.decoder, options.latent_dim, image_shape)
    return compile_autoencoder(model, options.loss, options.learning_rate)


def _decoder_of(trainer, options):
    """The trained decoder (input ``z``): codes -> images."""
    return trainer.get_layer("decoder")


@dataclasses.dataclass(frozen=True)
class AdderOptions(TrainingOptions):
    dataset: str = option("mnist", "training data (digits)", choices=("mnist",))
    kind: str = option("ae", "ae: deterministic E, D, P; vae: variational encoder; generative: variational "
                             "encoder and adder P", choices=("ae", "vae", "generative"))
    latent_dim: int = option(7, "size of the code", minimum=1)
    decoder: str = option("convtranspose", "the autoencoder's decoder D",
                          choices=DECODERS)
    image_weight: float = option(0.1, "weight of the L2 reconstruction of the input image", minimum=0)
    sum_weight: float = option(1.0, "weight of the sum's L2 (see --sum-loss)",
                               minimum=0)
    sum_loss: str = option("image", "where the sum's L2 is taken: image (the seed: against the target image), "
                                    "code (against the target's code, E held fixed; decodes sharp digits) or "
                                    "class_code (against the running mean code of the target's digit)",
                           choices=("image", "code", "class_code"))
    kl_encoder_weight: float = option(1e-5, "weight of the encoder's KL (vae, generative)", minimum=0)
    kl_adder_weight: float = option(1e-5, "weight of the adder's KL (generative)", minimum=0)
    balanced: bool = option(False, "draw the sums uniformly over 0-9 (the seed's balanced data) instead of "
                                   "one pair per training image")
    adder_units: int = option(128, "units of each hidden layer of P", minimum=1)
    adder_layers: int = option(2, "hidden layers of P", minimum=1)
    freeze_autoencoder_after: int = option(0, "train in two stages: after this many epochs E and D stop "
                                              "training and P alone learns, on codes that no longer move "
                                              "(0: one stage)", minimum=0)
    epochs: int = option(30, "training epochs", minimum=1)
    batch_size: int = option(128, "training batch size", minimum=1)


def _with_adam(model, learning_rate):
    """A subclassed trainer (its parts built when made), built and compiled with Adam."""
    import keras

    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def _adder_callbacks(options, out_dir):
    from mnistgen_tf.callbacks import FreezeParts

    after = options.freeze_autoencoder_after
    return [FreezeParts(after, ("encoder", "decoder"))] if after else []


def _adder_trainer(options, image_shape):
    from mnistgen_tf.models.adder import Adder

    model = Adder(kind=options.kind, latent_dim=options.latent_dim, decoder=options.decoder,
                  image_weight=options.image_weight, sum_weight=options.sum_weight,
                  kl_encoder_weight=options.kl_encoder_weight, kl_adder_weight=options.kl_adder_weight,
                  sum_loss=options.sum_loss, adder_units=options.adder_units, adder_layers=options.adder_layers,
                  seed=options.seed)
    return _with_adam(model, options.learning_rate)


def _adder_inference(trainer, options):
    from mnistgen_tf.models.adder import build_inference

    return build_inference(trainer)


@dataclasses.dataclass(frozen=True)
class GanOptions(TrainingOptions):
    dataset: str = option("fashion_mnist", "training data (28x28 grey images)", choices=("mnist", "fashion_mnist"))
    latent_dim: int = option(100, "size of the generator's noise", minimum=1)
    epochs: int = option(50, "training epochs", minimum=1)
    batch_size: int = option(245, "training batch size", minimum=1)
    beta_1: float = option(0.9, "Adam beta_1 of both networks (0.9: Keras's default, which the seed, naming only the rate, "
                                    "presumably kept; DCGAN: 0.5)",
                           minimum=0, maximum=0.999)
    real_label: float = option(0.9, "the discriminator's target for real images (0.9: the seed's label "
                                    "smoothing; 1: none)", above=0, maximum=1)
    lr_schedule: str = option("constant", "constant, or cosine: both learning rates fall from --learning-rate "
                                          "towards 0 over the epochs", choices=("constant", "cosine"))
    fid_samples: int = option(5000, "FID[dataset-cnn] of this many samples after every epoch, in "
                                    "history.csv (0: none)", minimum=0)


def _gan_trainer(options, image_shape):
    from mnistgen_tf.models.gan import DCGAN

    model = DCGAN(latent_dim=options.latent_dim, learning_rate=options.learning_rate, beta_1=options.beta_1,
                  real_label=options.real_label, seed=options.seed)
    model.build()
    model.compile()
    return model


def _gan_sampler(trainer, options=None):
    from mnistgen_tf.models.gan import build_sampler

    return build_sampler(trainer)


def _gan_callbacks(options, out_dir):
    from mnistgen_tf.callbacks import EpochLearningRate, EpochSamples

    callbacks = [EpochSamples(out_dir, _gan_sampler, options.dataset, options.fid_samples, seed=options.seed)]
    if options.lr_schedule == "cosine":
        callbacks.insert(0, EpochLearningRate(options.learning_rate, options.epochs))
    return callbacks


@dataclasses.dataclass(frozen=True)
class VaeOptions(TrainingOptions):
    dataset: str = option("mnist", "training data (28x28 grey images)", choices=("mnist", "fashion_mnist"))
    latent_dim: int = option(16, "size of the code", minimum=1)
    beta: float = option(1.0, "weight of the KL (1: VAE, above 1: beta-VAE)", minimum=0)
    reconstruction: str = option("bce", "reconstruction term summed over pixels: bce (with beta 1 the loss is the "
                                        "negative ELBO) or l2 (squared error)", choices=("bce", "l2"))
    conditional: bool = option(False, "condition encoder and decoder on the digit (CVAE)")
    width: int = option(1, "multiplier of the networks' filters and hidden units (1: 32/64 filters, 256 units)",
                        minimum=1)
    depth: int = option(1, "convolutions per resolution in encoder and decoder (1: one strided each)", minimum=1)
    epochs: int = option(30, "training epochs", minimum=1)
    batch_size: int = option(128, "training batch size", minimum=1)


def _vae_trainer(options, image_shape):
    from mnistgen_tf.models.vae import VAE

    model = VAE(latent_dim=options.latent_dim, beta=options.beta, reconstruction=options.reconstruction,
                conditional=options.conditional, width=options.width, depth=options.depth, seed=options.seed)
    return _with_adam(model, options.learning_rate)


def _vae_generator(trainer, options):
    from mnistgen_tf.models.vae import build_generator

    return build_generator(trainer)


def _vae_encoder(trainer):
    return trainer.encoder


@dataclasses.dataclass(frozen=True)
class DdpmOptions(TrainingOptions):
    dataset: str = option("mnist", "training data (28x28 grey images)", choices=("mnist", "fashion_mnist"))
    schedule: str = option("linear", "noise schedule of the T steps: linear (Ho et al.) or cosine (Nichol & "
                                     "Dhariwal)", choices=("linear", "cosine"))
    timesteps: int = option(1000, "T, the steps of the forward process", minimum=2)
    base_channels: int = option(32, "channels of the U-Net's first level (then 2x, 2x); a multiple of 8",
                                minimum=8)
    ema: float = option(0.999, "decay of the moving average of the U-Net's weights that validation and "
                               "sampling use (0: the trained weights themselves)", minimum=0, maximum=0.99999)
    sample_steps: int = option(50, "reverse steps of the saved generator (at most T)", minimum=1)
    eta: float = option(0.0, "the saved generator's sampler: 0 = DDIM (deterministic), 1 = DDPM (with "
                             "--sample-steps T, Ho et al.'s sampler)", minimum=0, maximum=1)
    epochs: int = option(20, "training epochs", minimum=1)
    batch_size: int = option(128, "training batch size", minimum=1)
    learning_rate: float = option(2e-4, "Adam learning rate (2e-4: Ho et al.)", above=0)

    def __post_init__(self):  # checks across options, before anything is built or written
        if self.base_channels % 8:
            raise MnistgenError(f"base_channels must be a multiple of 8 (group normalisation), got "
                                f"{self.base_channels}")
        if self.sample_steps > self.timesteps:
            raise MnistgenError(f"sample_steps must be at most timesteps ({self.timesteps}), got "
                                f"{self.sample_steps}")


def _ddpm_trainer(options, image_shape):
    from mnistgen_tf.models.ddpm import DDPM

    model = DDPM(schedule=options.schedule, timesteps=options.timesteps, base_channels=options.base_channels,
                 ema=options.ema, seed=options.seed)
    return _with_adam(model, options.learning_rate)


def _ddpm_sampler(trainer, options):
    from mnistgen_tf.models.ddpm import build_sampler

    return build_sampler(trainer.ema_unet, trainer.schedule, trainer.timesteps, options.sample_steps, options.eta,
                         seed=options.seed)


@dataclasses.dataclass(frozen=True)
class VqvaeOptions(TrainingOptions):
    dataset: str = option("mnist", "training data (28x28 grey images)", choices=("mnist", "fashion_mnist"))
    num_embeddings: int = option(64, "K, the codebook's size", minimum=2)
    embedding_dim: int = option(16, "D, the size of each codebook vector", minimum=1)
    commitment: float = option(0.25, "beta, weight of the commitment term", minimum=0)
    ema: bool = option(False, "update the codebook by moving averages instead of its loss term")
    prior_filters: int = option(64, "filters of the PixelCNN prior", minimum=1)
    epochs: int = option(20, "training epochs", minimum=1)
    batch_size: int = option(128, "training batch size", minimum=1)


def _vqvae_trainer(options, image_shape):
    from mnistgen_tf.models.vqvae import VQVAE

    model = VQVAE(num_embeddings=options.num_embeddings, embedding_dim=options.embedding_dim,
                  commitment=options.commitment, ema=options.ema, prior_filters=options.prior_filters)
    return _with_adam(model, options.learning_rate)


def _vqvae_sampler(trainer, options):
    from mnistgen_tf.models.vqvae import build_sampler

    return build_sampler(trainer)


FAMILIES = {family.name: family for family in (
    Family(
        name="draw",
        summary="DRAW (recurrent VAE) or conditional DRAW",
        description="Train DRAW as in the thesis, an LSTM encoder and decoder writing on a canvas over T "
                    "steps, or with the DRAW paper's attention (--read-n, --write-n, --shared-dense).",
        options=DrawOptions, data="images", build=_draw_trainer, generator=_draw_generator,
        converges_on="val_neg_elbo", callbacks=_draw_callbacks,
    ),
    Family(
        name="label-decoder",
        summary="label -> image decoders (Model A/B, transformers, decoder-only)",
        description="Train a model that receives only a digit label and outputs one image, with BCE against "
                    "the training images, as in the Italian report.",
        options=LabelDecoderOptions, data="label_to_image", build=_label_decoder_trainer,
        generator=_uncompiled_copy, val_batch_size=500,
    ),
    Family(
        name="autoencoder",
        summary="conv autoencoder with one of three decoders (seed 002)",
        description="Train seed 002's reconstruction autoencoder: a conv encoder to a small code and a "
                    "convtranspose, upsample or interpolate decoder, with an L2 or BCE loss. The saved "
                    "generator is the decoder (codes -> images); best.keras holds the whole autoencoder.",
        options=AutoencoderOptions, data="image_to_image", build=_autoencoder_trainer, generator=_decoder_of,
    ),
    Family(
        name="adder",
        summary="image of a digit + a number -> image of the sum (seed 002)",
        description="Train seed 002's adder: the autoencoder's encoder E and decoder D with an MLP P from "
                    "[code, b] to the code of a + b, on pairs (image of a, b) with a + b <= 9. The saved "
                    "generator is the inference model E, P, D (inputs image and number); use `mnistgen add`.",
        options=AdderOptions, data="addition", build=_adder_trainer, generator=_adder_inference,
        monitor=lambda options: "val_l2_sum" if options.sum_loss == "image" else "val_l2_code",
        samples_noise=False, callbacks=_adder_callbacks,
    ),
    Family(
        name="gan",
        summary="DCGAN on Fashion-MNIST or MNIST (seed 003)",
        description="Train seed 003's DCGAN: a generator from 100-d noise and a discriminator, updated in "
                    "turns with label smoothing on real images. After each epoch a grid from fixed noise goes "
                    "to samples/ and the FID of fresh samples to history.csv. The saved generator is the last "
                    "epoch's, rescaled to [0, 1].",
        options=GanOptions, data="images", build=_gan_trainer, generator=_gan_sampler, monitor=None,
        callbacks=_gan_callbacks,
    ),
    Family(
        name="vae",
        summary="conv VAE, beta-VAE or CVAE (seeds 003, 004)",
        description="Train a convolutional VAE: reconstruction summed over pixels plus beta times the KL; "
                    "--conditional gives the CVAE. The saved generator is the decoder (inputs z and, "
                    "conditional, label), and DIR/encoder.keras the encoder (image and, conditional, label -> "
                    "z_mean, z_log_var); the saved epoch is the one with the lowest validation loss.",
        options=VaeOptions, data="images", build=_vae_trainer, generator=_vae_generator,
        companions={"encoder.keras": _vae_encoder},
    ),
    Family(
        name="ddpm",
        summary="denoising diffusion (DDPM) with DDIM sampling (seed 004)",
        description="Train a DDPM: a U-Net learns the noise added by the forward process q(x_t|x_0) over T "
                    "steps (linear or cosine schedule). The saved generator runs the reverse chain inside "
                    "the model: --sample-steps 50 --eta 0 (DDIM, the default) or --sample-steps 1000 --eta 1 "
                    "(Ho et al.'s sampler); its input z is x_T.",
        options=DdpmOptions, data="images", build=_ddpm_trainer, generator=_ddpm_sampler,
    ),
    Family(
        name="vqvae",
        summary="VQ-VAE with a PixelCNN prior over its codes (seed 004)",
        description="Train a VQ-VAE (codebook, straight-through gradient, codebook and commitment terms; "
                    "--ema for moving-average codebook updates) and, in the same steps, a PixelCNN prior over "
                    "its 7x7 grid of code indices. The saved generator draws a grid from the prior inside the "
                    "model and decodes it; its input z (7, 7, K) fixes the draw.",
        options=VqvaeOptions, data="images", build=_vqvae_trainer, generator=_vqvae_sampler,
    ),
)}
assert all(family.data in PIPELINES for family in FAMILIES.values())


def get_family(name):
    try:
        return FAMILIES[name]
    except KeyError:
        raise MnistgenError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}") from None
