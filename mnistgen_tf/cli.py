"""The `mnistgen` command line: train and sample generators."""

import argparse
import dataclasses
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


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer 0 to 2**32 - 1, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"seed must be 0 to 2**32 - 1, got {value}")
    return value


def _number(kind, name):
    """An argparse type for a family option of Python type `kind` (int or float)."""
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"--{name.replace('_', '-')} must be {noun}, got {text!r}") from None
    return parse


def _add_family_options(parser, family):
    """One flag per option of the family's options dataclass (see `mnistgen_tf.registry.option`).

    Defaults are not set here: options left out take the family's defaults,
    so ``config.json`` shows what was asked for and the registry checks it.
    """
    for field in dataclasses.fields(family.options):
        meta, flag = field.metadata, "--" + field.name.replace("_", "-")
        if isinstance(field.default, bool):
            if field.default:  # on by default: the flag turns it off
                parser.add_argument(meta["off_flag"] or "--no-" + flag[2:], dest=field.name, action="store_false",
                                    default=argparse.SUPPRESS, help=meta["help"])
            else:
                parser.add_argument(flag, dest=field.name, action="store_true", default=argparse.SUPPRESS,
                                    help=meta["help"])
            continue
        kind = type(field.default) if field.default is not None else int
        default = "" if field.default is None else f" (default {field.default})"
        parser.add_argument(flag, dest=field.name, default=argparse.SUPPRESS, choices=meta["choices"],
                            type=_seed if field.name == "seed" else _number(kind, field.name),
                            metavar=None if meta["choices"] else field.name.upper(), help=meta["help"] + default)


def _add_train_commands(commands):
    from mnistgen_tf.registry import FAMILIES

    train = commands.add_parser("train", help="train a model", description="Train a model into a run folder.")
    families = train.add_subparsers(dest="family", required=True, parser_class=_Parser, metavar="FAMILY")
    for family in FAMILIES.values():
        p = families.add_parser(family.name, help=family.summary,
                                description=family.description + " Writes DIR/generator.keras, DIR/history.csv, "
                                "DIR/config.json, DIR/run.json and checkpoints for --resume.")
        p.add_argument("--out", required=True, metavar="DIR", help="run folder")
        _add_family_options(p, family)
        p.add_argument("--resume", action="store_true", help="continue the interrupted run in DIR")
        p.add_argument("--tensorboard", action="store_true", help="also log to DIR/tensorboard")
        p.set_defaults(run=_train)


def _train(args):
    from mnistgen_tf.train import train  # checks the options before it loads or writes anything

    options = {k: v for k, v in vars(args).items() if k not in ("command", "family", "out", "resume",
                                                                  "tensorboard", "run")}

    train(args.family, args.out, resume=args.resume, tensorboard=args.tensorboard, **options)
    print(f"wrote {os.path.join(args.out, 'generator.keras')}")


def _check_output(path):
    if not path.endswith((".png", ".npy")):
        raise MnistgenError(f"--out must end in .png or .npy, got {path}")
    _check_folder(path)


