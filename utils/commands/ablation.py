"""The recipe ablation: train a chapter command with each part of the modern recipe on and off,
over several seeds, and tabulate and plot the sample quality each reached.

    python -m utils.commands.ablation --chapter 04_01 --data silhouettes \\
        --variants book,ema,diffaugment,ada,spectral-norm,r1,hinge,ttur --seeds 0,1,2 \\
        --epochs 500 --parallel 2 --out run/ablation/gan

Every run is the real command (``gdl-gan`` ...) in its own process, into
``<out>/<section>/<variant>-s<seed>_<data>/``, scored every ``--quality-every`` steps by the
command's own quality monitor (the silhouette classifier's Fréchet distance, precision and
recall against held-out images).  A finished run is kept, an unfinished one resumed, so the
ablation can be stopped and started again.  ``--report`` only (re)writes ``ablation.md``
(the table) and ``ablation.png`` (Fréchet distance against steps and against training time).
``--time`` instead times one training step of each variant in this process, the variants in
turns (``utils.commands.benchmark.time_in_turns``), and writes ``step_times.md``: training
times within one ablation run alongside other work, so only this is a clean cost per step.
With ``--parallel 2`` each run has one core: compare the training times of one ablation
with each other, not with a run that had two.
"""

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# Each variant's flags on top of the chapter's book recipe ("+" joins variants).
VARIANTS = {
    "book": [],
    "ema": ["--ema", "0.999"],
    "diffaugment": ["--augment", "translation,cutout"],
    "ada": ["--augment", "translation,cutout", "--augment-probability", "0", "--augment-target", "0.6"],
    "spectral-norm": ["--spectral-norm"],
    "r1": ["--r1", "1"],
    "hinge": ["--loss", "hinge"],
    "ttur": ["--g-learning-rate", "0.0002"],
    "modern": ["--recipe", "modern"],
}


def flags_of(variant):
    """The command-line flags of a variant name such as ``'ema+diffaugment'``."""
    flags = []
    for part in variant.split("+"):
        if part not in VARIANTS:
            raise ValueError(f"variant {part!r}: choose from {', '.join(VARIANTS)} (join with '+').")
        flags += VARIANTS[part]
    return flags


def run_folder(out, section, variant, seed, data_name):
    return Path(out) / section / f"{variant}-s{seed}_{data_name}"


def finished(folder, epochs):
    quality = folder / "quality.json"
    if not quality.exists():
        return False
    records = json.loads(quality.read_text())["records"]
    return bool(records) and records[-1]["epoch"] >= epochs


