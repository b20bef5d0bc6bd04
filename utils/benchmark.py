"""``gdl-bench``: how fast one training step of each chapter preset runs here.

For each preset it times one "epoch" (a generator update with its critic or
discriminator updates) three ways:

  (a) the book's loop ported to Keras 3 as the book writes it: ``generator.predict``,
      then ``train_on_batch`` calls, and for WGAN the per-layer numpy weight clipping;
  (b) this project's compiled step, float32;
  (c) the same step under mixed precision (bfloat16 on CPUs, float16 on GPUs);
  (d) with ``--xla``: (b) compiled with XLA.

It counts the step's FLOPs from the layer shapes (convolutions and dense
layers; a backward pass costs twice its forward pass, the gradient penalty's
double backward is counted), measures this machine's float32 and bfloat16
matrix-multiply rate, and prints ms per step, images per second, achieved
GFLOP/s and that as a fraction of the matmul rate.  Warm-up steps are excluded
and each row is the median of repeats.  The table is also written to
``run/bench/benchmark.json`` and ``.csv``.
"""

import argparse
import csv
import json
import os
import statistics
import tempfile
import time

import numpy as np

from utils import presets
from utils.paths import run_root

# --------------------------------------------------------------------------- FLOPs


def forward_macs(network):
    """Multiply-accumulates of one forward pass for one image, from the layer shapes."""
    import keras

    macs = 0
    for layer in network.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, c_in = layer.input.shape
            k_h, k_w = layer.kernel_size
            macs += h * w * k_h * k_w * c_in * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w = layer.kernel_size
            macs += h * w * k_h * k_w * layer.input.shape[-1] * c_out
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    return macs


def step_flops(model, batch_size, n_critic):
    """FLOPs of one book "epoch" of ``model`` (2 FLOPs per multiply-accumulate).

    In units of one forward pass per image, G for the generator and D for the critic:
    * a GAN/WGAN critic step: G (fakes) + 2 × 3D (a training pass each on the real and fake batch);
    * a WGAN-GP critic step: G + 2 × 3D + 6D for the penalty (forward and input-gradient on the
      interpolates, 2D, and their gradient with respect to the weights, twice that again);
    * a generator step: 3G + 2D (the critic's forward pass and its gradient with respect to its input).
    """
    g = forward_macs(model.generator)
    d = forward_macs(model._critic_network)
    critic_step = g + 6 * d + (6 * d if type(model).__name__ == "WGANGP" else 0)
    generator_step = 3 * g + 2 * d
    return 2 * batch_size * (n_critic * critic_step + generator_step)


def matmul_gflops(dtype="float32", n=2048, repeats=5):
    """The machine's dense matrix-multiply rate: the ceiling a conv net can approach."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    b = tf.random.normal((n, n), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    multiply = tf.function(lambda x, y: tf.matmul(x, y))
    multiply(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        multiply(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


# --------------------------------------------------------------------------- the rows


def book_loop(model, x_train, batch_size, n_critic, clip_threshold):
    """One epoch exactly as the book's Keras 2 code does it, on Keras 3 objects."""
    critic, generator = model._critic_network, model.generator
    wasserstein = type(model).__name__ != "GAN"
    real_label = np.ones((batch_size, 1))
    fake_label = -np.ones((batch_size, 1)) if wasserstein else np.zeros((batch_size, 1))

    def epoch():
        for _ in range(n_critic):
            idx = np.random.randint(0, x_train.shape[0], batch_size)
            true_imgs = x_train[idx]
            noise = np.random.normal(0, 1, (batch_size, model.z_dim))
            gen_imgs = generator.predict(noise, verbose=0)
            critic.train_on_batch(true_imgs, real_label)
            critic.train_on_batch(gen_imgs, fake_label)
            if clip_threshold is not None:
                for layer in critic.layers:
                    weights = [np.clip(w, -clip_threshold, clip_threshold) for w in layer.get_weights()]
                    layer.set_weights(weights)
        noise = np.random.normal(0, 1, (batch_size, model.z_dim))
        model.model.train_on_batch(noise, real_label)

    return epoch


def our_step(model, x_train, batch_size, n_critic, options):
    return lambda: model._epoch_step(x_train, batch_size, False, n_critic, *options)


def time_steps(step, warmup, steps, repeats):
    for _ in range(warmup):
        step()
    per_step = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        per_step.append((time.perf_counter() - start) / steps)
    return statistics.median(per_step)


def stream_ms_per_batch(image_size, batch_size, batches):
    """Input-pipeline time per batch of the CelebA stream, on generated 178×218 JPEGs."""
    from PIL import Image

    from utils.celeb import ImageStream

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(batch_size * 4):
            path = os.path.join(folder, f"{i:06d}.jpg")
            pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
            paths.append(path)
        iterator = iter(ImageStream(paths, image_size, batch_size, seed=0).dataset)
        next(iterator)
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        elapsed = time.perf_counter() - start
        del iterator  # stop its prefetching before the files are deleted
        return elapsed / batches * 1000