def _check_folder(path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise MnistgenError(f"cannot write {path}: folder {folder} is missing or not writable")


def _check_png_output(path):
    """`_check_output` for the commands that write one PNG (add, inpaint, transfer)."""
    if not path.endswith(".png"):
        raise MnistgenError(f"--out must end in .png, got {path}")
    _check_folder(path)


def _sample(args):
    from mnistgen_tf.figures import save_grid_png
    from mnistgen_tf.files import atomic_path, write_array
    from mnistgen_tf.sampling import check_temperature, load_generator, sample

    temperature = check_temperature(args.temperature)
    _check_output(args.out)
    generator = load_generator(args.generator)
    images = sample(generator, args.n, args.digit, args.seed, temperature=temperature)
    if args.out.endswith(".npy"):
        write_array(args.out, images)
    else:
        with atomic_path(args.out) as tmp:
            save_grid_png(images, tmp, ncols=10 if args.n >= 10 else None)
    print(f"wrote {args.out} ({args.n} images)")


def _addend(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--number must be a number, got {text!r}") from None
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"--number must be 0 to 9, got {text}")
    return value


def _read_image(text):
    """``(image, digit or None)`` from a test-split index of MNIST or a PNG file."""
    from mnistgen_tf import data

    if text.isdigit():
        images, labels = data.load("mnist", "test")
        index = int(text)
        if index >= len(images):
            raise MnistgenError(f"--image {index}: the MNIST test split has {len(images)} images (0 to "
                                f"{len(images) - 1})")
        return data.to_float(images[index:index + 1])[0], int(labels[index])
    if not text.lower().endswith(".png") or not os.path.isfile(text):
        raise MnistgenError(f"--image must be a test-split index or an existing .png file, got {text!r}")
    from mnistgen_tf.figures import plt

    try:
        pixels = plt.imread(text, format="png")
    except Exception as e:  # PIL and libpng errors alike mean a damaged file
        raise MnistgenError(f"cannot read {text} as a PNG ({type(e).__name__})") from None
    if pixels.ndim == 3:  # grey + alpha: the grey channel; RGB(A): the mean of the colour channels
        pixels = pixels[..., 0] if pixels.shape[-1] == 2 else pixels[..., :3].mean(axis=-1)
    if pixels.shape != (28, 28):
        raise MnistgenError(f"{text} is {pixels.shape[1]}x{pixels.shape[0]} pixels; expected a 28x28 digit")
    return pixels.astype("float32")[..., None], None


def _add(args):
    from mnistgen_tf.files import atomic_path
    from mnistgen_tf.figures import plt
    from mnistgen_tf.metrics.features import ClassifierFeatures
    from mnistgen_tf.sampling import add, load_adder

    _check_png_output(args.out)
    image, digit = _read_image(args.image)
    if digit is not None and digit + args.number > 9:
        raise MnistgenError(f"test image {args.image} is a {digit}: {digit} + {args.number:g} is above 9, and the "
                            "adder learned sums up to 9")
    adder = load_adder(args.generator)
    result = add(adder, image[None], args.number)
    probabilities = ClassifierFeatures("mnist").probabilities(result)[0]
    with atomic_path(args.out) as tmp:
        plt.imsave(tmp, result[0, ..., 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
    read = int(probabilities.argmax())
    given = f"a {digit}" if digit is not None else args.image
    print(f"wrote {args.out}: {given} + {args.number:g}; mnist-cnn reads {read} (p = {probabilities[read]:.3f})")


def _nll(args):
    from mnistgen_tf import data
    from mnistgen_tf.files import write_json
    from mnistgen_tf.metrics.likelihood import likelihood_report
    from mnistgen_tf.train import load_trainer, read_config

    if args.out:
        if not args.out.endswith(".json"):
            raise MnistgenError(f"--out must end in .json, got {args.out}")
        _check_folder(args.out)
    config = read_config(args.run_dir)  # checked before the (large) trainer is loaded
    if config.get("family") != "draw":
        raise MnistgenError(f"{args.run_dir} is a {config.get('family')} run; the likelihood is measured for DRAW")
    if config.get("reconstruction", "bce") != "bce":
        raise MnistgenError(f"{args.run_dir} was trained with --reconstruction {config['reconstruction']}; the "
                            "likelihood is Bernoulli (bce)")
    trainer, _ = load_trainer(args.run_dir)
    images, labels = data.load(config["dataset"], "test")
    n = min(args.images or len(images), len(images))
    report = likelihood_report(trainer, data.for_evaluation(images[:n], config), labels[:n], args.k, args.seed)
    given = " | y" if config.get("conditional") else ""
    print(f"{args.run_dir}: {n} test images of {config['dataset']}"
          f"{' (one fixed Bernoulli draw)' if config.get('dynamic_binarization') else ''}")
    print(f"  -ELBO             {report['neg_elbo_nats']:8.2f} nats")
    for k, value in report["nll_nats"].items():
        print(f"  -log p(x{given}), k={k:<4} {value:8.2f} nats")
    if args.out:
        write_json(args.out, {"run": args.run_dir, **report})
        print(f"wrote {args.out}")


def _inpaint(args):
    import numpy as np

    from mnistgen_tf.figures import save_grid_png
    from mnistgen_tf.files import atomic_path
    from mnistgen_tf.inpainting import complete, method_of, observed_mask
    from mnistgen_tf.metrics.features import ClassifierFeatures
    from mnistgen_tf.sampling import load_generator

    _check_png_output(args.out)
    if args.generator is None and (args.steps or args.completions):
        raise MnistgenError("-k and --steps apply to a generator's completions; the training mean (no "
                            "--generator) has one")
    mask = observed_mask(args.mask, 1, seed=args.seed)  # checks the name before anything is loaded
    image, digit = _read_image(args.image)
    x = image[None]
    generator = load_generator(args.generator) if args.generator else None
    completions = complete(x, mask, generator, args.completions or 4, args.steps, args.seed)
    method = {None: "the training mean", "vae": "fitted codes", "ddpm": "the DDPM chain"}[
        method_of(generator) if generator else None]
    read = ClassifierFeatures("mnist").classify(completions[:, 0])
    strip = np.concatenate([np.where(mask > 0, x, 0.5), completions[:, 0], x])
    with atomic_path(args.out) as tmp:
        save_grid_png(strip, tmp, ncols=len(strip))
    given = f"test digit {digit}" if digit is not None else args.image
    print(f"wrote {args.out}: {given} with its {args.mask.replace('_', ' ')} missing (grey), {len(completions)} "
          f"completion(s) by {method}, the original; mnist-cnn reads {', '.join(map(str, read))}")


def _transfer(args):
    import keras
    import numpy as np

    from mnistgen_tf.figures import save_grid_png
    from mnistgen_tf.files import atomic_path
    from mnistgen_tf.metrics.features import ClassifierFeatures
    from mnistgen_tf.sampling import load_generator, load_model_file
    from mnistgen_tf.transfer import check_cvae, parse_digits, transfer

    _check_png_output(args.out)
    digits = parse_digits(args.digits)
    image, digit = _read_image(args.image)
    encoder_path = args.encoder or os.path.join(os.path.dirname(args.generator), "encoder.keras")
    decoder, encoder = load_generator(args.generator), load_model_file(encoder_path)
    check_cvae(encoder, decoder)
    classifier = ClassifierFeatures("mnist")
    if digit is None:  # a PNG: its digit as the classifier reads it
        digit = int(classifier.classify(image[None])[0])
    outputs = transfer(encoder, decoder, image[None], [digit], digits)[0]
    read = classifier.classify(outputs)
    with atomic_path(args.out) as tmp:
        save_grid_png(np.concatenate([image[None], outputs]), tmp, ncols=1 + len(outputs))
    keras.backend.clear_session()
    print(f"wrote {args.out}: the style of {args.image} (a {digit}), then digits {', '.join(map(str, digits))}; "
          f"mnist-cnn reads {', '.join(map(str, read))}")


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
    if args.aggregate and args.shard is not None:
        raise MnistgenError("--aggregate rebuilds the tables from every finished cell; it takes no --shard")
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

    _add_train_commands(commands)

    p = commands.add_parser("sample", help="draw images from a saved generator",
                            description="Draw N images from GENERATOR (.keras) into a PNG grid or a .npy array. "
                                        "Conditional generators take --digit; without it they cycle 0-9.")
    p.add_argument("generator", metavar="GENERATOR", help="a saved generator, e.g. RUN/generator.keras")
    p.add_argument("-n", type=_positive, default=100, help="number of images (default 100)")
    p.add_argument("--digit", type=_digit, help="digit 0-9 for a conditional generator")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--temperature", default=1.0, metavar="T",
                   help="scale of the noise z, drawn from N(0, T² I), above 0 and at most 10 (default 1, the "
                        "prior); below 1 draws nearer the prior's centre: for the zoo's CVAE fewer misread digits "
                        "and less variety (results/seed004_temperature/)")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.png (grid) or FILE.npy (array n×H×W×C)")
    p.set_defaults(run=_sample)

    p = commands.add_parser("add", help="add a number to the digit in an image with a trained adder",
                            description="Feed an image of digit a and a number b to a trained adder (mnistgen train "
                                        "adder) and write the image it produces for a + b, a 28x28 PNG; the shipped "
                                        "MNIST classifier says which digit it reads.")
    p.add_argument("--generator", required=True, metavar="ADDER", help="the adder's RUN/generator.keras")
    p.add_argument("--image", required=True, metavar="N|FILE.png",
                   help="an index into the MNIST test split, or a 28x28 grey PNG")
    p.add_argument("--number", required=True, type=_addend, metavar="B",
                   help="the number to add, 0 to 9 (fractions such as 1.5 allowed)")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the produced image")
    p.set_defaults(run=_add)

    from mnistgen_tf.inpainting import MASKS

    p = commands.add_parser("inpaint", help="complete a digit with missing pixels",
                            description="Hide part of a digit (--mask) and fill it in: with a VAE decoder (its code "
                                        "fitted to the seen pixels), a DDPM (RePaint-style reverse chain), or, "
                                        "without --generator, the per-pixel training mean. Writes a PNG strip: "
                                        "input (missing grey), the completions, the original.")
    p.add_argument("--generator", metavar="GENERATOR",
                   help="a VAE's (or any flat-code decoder's) or a DDPM's generator.keras (default: the "
                        "training-mean baseline)")
    p.add_argument("--image", required=True, metavar="N|FILE.png",
                   help="an index into the MNIST test split, or a 28x28 grey PNG")
    p.add_argument("--mask", required=True, choices=MASKS, help="which pixels are missing")
    p.add_argument("-k", "--completions", type=_positive, help="completions to draw (default 4)")
    p.add_argument("--steps", type=_positive,
                   help="Adam steps on the code (VAE, default 300) or reverse steps (DDPM, default 50 or T)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the random mask, starts and noise")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the strip of images")
    p.set_defaults(run=_inpaint)

    p = commands.add_parser("transfer", help="draw a digit's handwriting style as other digits (CVAE)",
                            description="Encode the style of one image with a CVAE's encoder and decode it as each "
                                        "of --digits: x = g(f(x_style), y). Writes a PNG strip: the style image, "
                                        "then one image per digit.")
    p.add_argument("--generator", required=True, metavar="CVAE",
                   help="a CVAE's generator.keras (mnistgen train vae --conditional)")
    p.add_argument("--encoder", metavar="ENCODER", help="its encoder (default: encoder.keras beside the generator)")
    p.add_argument("--image", required=True, metavar="N|FILE.png",
                   help="the style: an index into the MNIST test split, or a 28x28 grey PNG (its digit as "
                        "mnist-cnn reads it)")
    p.add_argument("--digits", default="0-9", help="digits to draw: 0-9 (default), 3,5,7 or 4")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the strip of images")
    p.set_defaults(run=_transfer)

    p = commands.add_parser("nll", help="test likelihood of a trained DRAW: -ELBO and importance-sampled -log p(x)",
                            description="The -ELBO and importance-sampled estimates of -log p(x), in nats, on the "
                                        "test split, of the DRAW trained in RUN (its best.keras or last "
                                        "checkpoint). The likelihood is Bernoulli: the run must have been trained "
                                        "on binary images (--dynamic-binarization or --binarize).")
    p.add_argument("run_dir", metavar="RUN", help="a training run folder")
    p.add_argument("--k", type=_positive, nargs="+", default=[1, 10, 100],
                   help="posterior samples per image (default 1 10 100; more samples, a tighter bound)")
    p.add_argument("--images", type=_positive, help="the first N test images only (default all)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the posterior samples")
    p.add_argument("--out", metavar="FILE.json", help="also write the numbers to FILE.json")
    p.set_defaults(run=_nll)

    p = commands.add_parser("fid", help="Fréchet distance between two image sources",
                            description="FID between A and B. Each is a data set split (mnist:test), an .npy of "
                                        "images, an .npz of saved statistics, or a generator .keras (sampled, "
                                        "10,000 images unless -n). Whole splits' statistics are cached.")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--features", choices=("mnist", "fashion_mnist", "inception"), default="mnist",
                   help="feature extractor: the shipped CNNs (default mnist) or InceptionV3 (ImageNet weights)")
    p.add_argument("-n", type=_positive, help="use the first N images of each source (or N samples)")
    p.add_argument("--seed", type=_seed, default=0, help="sampling seed for generators")
    p.set_defaults(run=_fid)
    _add_sweep_commands(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        from mnistgen_tf import provenance

        provenance.capture()  # the code as it is now, before any work
        args.run(args)
    except MnistgenError as e:
        print(f"mnistgen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every finished epoch and cell is already on disk (see train.py, sweep.py).
        print("mnistgen: interrupted; finished epochs and cells are kept: rerun with --resume (train) or "
              "the same command (sweep) to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
