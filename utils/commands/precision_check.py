"""``gdl-precision-check``: does mixed precision cost sample quality?

It trains a chapter preset twice from the same seed, on the silhouettes that
ship with the project: once in float32 and once with mixed precision (bfloat16
on CPUs, float16 on GPUs).  Both start from the same weights and draw their grids
from the same fixed noise.  Rounding differs from the first step on, and the runs
draw their batches differently, so a cell of one grid need not show the same
animal as in the other: compare the grids as a whole.

Grids are for the eye; the numbers are the project's evaluation (``gdl-eval``):
both runs' samples and the held-out silhouettes are scored against the
training silhouettes in the silhouette classifier's feature space — Fréchet
distance, precision (realism), recall and coverage (variety; a collapsed
generator scores well on precision and badly on these).  The held-out row is
what a perfect generator would get.  Everything goes to
``run/precision/<chapter>/``: both runs, ``side_by_side.png`` and
``precision.json``.
"""

import argparse
import json
import os

import numpy as np

from utils.commands.help import DefaultsHelpFormatter
from utils.paths import run_root
from utils.plotting import enlarge, tile_images

def policies():
    """float32, and the mixed policy of this machine: bfloat16 on CPUs (emulated, and slow, where the
    CPU lacks the instructions: the quality question is the same), float16 on GPUs."""
    from models.ops.precision import gpu_available

    return (("float32", False), ("mixed", "mixed_float16" if gpu_available() else "mixed_bfloat16"))


def train_both(chapter, x_train, epochs, batch_size, seed, folder):
    """Train the preset in each precision from the same seed → {name: model}."""
    import keras

    from utils.chapters import CHAPTERS

    preset = CHAPTERS[chapter].preset
    model_class = CHAPTERS[chapter].model_class
    arguments = dict(preset.model)
    if "batch_size" in arguments:
        arguments["batch_size"] = batch_size
    fixed_noise = np.random.default_rng(seed).normal(size=(25, preset.model["z_dim"])).astype("float32")
    models = {}
    for name, mixed in policies():
        keras.utils.set_random_seed(seed)
        model = model_class(**arguments, mixed_precision=mixed)
        model.fixed_noise = fixed_noise
        print(f"{name}: training {model_class.__name__} for {epochs} steps", flush=True)
        model.train(x_train, batch_size=batch_size, epochs=epochs,
                    run_folder=os.path.join(folder, name), print_every_n_batches=max(1, epochs // 4),
                    **preset.train_options)
        models[name] = model
    return models


def policy_name(model):
    """'float32', 'mixed_bfloat16' or 'mixed_float16'."""
    return model.dtype_policy.name


def save_side_by_side(models, path):
    """The two final grids from the same fixed noise, labelled, float32 left, mixed precision right."""
    from PIL import Image, ImageDraw

    grids = [tile_images(model.sampling_generator(model.fixed_noise, training=False).numpy())
             for model in models.values()]
    gap = np.full((grids[0].shape[0], 8, grids[0].shape[2]), 255, np.uint8)
    picture = np.concatenate([grids[0], gap, grids[1]], axis=1)
    scale = max(1, 640 // picture.shape[1])
    image = enlarge(picture, scale).convert("RGB")
    labelled = Image.new("RGB", (image.width, image.height + 20), "white")
    labelled.paste(image, (0, 20))
    draw = ImageDraw.Draw(labelled)
    for k, model in enumerate(models.values()):
        draw.text((4 + k * (image.width + 8 * scale) // 2, 4), policy_name(model), fill="black")
    labelled.save(path)
    return path


SCORES = ("fid", "precision", "recall", "coverage")


def check(chapter="04_01", classes="horse", epochs=400, batch_size=None, seed=0, n_samples=None,
          folder=None):
    """Train both precisions, score them, save the grids → the report written to precision.json."""
    from utils.data.sets import Silhouettes
    from utils.evaluation.features import features_for
    from utils.evaluation.latent import generate
    from utils.evaluation.quality import Reference, sample_latents

    from utils.chapters import CHAPTERS

    preset = CHAPTERS[chapter].preset
    batch_size = batch_size or preset.batch_size
    folder = folder or os.path.join(run_root(), "precision", chapter)
    os.makedirs(folder, exist_ok=True)
    spec = Silhouettes(classes=classes)
    x_train, _ = spec.load_training(preset.input_dim, batch_size)
    models = train_both(chapter, x_train, epochs, batch_size, seed, folder)

    real = spec.real_images(preset.input_dim, n_train=len(x_train), n_held_out=n_samples or 2000, seed=seed)
    reference = Reference(features_for("silhouette"), real.train, real.held_out)
    report = {"chapter": chapter, "classes": classes, "epochs": epochs, "batch_size": batch_size,
              "seed": seed, "n_samples": reference.n_held_out, "features": reference.features.name,
              "n_train_reference": reference.n_train}
    report["held-out real images"] = {key: reference.floor()[key] for key in SCORES}
    for name, model in models.items():
        samples = generate(model.sampler, sample_latents(model.z_dim, reference.n_held_out, seed))
        scores = reference.score(reference.features(samples))
        last = max(1, epochs // 10)
        report[name] = {
            "policy": policy_name(model),
            **{key: scores[key] for key in SCORES},
            "d_loss_last_10pct": float(np.mean([d[0] for d in model.d_losses[-last:]])),
            "g_loss_last_10pct": float(np.mean([np.ravel(g)[0] for g in model.g_losses[-last:]])),
        }
    report["side_by_side"] = save_side_by_side(models, os.path.join(folder, "side_by_side.png"))
    with open(os.path.join(folder, "precision.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def format_report(report):
    lines = [f"{report['n_samples']} samples per row against {report['n_train_reference']} training "
             f"images, in the {report['features']} feature space (FID: lower is better; the rest higher)",
             f"{'':<24} " + " ".join(f"{key:>10}" for key in SCORES)]
    for name in ("held-out real images", "float32", "mixed"):
        row = report[name]
        label = name if name != "mixed" else f"mixed ({report['mixed']['policy']})"
        lines.append(f"{label:<24} " + " ".join(f"{row[key]:>10.4g}" for key in SCORES))
    lines.append(f"Grids from the same noise: {report['side_by_side']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="gdl-precision-check", description=__doc__.split("\n\n")[0],
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--chapter", choices=("04_01", "04_02", "04_03"), default="04_01")
    parser.add_argument("--classes", default="horse",
                        help="comma-separated silhouette animals, or 'all'")
    parser.add_argument("--epochs", type=int, default=400, help="training steps per precision")
    parser.add_argument("--batch-size", type=int, default=None, help="the preset's by default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=None,
                        help="generated images scored per run (default: as many as held-out images)")
    parser.add_argument("--out", default=None, help="default run/precision/<chapter>")
    args = parser.parse_args(argv)
    for name in ("epochs", "samples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1 (got {getattr(args, name)})")
    report = check(args.chapter, args.classes, args.epochs, args.batch_size, args.seed,
                   args.samples, args.out)
    print(format_report(report))
