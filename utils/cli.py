"""The chapter commands: ``gdl-gan`` (04_01), ``gdl-wgan`` (04_02), ``gdl-wgangp`` (04_03).

Each trains its chapter's preset (``utils/presets.py``, shared with the
notebooks) on the book's data set or, offline, on the silhouettes that ship
with the project, and leaves grids, weights and loss curves under
``run/<section>/<run id>_<data>/``.  Ctrl-C saves the run; ``--resume``
continues it.
"""

import argparse
import os
import sys

from utils import presets
from utils.paths import run_root

SILHOUETTES = "silhouettes"

CHAPTERS = {
    "04_01": dict(command="gdl-gan", model="models.GAN:GAN", book_data="camel", run_id="0001",
                  title="GAN on Quick, Draw! camels (chapter 4, section 1)"),
    "04_02": dict(command="gdl-wgan", model="models.WGAN:WGAN", book_data="cifar", run_id="0002",
                  title="WGAN on CIFAR-10 horses (chapter 4, section 2)"),
    "04_03": dict(command="gdl-wgangp", model="models.WGANGP:WGANGP", book_data="celeb", run_id="0001",
                  title="WGAN-GP on CelebA faces (chapter 4, section 3)"),
}


def build_parser(chapter):
    info, preset = CHAPTERS[chapter], presets.PRESETS[chapter]
    parser = argparse.ArgumentParser(
        prog=info["command"],
        description=f"Train the book's {info['title']} and save grids, weights and "
        f"loss curves under run/{preset.section}/<run id>_<data>/.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data", choices=[info["book_data"], SILHOUETTES], default=info["book_data"],
        help=f"'{info['book_data']}' is the book's data set (see README for getting it); "
        f"'{SILHOUETTES}' are the animal silhouettes installed with the project (works offline)",
    )
    parser.add_argument(
        "--classes", default="horse",
        help="with --data silhouettes: comma-separated animals (bear, bird, cat, cow, dog, "
        "elephant, giraffe, horse, sheep, zebra) or 'all'",
    )
    if chapter == "04_02":
        parser.add_argument("--label", type=int, default=7,
                            help="CIFAR-10 class to learn (7 = horses, 1 = automobiles)")
    parser.add_argument("--epochs", type=int, default=preset.epochs,
                        help="training steps (the book's 'epochs': one batch each)")
    parser.add_argument("--batch-size", type=int, default=preset.batch_size)
    parser.add_argument("--print-every", type=int, default=preset.print_every_n_batches,
                        help="save a sample grid, weights and loss curves every N steps")
    parser.add_argument("--run-id", default=info["run_id"],
                        help="runs go to run/<section>/<run id>_<data>/ (the notebook's id by default)")
    parser.add_argument("--seed", type=int, default=None, help="seed Python, numpy and TensorFlow")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in the run folder (weights, optimizer, epoch)")
    if "n_critic" in preset.train_options:
        parser.add_argument("--n-critic", type=int, default=preset.train_options["n_critic"],
                            help="critic updates per generator update")
    if "clip_threshold" in preset.train_options:
        parser.add_argument("--clip-threshold", type=float,
                            default=preset.train_options["clip_threshold"],
                            help="critic weights are clipped into [-c, c] after each update")
    if "grad_weight" in preset.model:
        parser.add_argument("--grad-weight", type=float, default=preset.model["grad_weight"],
                            help="weight of the gradient penalty")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="bfloat16 on CPUs, float16 with loss scaling on GPUs (outputs stay float32)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the training step with XLA (often slower on CPUs; try it on GPUs)")
    return parser


def load_training_data(chapter, args, preset):
    """→ (x_train, using_generator, data_name) for the chosen data set."""
    from utils import loaders

    height, _, channels = preset.input_dim
    if args.data == SILHOUETTES:
        classes = None if args.classes == "all" else args.classes.split(",")
        x_train, _ = loaders.load_silhouettes(classes, image_size=height, channels=channels)
        return x_train, False, f"{SILHOUETTES}-{args.classes.replace(',', '-')}"
    if args.data == "camel":
        loaders.download_quickdraw("camel")  # nothing to do when the file is there
        x_train, _ = loaders.load_safari("camel")
        return x_train, False, "camel"
    if args.data == "cifar":
        x_train, _ = loaders.load_cifar(args.label, 10)
        return x_train, False, "horses" if args.label == 7 else f"cifar{args.label}"
    return loaders.load_celeb("celeb", height, args.batch_size), True, "celeb"


def model_arguments(args, preset):
    model = dict(preset.model)
    if "batch_size" in model:
        model["batch_size"] = args.batch_size
    if "grad_weight" in model:
        model["grad_weight"] = args.grad_weight
    return model


def train_options(args, preset):
    return {name: getattr(args, name) for name in preset.train_options}


def run(chapter, argv=None):
    args = build_parser(chapter).parse_args(argv)
    preset = presets.PRESETS[chapter]
    for name in ("epochs", "batch_size", "print_every"):
        if getattr(args, name) < 1:
            sys.exit(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)}).")

    import keras
    from utils.loaders import load_model

    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    try:
        x_train, using_generator, data_name = load_training_data(chapter, args, preset)
    except (OSError, ValueError) as error:
        sys.exit(f"{CHAPTERS[chapter]['command']}: {error}")
    run_folder = os.path.join(run_root(), preset.section, f"{args.run_id}_{data_name}")
    model_class = _import(CHAPTERS[chapter]["model"])
    options = dict(mixed_precision=args.mixed_precision, jit_compile=args.jit_compile)

    saved = os.path.exists(os.path.join(run_folder, "weights", "training_state.h5"))
    if args.resume:
        if not saved:
            sys.exit(f"Nothing to resume: {run_folder} holds no saved run. Drop --resume to start one.")
        model = load_model(model_class, run_folder, **options)
        print(f"Resuming {run_folder} at epoch {model.epoch}.")
    else:
        if saved:
            sys.exit(
                f"{run_folder} already holds a run. Pass --resume to continue it, "
                f"or --run-id to start a new one next to it."
            )
        model = model_class(**model_arguments(args, preset), **options)
        model.save(run_folder)
        print(f"Training {model_class.__name__} on {data_name} into {run_folder}")

    try:
        model.train(
            x_train, batch_size=args.batch_size, epochs=args.epochs, run_folder=run_folder,
            print_every_n_batches=args.print_every, using_generator=using_generator,
            **train_options(args, preset),
        )
    except KeyboardInterrupt:
        model.save_progress(run_folder)
        sys.exit(f"\nInterrupted at epoch {model.epoch}; saved. Continue with --resume "
                 f"--run-id {args.run_id}.")
    model.save_model(run_folder)
    print(f"\nDone: epoch {model.epoch}. Samples in {os.path.join(run_folder, 'images')}, "
          f"loss curves in {os.path.join(run_folder, 'losses.png')}.")
    return model


def _import(target):
    import importlib

    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def main_gan(argv=None):
    run("04_01", argv)


def main_wgan(argv=None):
    run("04_02", argv)


def main_wgangp(argv=None):
    run("04_03", argv)
