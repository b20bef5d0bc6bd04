"""The recipe search: train a chapter command with parts of the modern recipe on and off, over
several seeds, and keep every finished run's scores in a results file in the repository.

    python -m utils.commands.ablation --chapter 04_01 --data silhouettes \\
        --variants book,sn+ema+r1=0.1,sn+ema+r1=0.1+adam --seeds 0,1 --epochs 500 --parallel 2

A variant is parts joined by ``+``, each a name or ``name=value`` (``python -m
utils.commands.ablation --parts`` lists them): ``r1=0.01`` is R1 with γ = 0.01,
``adam`` Adam with β = (0, 0.99), ``lr=0.0002`` both learning rates.

Every run is the real command in its own process (``python -m utils.commands.cli CHAPTER``,
with the code of the tree this file is in), into ``<out>/<section>/<variant>-s<seed>_<data>/``,
scored every ``--quality-every`` steps by the command's own quality monitor (the mean over
five draws of the held-out set's size).  When a run finishes, one line goes to
``<results>/runs.jsonl`` (its flags, CPU and every score) and one row to ``<results>/runs.md``;
a run already there is skipped, a run cut short is resumed from its checkpoint, so the search
is continued, session after session, by the same command.  ``--report`` only rewrites
``<results>/summary.md`` and ``summary.png`` from the results.

Steps cost differently per variant, and runs that share the machine time each other badly:
``--time`` times one training step of each variant in turns (nothing else running) and
appends the costs to ``<results>/step_times.jsonl``.  The summary scores each variant at
the book's time: the steps it makes in the time the book's recipe takes for ``--book-steps``
steps (its step cost over the book's, measured on one machine), and at four times that.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Part:
    """One lever of the search: the command's flags for a value (``default`` when none is given;
    None: the part takes no value)."""

    flags: object
    default: object = None
    help: str = ""


PARTS = {
    "book": Part(lambda v: [], help="the chapter's own recipe (nothing added)"),
    # The first modern recipe, spelled out so that "modern" in the results keeps its meaning when the
    # shipped --recipe modern changes.
    "modern": Part(lambda v: ["--spectral-norm", "--r1", "1", "--ema", "0.999"],
                   help="the first modern recipe: spectral norm, R1 (γ 1), the average (0.999)"),
    "ema": Part(lambda v: ["--ema", v], "0.999", "the generator's average, its decay"),
    "diffaugment": Part(lambda v: ["--augment", v], "translation,cutout", "DiffAugment's policies"),
    "ada": Part(lambda v: ["--augment", "translation,cutout", "--augment-probability", "0",
                           "--augment-target", v], "0.6", "adaptive augmentation, its target"),
    "ada-speed": Part(lambda v: ["--augment-adjust-images", v], "5000",
                      "with ada: the real images over which its probability can go from 0 to 1"),
    "sn": Part(lambda v: ["--spectral-norm"], help="spectral normalisation of the adversary"),
    "spectral-norm": Part(lambda v: ["--spectral-norm"], help="the same as sn"),
    "r1": Part(lambda v: ["--r1", v], "1", "R1 on the real images, its γ"),
    "r2": Part(lambda v: ["--r2", v], "1", "R2 on the generated images, its γ"),
    "mbstd": Part(lambda v: ["--minibatch-std"], help="minibatch standard deviation in the adversary"),
    "ema-rampup": Part(lambda v: ["--ema-rampup", v], "0.05", "the average's half-life ramp (with ema)"),
    "lecam": Part(lambda v: ["--lecam", v], "0.01", "LeCam regularisation, its weight"),
    "lazy-r1": Part(lambda v: ["--r1-every", v], "16", "R1 and R2 every this many steps, the weight times that"),
    "hinge": Part(lambda v: ["--loss", "hinge"], help="the hinge loss"),
    "relativistic": Part(lambda v: ["--loss", "relativistic"], help="the relativistic pairing loss"),
    "lr": Part(lambda v: ["--d-learning-rate", v, "--g-learning-rate", v], "0.0002", "both learning rates"),
    "dlr": Part(lambda v: ["--d-learning-rate", v], "0.0002", "the adversary's learning rate"),
    "glr": Part(lambda v: ["--g-learning-rate", v], "0.0002", "the generator's learning rate"),
    "adam": Part(lambda v: ["--adam", v], "0,0.99", "Adam for both networks, its β₁,β₂"),
    "ncritic": Part(lambda v: ["--n-critic", v], "2", "adversary updates per generator update"),
    "dropout": Part(lambda v: ["--d-dropout", v], "0", "the adversary's dropout rate (0: none)"),
    "batch": Part(lambda v: ["--batch-size", v], "32", "the batch size"),
}


def flags_of(variant):
    """The command-line flags of a variant such as ``'sn+ema+r1=0.1'``."""
    flags = []
    for token in variant.split("+"):
        name, has_value, value = token.partition("=")
        part = PARTS.get(name)
        if part is None:
            raise ValueError(f"variant {variant!r}: no part {name!r}; choose from {', '.join(PARTS)} "
                             "(join with '+', give a value with '=': r1=0.1).")
        if has_value and part.default is None:
            raise ValueError(f"variant {variant!r}: the part {name!r} takes no value.")
        if has_value and not value:
            raise ValueError(f"variant {variant!r}: {name}= needs a value, e.g. {name}={part.default}.")
        flags += part.flags(value if has_value else part.default)
    return flags


def cpu_kind():
    """The CPU's model, family and model numbers, and the flags that decide its speed."""
    from models.ops.precision import cpu_flags, cpu_model

    numbers = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("cpu family", "model") and key.strip() not in numbers:
                    numbers[key.strip()] = value.strip()
    except OSError:
        pass
    flags = cpu_flags()
    shown = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    family = f" family {numbers['cpu family']} model {numbers['model']}" if len(numbers) == 2 else ""
    return f"{cpu_model()}{family} ({' '.join(shown) or 'no AVX2'}), {os.cpu_count()} cores"


