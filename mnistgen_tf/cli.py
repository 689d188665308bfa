"""The `mnistgen` command line: train and sample generators."""

import argparse
import os
import sys

from mnistgen_tf.errors import MnistgenError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _digit(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"digit must be an integer 0-9, got {text!r}") from None
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"digit {value} is outside 0-9")
    return value


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_train_draw(sub):
    p = sub.add_parser("draw", help="DRAW (recurrent VAE) or conditional DRAW",
                       description="Train DRAW without attention, as in the thesis. Writes DIR/generator.keras, "
                                   "DIR/history.csv, DIR/config.json and checkpoints for --resume.")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder")
    p.add_argument("--dataset", choices=("mnist", "fashion_mnist", "cifar10"), default="mnist")
    p.add_argument("--conditional", action="store_true", help="condition encoder and decoder on the digit label")
    p.add_argument("--timesteps", type=_positive, default=16, metavar="T", help="drawing steps (default 16)")
    p.add_argument("--z-dim", type=_positive, default=16, metavar="Z", help="latent variables per step (default 16)")
    p.add_argument("--units", type=_positive, default=256, metavar="H", help="LSTM state size (default 256)")
    p.add_argument("--per-step-weights", action="store_true", help="one LSTM per step instead of one shared")
    p.add_argument("--reconstruction", choices=("bce", "mse"), default="bce")
    p.add_argument("--loss-scaling", choices=("thesis", "elbo"), default="thesis",
                   help="thesis: mean-over-pixels reconstruction + KL/T; elbo: the bound in nats")
    p.add_argument("--binarize", action="store_true", help="threshold pixels at 0.5")
    p.add_argument("--epochs", type=_positive, default=10)
    p.add_argument("--batch-size", type=_positive, default=100)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--subset", type=_positive, metavar="N", help="train on the first N training images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-xla", action="store_true", help="train without XLA compilation (slower)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in DIR")
    p.add_argument("--tensorboard", action="store_true", help="also log to DIR/tensorboard")
    p.set_defaults(run=_train_draw)


def _train_draw(args):
    from mnistgen_tf.train import train_draw

    train_draw(args.out, resume=args.resume, tensorboard=args.tensorboard,
               dataset=args.dataset, conditional=args.conditional, timesteps=args.timesteps,
               z_dim=args.z_dim, units=args.units, shared_weights=not args.per_step_weights,
               reconstruction=args.reconstruction, loss_scaling=args.loss_scaling,
               binarize=args.binarize, epochs=args.epochs, batch_size=args.batch_size,
               learning_rate=args.learning_rate, subset=args.subset, seed=args.seed, xla=not args.no_xla)
    print(f"wrote {os.path.join(args.out, 'generator.keras')}")


# Spelled out here so that parsing stays free of TensorFlow; tests check it against the module.
LABEL_DECODER_VARIANTS = ("A", "B", "transformer-1", "transformer-6", "decoder-only")


def _add_train_label_decoder(sub):
    p = sub.add_parser("label-decoder", help="label -> image decoders (Model A/B, transformers, decoder-only)",
                       description="Train a model that receives only a digit label and outputs one image, with "
                                   "BCE against the training images, as in the Italian report. Writes "
                                   "DIR/generator.keras, DIR/history.csv, DIR/config.json and checkpoints "
                                   "for --resume.")
    p.add_argument("--variant", required=True, choices=LABEL_DECODER_VARIANTS,
                   help="A: dense, latent 10; B: dense, latent 1; transformer-1/-6: 1+1 or 6+6 layers; "
                        "decoder-only: no encoder, no attention")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder")
    p.add_argument("--epochs", type=_positive, default=3)
    p.add_argument("--batch-size", type=_positive, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=_positive, metavar="N", help="train on the first N training images only")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in DIR")
    p.set_defaults(run=_train_label_decoder)


def _train_label_decoder(args):
    from mnistgen_tf.models.label_decoders import train_label_decoder

    train_label_decoder(args.out, args.variant, epochs=args.epochs, batch_size=args.batch_size,
                        seed=args.seed, subset=args.subset, resume=args.resume)
    print(f"wrote {os.path.join(args.out, 'generator.keras')}")