LABELS = {"04_01": "camel GAN", "04_02": "CIFAR WGAN", "04_03": "CelebA WGAN-GP"}


def benchmark(chapters, quick=False, xla=False):
    import keras

    from utils.cli import CHAPTERS, _import

    schedule = dict(warmup=1, steps=2, repeats=3) if quick else dict(warmup=3, steps=5, repeats=5)
    rates = {"float32": matmul_gflops("float32"), "bfloat16": matmul_gflops("bfloat16")}
    rows = []
    for chapter in chapters:
        preset = presets.PRESETS[chapter]
        model_class, label = _import(CHAPTERS[chapter]["model"]), LABELS[chapter]
        batch = preset.batch_size
        n_critic = preset.train_options.get("n_critic", 1)
        clip = preset.train_options.get("clip_threshold")
        x_train = np.random.uniform(-1, 1, (2048, *preset.input_dim)).astype("float32")
        variants = [("(a) book loop", {}, "book"), ("(b) ours float32", {}, "ours"),
                    ("(c) ours mixed", {"mixed_precision": True}, "ours")]
        if xla:
            variants.append(("(d) ours XLA", {"jit_compile": True}, "ours"))
        for name, options, kind in variants:
            if kind == "book" and chapter == "04_03":
                rows.append(dict(preset=label, variant=name, note="the book's K.gradients loss does not run on Keras 3"))
                continue
            keras.utils.set_random_seed(0)
            model = model_class(**preset.model, **options)
            step = (book_loop(model, x_train, batch, n_critic, clip) if kind == "book"
                    else our_step(model, x_train, batch, n_critic, () if clip is None else (clip,)))
            seconds = time_steps(step, **schedule)
            flops = step_flops(model, batch, n_critic)
            rate_name = "bfloat16" if model.dtype_policy == "mixed_bfloat16" else "float32"
            gflops = flops / seconds / 1e9
            rows.append(dict(
                preset=label, variant=name, batch=batch, n_critic=n_critic,
                ms_per_step=round(seconds * 1000, 1),
                images_per_s=round(batch / seconds, 1),
                gflop_per_step=round(flops / 1e9, 1),
                gflop_per_s=round(gflops, 1),
                fraction_of_matmul=round(gflops / rates[rate_name], 3),
                matmul_rate=rate_name,
            ))
            print(_format_row(rows[-1]), flush=True)
        if chapter == "04_03":
            rows.append(dict(preset=label, variant="input pipeline (CelebA stream)",
                             ms_per_step=round(stream_ms_per_batch(64, batch, 8 if quick else 32), 1),
                             note="ms to decode, resize and batch one batch, overlapped with the step"))
            print(_format_row(rows[-1]), flush=True)
    return rates, rows


COLUMNS = ("preset", "variant", "ms_per_step", "images_per_s", "gflop_per_step", "gflop_per_s",
           "fraction_of_matmul")


def _format_row(row):
    cells = [str(row.get(column, "")) for column in COLUMNS]
    text = f"{cells[0]:<15} {cells[1]:<31} " + " ".join(f"{c:>12}" for c in cells[2:])
    return text + (f"  {row['note']}" if "note" in row else "")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="gdl-bench", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (a few minutes)")
    parser.add_argument("--xla", action="store_true", help="add a row with XLA jit_compile")
    parser.add_argument("--chapters", default="04_01,04_02,04_03",
                        help="comma-separated presets to time")
    parser.add_argument("--out", default=None, help="folder for benchmark.json/.csv (default run/bench)")
    args = parser.parse_args(argv)
    chapters = args.chapters.split(",")
    unknown = [c for c in chapters if c not in LABELS]
    if unknown:
        parser.error(f"unknown chapter(s) {unknown}; choose from {sorted(LABELS)}")

    print(f"{'preset':<15} {'variant':<31} " + " ".join(f"{c:>12}" for c in COLUMNS[2:]))
    rates, rows = benchmark(chapters, quick=args.quick, xla=args.xla)
    print(f"\nmatmul rate (2048×2048): float32 {rates['float32']:.1f} GFLOP/s, "
          f"bfloat16 {rates['bfloat16']:.1f} GFLOP/s")
    by_preset = {}
    for row in rows:
        if "ms_per_step" in row and row["variant"].startswith("("):
            by_preset.setdefault(row["preset"], {})[row["variant"][:3]] = row["ms_per_step"]
    for preset, times in by_preset.items():
        if "(a)" in times:
            speedups = ", ".join(f"{v} {times['(a)'] / t:.2f}×" for v, t in times.items() if v != "(a)")
            print(f"{preset}: speed-up over the book's loop: {speedups}")

    folder = args.out or os.path.join(run_root(), "bench")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "benchmark.json"), "w") as f:
        json.dump({"matmul_gflop_per_s": rates, "rows": rows, "quick": args.quick}, f, indent=2)
    with open(os.path.join(folder, "benchmark.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "batch", "n_critic", "matmul_rate", "note"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    print(f"Written to {folder}/benchmark.json and .csv")