# ---------------------------------------------------------------------------- results


class Results:
    """The search's results folder: ``runs.jsonl`` (one finished run per line, the record the
    summary is made from), ``runs.md`` (the same, one readable row per run), ``step_times.jsonl``."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.runs_file = self.folder / "runs.jsonl"
        self.table_file = self.folder / "runs.md"
        self.times_file = self.folder / "step_times.jsonl"
        self._lock = threading.Lock()

    @staticmethod
    def key(run):
        return run["chapter"], run["data"], run["variant"], int(run["seed"]), int(run["steps"])

    def _lines(self, path):
        if not path.exists():
            return []
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                print(f"Note: line {number} of {path} is not JSON (cut short?); it is ignored.",
                      file=sys.stderr)
        return rows

    def runs(self):
        return self._lines(self.runs_file)

    def step_times(self):
        return self._lines(self.times_file)

    def has(self, key):
        return any(self.key(run) == key for run in self.runs())

    def add(self, run):
        """Append one finished run (both files, each line whole, under a lock for parallel runs)."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not self.table_file.exists():
                self.table_file.write_text(RUNS_HEADER)
            _append(self.runs_file, json.dumps(run) + "\n")
            _append(self.table_file, run_row(run) + "\n")

    def add_step_times(self, chapter, data, times, cpu):
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%d")
            _append(self.times_file, "".join(
                json.dumps({"chapter": chapter, "data": data, "variant": variant, "seconds": seconds,
                            "book_seconds": times.get("book"), "cpu": cpu, "date": stamp}) + "\n"
                for variant, seconds in times.items()))


def _append(path, text):
    with open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


RUNS_HEADER = (
    "# Finished runs of the recipe search\n\n"
    "Appended by `python -m utils.commands.ablation` as each run finishes (the whole record is in "
    "runs.jsonl beside this file). FD: the Fréchet distance in the silhouette classifier's features, "
    "mean of 5 draws of the held-out set's size, ± their sd.\n\n"
    "| chapter | data | variant | seed | steps | FD at end | best FD (step) | recall at end | floor | "
    "train s | CPU | date |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")