def _check_output(path):
    if not path.endswith((".png", ".npy")):
        raise MnistgenError(f"--out must end in .png or .npy, got {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise MnistgenError(f"cannot write {path}: folder {folder} is missing or not writable")


def _sample(args):
    import numpy as np

    from mnistgen_tf.figures import save_grid_png
    from mnistgen_tf.sampling import load_generator, sample

    _check_output(args.out)
    generator = load_generator(args.generator)
    images = sample(generator, args.n, args.digit, args.seed)
    tmp = args.out[:-4] + ".tmp" + args.out[-4:]
    try:
        if args.out.endswith(".npy"):
            np.save(tmp, images)
        else:
            save_grid_png(images, tmp, ncols=10 if args.n >= 10 else None)
        os.replace(tmp, args.out)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise MnistgenError(f"cannot write {args.out}: {e.strerror}") from None
    print(f"wrote {args.out} ({args.n} images)")


def _fid(args):
    from mnistgen_tf.metrics.features import get_extractor
    from mnistgen_tf.metrics.fid import fid

    extractor = get_extractor(args.features)
    distance, a, b = fid(args.a, args.b, extractor, args.n, args.seed)
    print(f"FID[{extractor.name}] = {distance:.4f}   ({args.a}: {a.count} images, {args.b}: {b.count} images)")


def _sweep(args):
    from mnistgen_tf import sweep
    from mnistgen_tf.sweeps import get_experiment

    experiment = get_experiment(args.experiment)
    if args.aggregate:
        print("wrote " + ", ".join(sweep.aggregate(experiment, args.results, args.quick)))
        return
    shard = sweep.resolve_shard(args.shard)  # before anything is written
    sweep.run(experiment, args.results, args.quick, shard, verbose=0 if args.quick else 2)


def _figures(args):
    from mnistgen_tf.sweep import make_figures
    from mnistgen_tf.sweeps import EXPERIMENTS

    paths = make_figures(EXPERIMENTS.values(), args.results, args.quick)
    print(f"wrote {len(paths)} figures" + "".join(f"\n  {path}" for path in paths))


def _add_sweep_commands(commands):
    from mnistgen_tf.sweeps import EXPERIMENTS

    p = commands.add_parser("sweep", help="run an experiment's grid of training runs",
                            description="Train and evaluate every cell of EXPERIMENT into RESULTS/EXPERIMENT/cells/ "
                                        "(one cell.json each), skipping finished cells and resuming an interrupted "
                                        "one, then write RESULTS/EXPERIMENT/table.csv and table.md.")
    p.add_argument("experiment", metavar="EXPERIMENT", choices=sorted(EXPERIMENTS),
                   help="one of " + ", ".join(sorted(EXPERIMENTS)))
    p.add_argument("--quick", action="store_true",
                   help="tiny profile for tests and CI (results under RESULTS/quick/)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only cells I, I+N, I+2N, ... (0 <= I < N); by default taken from a SLURM array "
                        "(SLURM_ARRAY_TASK_ID/_COUNT) or a Kubernetes indexed Job (JOB_COMPLETION_INDEX "
                        "with MNISTGEN_SHARD_COUNT)")
    p.add_argument("--aggregate", action="store_true", help="only rebuild the tables from the finished cells")
    p.add_argument("--results", default="results", metavar="DIR", help="results folder (default results)")
    p.set_defaults(run=_sweep)

    p = commands.add_parser("figures", help="draw the experiments' figures from saved results",
                            description="Draw every experiment's figures from the cells saved under RESULTS into "
                                        "RESULTS/figures/, without training; figures whose cells are missing are "
                                        "skipped.")
    p.add_argument("--quick", action="store_true", help="from the quick profile's results (RESULTS/quick/)")
    p.add_argument("--results", default="results", metavar="DIR", help="results folder (default results)")
    p.set_defaults(run=_figures)


def build_parser():
    parser = _Parser(prog="mnistgen", description="Train, sample and evaluate generative models of digits.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model", description="Train a model into a run folder.")
    models = train.add_subparsers(dest="model", required=True, parser_class=_Parser)
    _add_train_draw(models)
    _add_train_label_decoder(models)

    p = commands.add_parser("sample", help="draw images from a saved generator",
                            description="Draw N images from GENERATOR (.keras) into a PNG grid or a .npy array. "
                                        "Conditional generators take --digit; without it they cycle 0-9.")
    p.add_argument("generator", metavar="GENERATOR", help="a saved generator, e.g. RUN/generator.keras")
    p.add_argument("-n", type=_positive, default=100, help="number of images (default 100)")
    p.add_argument("--digit", type=_digit, help="digit 0-9 for a conditional generator")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.png (grid) or FILE.npy (array n×H×W×C)")
    p.set_defaults(run=_sample)

    p = commands.add_parser("fid", help="Fréchet distance between two image sources",
                            description="FID between A and B. Each is a data set split (mnist:test), an .npy of "
                                        "images, an .npz of saved statistics, or a generator .keras (sampled, "
                                        "10,000 images unless -n). Whole splits' statistics are cached.")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--features", choices=("mnist", "fashion_mnist", "inception"), default="mnist",
                   help="feature extractor: the shipped CNNs (default mnist) or InceptionV3 (ImageNet weights)")
    p.add_argument("-n", type=_positive, help="use the first N images of each source (or N samples)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed for generators")
    p.set_defaults(run=_fid)
    _add_sweep_commands(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        import mnistgen_tf  # noqa: F401  (quiet TensorFlow, register layers)

        args.run(args)
    except MnistgenError as e:
        print(f"mnistgen: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