def train(chapter, data, variant, seed, args):
    """One run of the chapter's command (resumed if it was cut short); returns its folder."""
    from utils.commands.cli import data_spec, build_parser
    from utils.runs.checkpoint import read_training_state
    from utils.runs.folder import RunFolder

    parser_args = build_parser(chapter.key).parse_args(["--data", data])
    data_name = data_spec(parser_args, conditional=chapter.conditional).run_name
    folder = run_folder(args.out, chapter.preset.section, variant, seed, data_name)
    if finished(folder, args.epochs):
        return folder
    command = [*(args.launcher.split() if args.launcher else [chapter.command]), "--data", data, "--epochs", str(args.epochs), "--seed", str(seed),
               "--run-id", f"{variant}-s{seed}", "--print-every", str(args.quality_every),
               "--quality-every", str(args.quality_every), "--quality-budget", "inf",
               "--no-tensorboard", *flags_of(variant)]
    checkpoint = RunFolder(folder).checkpoint
    if checkpoint.exists():  # cut short: go on from the epoch its checkpoint holds
        done = (read_training_state(checkpoint) or {}).get("epoch", 0)
        command = [*command, "--resume"]
        command[command.index("--epochs") + 1] = str(max(args.epochs - done, 1))
    env = {**os.environ, "GDL_RUN_DIR": str(args.out)}
    if args.parallel > 1:
        threads = str(max(1, (os.cpu_count() or 2) // args.parallel))
        env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=threads)
    log = folder.parent / f"{folder.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        result = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode:
        print(f"{' '.join(command)} failed ({result.returncode}); see {log}", file=sys.stderr)
    return folder


def step_times(chapter, data, variants, batch_size=None, steps=10, repeats=3):
    """Seconds per training step of each variant (its model as its command builds it), in turns.

    Returns:
        ``{variant: seconds}``.
    """
    import keras

    from utils.commands import benchmark, cli

    preset = chapter.preset_for(data)
    batch_size = batch_size or preset.batch_size
    x_train = np.random.default_rng(0).uniform(-1, 1, (max(8 * batch_size, 512), *preset.input_dim)).astype("float32")
    runners = []
    for variant in variants:
        args = cli.build_parser(chapter.key).parse_args(["--data", data, *flags_of(variant)])
        chosen = cli.chosen_preset(chapter, args)
        keras.utils.set_random_seed(0)
        model = chapter.model_class(**cli.model_arguments(args, chosen), **cli.model_options(args, chapter))
        options = cli.train_options(args, chosen, chapter)
        runners.append(benchmark.our_steps(model, x_train, batch_size, options.get("n_critic", 1),
                                           options.get("clip_threshold")))
    seconds = benchmark.time_in_turns(runners, warmup=3, steps=steps, repeats=repeats)
    return dict(zip(variants, seconds))


def collect(out):
    """{variant: {seed: quality.json}} of every run under ``out``."""
    runs = {}
    for quality in sorted(Path(out).glob("*/*/quality.json")):
        name = quality.parent.name.rsplit("_", 1)[0]
        variant, seed = name.rsplit("-s", 1)
        runs.setdefault(variant, {})[int(seed)] = json.loads(quality.read_text())
    return runs


def _series(summary, key):
    return {r["epoch"]: r[key] for r in summary["records"] if r.get(key) is not None}


def table(runs, steps, settle):
    """Markdown: per variant, the mean ± sd over seeds of the Fréchet distance at ``steps``, the
    worst after ``settle`` steps, and precision/recall and training time at the last step."""
    floor = np.mean([s["floor"]["fid"] for seeds in runs.values() for s in seeds.values()])
    head = ["variant", "seeds", *(f"FID@{s}" for s in steps), f"worst FID ≥{settle}",
            "precision", "recall", "train s"]
    lines = [f"Held-out real images' Fréchet distance (the floor): {floor:.2f}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(values, digits=1):
        values = [v for v in values if v is not None and np.isfinite(v)]
        if not values:
            return "–"
        return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if len(values) > 1 \
            else f"{values[0]:.{digits}f}"

    for variant, seeds in runs.items():
        fids = [_series(s, "fid") for s in seeds.values()]
        last = [max(f) if f else None for f in fids]
        row = [variant, str(len(seeds))]
        row += [cell([f.get(step) for f in fids]) for step in steps]
        row.append(cell([max((v for e, v in f.items() if e >= settle), default=None) for f in fids]))
        for key, digits in (("precision", 2), ("recall", 2), ("training_seconds", 0)):
            row.append(cell([_series(s, key).get(e) for s, e in zip(seeds.values(), last)], digits))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def plot(runs, path):
    """Fréchet distance against steps and against training time, mean over seeds per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_step, by_time) = plt.subplots(1, 2, figsize=(12, 4.5))
    for variant, seeds in runs.items():
        steps = sorted(set.intersection(*(set(_series(s, "fid")) for s in seeds.values())))
        if not steps:
            continue
        fid = np.array([[_series(s, "fid")[e] for e in steps] for s in seeds.values()])
        seconds = np.array([[_series(s, "training_seconds").get(e, np.nan) for e in steps]
                            for s in seeds.values()])
        line, = by_step.plot(steps, fid.mean(0), label=variant)
        by_step.fill_between(steps, fid.min(0), fid.max(0), color=line.get_color(), alpha=0.15)
        by_time.plot(np.nanmean(seconds, 0), fid.mean(0), color=line.get_color(), label=variant)
    floor = np.mean([s["floor"]["fid"] for seeds in runs.values() for s in seeds.values()])
    for axis, label in ((by_step, "training step"), (by_time, "training seconds (mean over seeds)")):
        axis.axhline(floor, color="black", linestyle="--", linewidth=1, label="held-out real")
        axis.axhline(2 * floor, color="gray", linestyle=":", linewidth=1, label="2 × floor")
        axis.set_yscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("Fréchet distance (mean over seeds; band: min–max)")
    by_step.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="04_01")
    parser.add_argument("--data", default="silhouettes")
    parser.add_argument("--variants", default="book,ema,diffaugment,ada,spectral-norm,r1,hinge,ttur")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--quality-every", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (each gets cores / N threads)")
    parser.add_argument("--out", default="run/ablation")
    parser.add_argument("--steps", default="200,300,500", help="the table's steps")
    parser.add_argument("--settle", type=int, default=200, help="the worst score from this step on")
    parser.add_argument("--report", action="store_true", help="only write the table and the plot")
    parser.add_argument("--time", action="store_true",
                        help="only time one training step of each variant, in turns (no training runs)")
    parser.add_argument("--launcher", default=None,
                        help="the command to run instead of the chapter's (e.g. the tests' tiny one)")
    args = parser.parse_args(argv)
    from utils.chapters import get

    chapter = get(args.chapter)
    variants = args.variants.split(",")
    for variant in variants:
        flags_of(variant)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.time:
        import platform

        times = step_times(chapter, args.data, variants)
        book = times.get("book")
        lines = [f"ms per training step, {chapter.command} --data {args.data}, timed in turns "
                 f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores):", "",
                 "| variant | ms per step | × book |", "|---|---|---|"]
        lines += [f"| {variant} | {1000 * s:.0f} | {s / book:.2f} |" if book else
                  f"| {variant} | {1000 * s:.0f} | – |" for variant, s in times.items()]
        text = "\n".join(lines) + "\n"
        Path(args.out).mkdir(parents=True, exist_ok=True)
        Path(args.out, "step_times.md").write_text(text)
        print(text)
        return
    if not args.report:
        jobs = [(variant, seed) for seed in seeds for variant in variants]
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            list(pool.map(lambda job: train(chapter, args.data, *job, args), jobs))
    runs = {variant: seeds for variant, seeds in collect(args.out).items() if variant in variants}
    if not runs:
        sys.exit(f"No finished runs under {args.out}.")
    steps = [int(s) for s in args.steps.split(",")]
    text = table(runs, steps, args.settle)
    Path(args.out, "ablation.md").write_text(text)
    plot(runs, Path(args.out, "ablation.png"))
    print(text)


if __name__ == "__main__":
    main()