def run_row(run):
    scored = [r for r in run["records"] if r.get("fid") is not None]
    last = scored[-1] if scored else {}
    best = min(scored, key=lambda r: r["fid"]) if scored else {}
    spread = f" ± {last['fid_sd']:.1f}" if last.get("fid_sd") is not None else ""
    cells = [run["chapter"], run["data"], run["variant"], str(run["seed"]), str(run["steps"]),
             f"{last['fid']:.2f}{spread}" if last else "–",
             f"{best['fid']:.2f} ({best['epoch']})" if best else "–",
             f"{last['recall']:.2f}" if last else "–", f"{run['floor']:.2f}",
             f"{last.get('training_seconds', 0):.0f}" if last else "–", run["cpu"], run["date"]]
    return "| " + " | ".join(cells) + " |"


# ---------------------------------------------------------------------------- training


def run_folder(out, section, variant, seed, data_name):
    return Path(out) / section / f"{variant}-s{seed}_{data_name}"


def finished(folder, epochs):
    quality = folder / "quality.json"
    if not quality.exists():
        return False
    try:
        records = json.loads(quality.read_text())["records"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(records) and records[-1]["epoch"] >= epochs


def command_of(chapter, args):
    """The chapter's command in a fresh Python, on the code of this tree."""
    if args.launcher:
        return args.launcher.split()
    return [sys.executable, "-m", "utils.commands.cli", chapter.key]


def train(chapter, data, data_name, variant, seed, args, results):
    """One run (resumed if it was cut short), added to ``results`` once finished.

    Returns:
        True when the run is in the results, False when it failed (its log is named).
    """
    from utils.runs.checkpoint import read_training_state
    from utils.runs.folder import RunFolder

    key = (chapter.key, data, variant, seed, args.epochs)
    if results.has(key):
        return True
    folder = run_folder(args.out, chapter.preset.section, variant, seed, data_name)
    log = folder.parent / f"{folder.name}.log"
    if not finished(folder, args.epochs):
        command = [*command_of(chapter, args), "--data", data, "--epochs", str(args.epochs),
                   "--seed", str(seed), "--run-id", f"{variant}-s{seed}",
                   "--print-every", str(args.quality_every), "--quality-every", str(args.quality_every),
                   "--quality-budget", "inf", "--no-tensorboard", *flags_of(variant)]
        checkpoint = RunFolder(folder).checkpoint
        if checkpoint.exists():  # cut short: go on from the epoch its checkpoint holds
            done = (read_training_state(checkpoint) or {}).get("epoch", 0)
            command = [*command, "--resume"]
            command[command.index("--epochs") + 1] = str(max(args.epochs - done, 1))
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            result = subprocess.run(command, env=_environment(args), stdout=handle, stderr=subprocess.STDOUT)
        if result.returncode or not finished(folder, args.epochs):
            print(f"{variant} seed {seed}: {' '.join(command)} failed ({result.returncode}); see {log}",
                  file=sys.stderr)
            return False
    control = None
    if getattr(chapter.model_class, "CONTROL", None) is not None:
        control = control_of(folder, args, log)
        if control is None:
            print(f"{variant} seed {seed}: measuring its control (gdl-eval) failed; see {log}. Run the same "
                  "command again to retry.", file=sys.stderr)
            return False
    quality = json.loads((folder / "quality.json").read_text())
    keep = ("epoch", "fid", "fid_sd", "kid", "kid_se", "precision", "recall", "coverage",
            "density", "training_seconds", "finite")
    results.add({
        "chapter": chapter.key, "data": data, "variant": variant, "seed": seed, "steps": args.epochs,
        "flags": flags_of(variant), "cpu": cpu_kind(), "parallel": args.parallel,
        "date": time.strftime("%Y-%m-%d"), "floor": quality["floor"]["fid"],
        "draws": quality.get("draws", 1), "n_samples": quality["n_samples"],
        "records": [{k: r[k] for k in keep if k in r} for r in quality["records"]],
        **({"control": control} if control is not None else {}),
    })
    print(f"{variant} seed {seed}: finished, in {results.runs_file}", flush=True)
    return True


def _environment(args):
    """The environment of a run or an evaluation: this tree's code, the search's run folder, and each
    process its share of the cores."""
    env = {**os.environ, "GDL_RUN_DIR": str(args.out),
           "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")])}
    if args.parallel > 1:
        threads = str(max(1, (os.cpu_count() or 2) // args.parallel))
        env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=threads,
                   XLA_FLAGS=f"--xla_cpu_multi_thread_eigen={'false' if threads == '1' else 'true'}")
    return env


def control_of(folder, args, log):
    """A controllable GAN's control at the end of its run, as ``gdl-eval`` measures it: for a CGAN the
    share of samples the classifier judges to be the class asked for (``class_control``, mean and
    per class), for an InfoGAN how its categorical code matches the animals (``code_match``).
    The evaluation's other measures use fewer images than its defaults (the search takes them from
    the quality monitor; control is measured the same). None when the evaluation failed (its output
    is in ``log``)."""
    command = [sys.executable, "-m", "utils.commands.evaluate", str(folder), "--draws", "1",
               "--reference", "1000", "--held-out", "500", "--samples", "200"]
    with open(log, "a") as handle:
        result = subprocess.run(command, env=_environment(args), stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode:
        return None
    try:
        report = json.loads((folder / "eval" / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    control = {}
    if "class_control" in report:
        control["class_control"] = report["class_control"]["mean"]
        control["per_class"] = report["class_control"]["per_class"]
    if "code_match" in report:
        control["code_match"] = report["code_match"]["accuracy"]
        control["code_nmi"] = report["code_match"]["nmi"]
    return control


def step_times(chapter, data, variants, steps=10, repeats=3):
    """Seconds per training step of each variant (its model as its command builds it), in turns.

    Returns:
        ``{variant: seconds}``.
    """
    import keras

    from utils.commands import benchmark, cli

    runners = []
    for variant in variants:
        args = cli.build_parser(chapter.key).parse_args(["--data", data, *flags_of(variant)])
        chosen = cli.chosen_preset(chapter, args)
        batch_size = args.batch_size or chosen.batch_size
        x_train = np.random.default_rng(0).uniform(
            -1, 1, (max(8 * batch_size, 512), *chosen.input_dim)).astype("float32")
        keras.utils.set_random_seed(0)
        model = chapter.model_class(**cli.model_arguments(args, chosen), **cli.model_options(args, chapter))
        options = cli.train_options(args, chosen, chapter)
        labels = np.arange(len(x_train)) % model.num_classes if chapter.conditional else None
        runners.append(benchmark.our_steps(model, x_train, batch_size, options.get("n_critic") or 1,
                                           options.get("clip_threshold"), labels))
    seconds = benchmark.time_in_turns(runners, warmup=3, steps=steps, repeats=repeats)
    return dict(zip(variants, seconds))


# ---------------------------------------------------------------------------- summary


def cost_ratios(times, chapter, data):
    """Each variant's step cost over the book's, from the latest timing that holds both."""
    ratios = {}
    for row in times:
        if row["chapter"] == chapter and row["data"] == data and row.get("book_seconds"):
            ratios[row["variant"]] = row["seconds"] / row["book_seconds"]
    return ratios


def score_at(run, step):
    """The last finite record of ``run`` at or before ``step`` (None: none yet)."""
    scored = [r for r in run["records"] if r["epoch"] <= step and r.get("fid") is not None]
    return scored[-1] if scored else None


def summarise(runs, ratios, book_steps):
    """Per (variant, steps): the scores at the book's time and at four times it, over seeds.

    Returns:
        A list of dicts, best first (by the mean FD at the book's time, in multiples of the floor).
    """
    groups = {}
    for run in runs:
        groups.setdefault((run["variant"], run["steps"]), []).append(run)
    rows = []
    for (variant, steps), group in groups.items():
        ratio = ratios.get(variant)
        at_book = int(book_steps / ratio) if ratio else book_steps
        at_four = 4 * at_book
        row = {"variant": variant, "steps": steps, "seeds": sorted(r["seed"] for r in group),
               "ratio": ratio, "book_time_steps": at_book}
        for name, step in (("book_time", at_book), ("four_times", at_four)):
            if step > steps:
                continue
            scores = [score_at(r, step) for r in group]
            if any(s is None for s in scores):
                continue
            multiples = [s["fid"] / r["floor"] for s, r in zip(scores, group)]
            row[name] = {"fid": [s["fid"] for s in scores], "multiple": multiples,
                         "recall": [s["recall"] for s in scores],
                         "kid": [s["kid"] for s in scores]}
            later = [[x["fid"] / r["floor"] for x in r["records"]
                      if x["epoch"] > step and x.get("fid") is not None] for r in group]
            row[name]["worst_later"] = [max(v) if v else None for v in later]
        controls = [r["control"].get("class_control", r["control"].get("code_match"))
                    for r in group if r.get("control")]
        if controls:
            row["control"] = controls
        ends = [score_at(r, steps) for r in group]
        row["end"] = {"fid": [s["fid"] for s in ends if s], "multiple": [
            s["fid"] / r["floor"] for s, r in zip(ends, group) if s]}
        rows.append(row)
    key = lambda row: np.mean(row["book_time"]["multiple"]) if "book_time" in row else math.inf
    return sorted(rows, key=key)


def _cell(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def summary_text(rows, runs, ratios, book_steps):
    controlled = any("control" in row for row in rows)
    floors = sorted({round(r["floor"], 2) for r in runs})
    lines = [f"# Recipe search: summary of {len(runs)} finished runs", "",
             "Written by `python -m utils.commands.ablation --report` from runs.jsonl. Scores: the "
             "Fréchet distance (FD) in multiples of the held-out floor "
             f"({', '.join(map(str, floors))}), mean ± sd over seeds, each seed's FD the mean of "
             "5 draws. The book's time: the steps a variant makes in the time the book's recipe "
             f"takes for {book_steps} steps (its step cost over the book's, from step_times.jsonl; "
             "'?' where not timed yet: then at the same step count)." + (
                 " Control: the share of samples judged to be the class asked for (a CGAN's), or the "
                 "categorical code's best-matching accuracy against the animals (an InfoGAN's), by "
                 "gdl-eval at the end." if controlled else ""), "",
             "| variant | steps run | seeds | cost × book | steps in the book's time | FD × floor there "
             "| worst seed | recall there | FD × floor at 4× the time | worst later × floor | FD × floor at end |"
             + (" control at end |" if controlled else ""),
             "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if controlled else "")]
    for row in rows:
        book, four = row.get("book_time"), row.get("four_times")
        lines.append("| " + " | ".join([
            row["variant"], str(row["steps"]), ",".join(map(str, row["seeds"])),
            f"{row['ratio']:.2f}" if row["ratio"] else "?", str(row["book_time_steps"]),
            _cell(book["multiple"], 2) if book else "–",
            f"{max(book['multiple']):.2f}" if book else "–",
            _cell(book["recall"], 2) if book else "–",
            _cell(four["multiple"], 2) if four else "–",
            _cell(four["worst_later"], 2) if four else "–",
            _cell(row["end"]["multiple"], 2),
            *([_cell(row.get("control", []), 3)] if controlled else [])]) + " |")
    return "\n".join(lines) + "\n"


def plot(runs, ratios, path):
    """FD (in floors) against steps and against the book's time, mean over seeds per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_step, by_time) = plt.subplots(1, 2, figsize=(13, 5))
    groups = {}
    for run in runs:
        groups.setdefault((run["variant"], run["steps"]), []).append(run)
    for (variant, steps), group in sorted(groups.items()):
        common = sorted(set.intersection(*({r["epoch"] for r in run["records"] if r.get("fid")}
                                           for run in group)))
        if not common:
            continue
        values = np.array([[next(r["fid"] for r in run["records"] if r["epoch"] == e) / run["floor"]
                            for e in common] for run in group])
        label = f"{variant} ({steps})"
        line, = by_step.plot(common, values.mean(0), label=label, linewidth=1)
        by_step.fill_between(common, values.min(0), values.max(0), color=line.get_color(), alpha=0.1)
        ratio = ratios.get(variant)
        if ratio:
            by_time.plot(np.array(common) * ratio, values.mean(0), color=line.get_color(), linewidth=1)
    for axis, label in ((by_step, "training step"), (by_time, "time, in the book's steps")):
        for level, style in ((1, "--"), (2, ":"), (3, "-.")):
            axis.axhline(level, color="gray", linestyle=style, linewidth=1)
        axis.set_yscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("FD / held-out floor (mean over seeds; band: min–max)")
    by_step.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(results, chapter, data, book_steps):
    runs = [r for r in results.runs() if r["chapter"] == chapter and r["data"] == data]
    if not runs:
        return None
    ratios = cost_ratios(results.step_times(), chapter, data)
    text = summary_text(summarise(runs, ratios, book_steps), runs, ratios, book_steps)
    (results.folder / "summary.md").write_text(text)
    plot(runs, ratios, results.folder / "summary.png")
    return text


# ---------------------------------------------------------------------------- command


def _refuse(message):
    """Bad input: one line and status 2, as every command of the project answers it."""
    from utils.commands.cli import refuse

    refuse("ablation", message)


def _list(text, name, convert=str):
    try:
        values = [convert(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        _refuse(f"--{name} {text!r}: expected comma-separated {convert.__name__}s, e.g. 0,1.")
    if not values:
        _refuse(f"--{name} is empty.")
    return values


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m utils.commands.ablation",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="04_01", help="04_01, 04_02, 04_03, cgan or infogan")
    parser.add_argument("--data", default="silhouettes")
    parser.add_argument("--variants", default="book", help="comma-separated; parts joined by '+'")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--epochs", type=int, default=500, help="steps of each run")
    parser.add_argument("--quality-every", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (each gets cores / N threads)")
    parser.add_argument("--out", default="run/search", help="where the runs' folders go")
    parser.add_argument("--results", default=None,
                        help="the results folder (default: docs/search/<section>-<data>)")
    parser.add_argument("--book-steps", type=int, default=500,
                        help="the book's run the variants are timed against, in its steps")
    parser.add_argument("--report", action="store_true", help="only rewrite the summary")
    parser.add_argument("--time", action="store_true",
                        help="only time one training step of each variant, in turns (no training runs)")
    parser.add_argument("--parts", action="store_true", help="list the parts a variant is made of")
    parser.add_argument("--launcher", default=None,
                        help="the command to run instead of the chapter's (e.g. the tests' tiny one)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.parts:
        for name, part in PARTS.items():
            value = f"={part.default}" if part.default is not None else ""
            print(f"{name + value:<36} {part.help}")
        return
    from utils.chapters import every_chapter, get

    keys = list(every_chapter())
    if args.chapter not in keys:
        _refuse(f"--chapter {args.chapter!r}: choose one of {', '.join(keys)}.")
    chapter = get(args.chapter)
    variants = _list(args.variants, "variants")
    try:
        for variant in variants:
            flags_of(variant)
    except ValueError as error:
        _refuse(f"--variants: {error}")
    seeds = _list(args.seeds, "seeds", int)
    for name in ("epochs", "quality_every", "parallel", "book_steps"):
        if getattr(args, name) < 1:
            _refuse(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)}).")
    if args.launcher is not None and not args.launcher.split():
        _refuse("--launcher is empty: give the command to run, or leave it out.")
    from utils.commands.cli import build_parser as command_parser, data_spec

    parsed = command_parser(chapter.key).parse_args(["--data", args.data])
    try:
        data_name = data_spec(parsed, conditional=chapter.conditional).run_name
    except (ValueError, SystemExit) as error:
        _refuse(f"--data {args.data!r}: {error}")
    results = Results(args.results or PROJECT / "docs" / "search" / f"{chapter.preset.section}-{data_name}")
    if args.time:
        times = step_times(chapter, args.data, variants)
        cpu = cpu_kind()
        results.add_step_times(chapter.key, args.data, times, cpu)
        book = times.get("book")
        print(f"ms per training step, {chapter.command} --data {args.data}, in turns ({cpu}):")
        for variant, seconds in times.items():
            print(f"  {variant:<40} {1000 * seconds:8.1f}" + (f"  × book {seconds / book:.2f}" if book else ""))
        return
    if not args.report:
        jobs = [(variant, seed) for seed in seeds for variant in variants]
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            done = list(pool.map(lambda job: train(chapter, args.data, data_name, *job, args, results), jobs))
        if not all(done):
            print(f"{done.count(False)} of {len(done)} runs failed; run the same command again to retry "
                  "them.", file=sys.stderr)
    text = report(results, chapter.key, args.data, args.book_steps)
    if text is None:
        _refuse(f"no finished runs of {chapter.key} on {args.data} in {results.runs_file}.")
    print(text)


if __name__ == "__main__":
    main()
