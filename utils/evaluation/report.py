"""Evaluate a saved run: every measure, beside its floor, with the pictures, in ``<run>/eval/``.

``evaluate_run(folder)`` is what ``gdl-eval`` runs.  It loads the run's model
and the real images of the data it trained on (``data.json``), draws samples
from fixed latent points, and writes:

* ``metrics.json``: Fréchet distance, KID, precision, recall, density and
  coverage of the samples, each beside the same measure for held-out real
  images (the floor a perfect generator reaches at that sample count); mode
  coverage (silhouettes: the classifier's histogram of samples against the
  data's); memorisation (pixel distances to the nearest training image against
  the held-out images'); and, when the run was scored while training, the
  correlation between the loss and sample quality;
* pictures: samples, the closest sample–training pairs, linear and spherical
  interpolations, latent vector arithmetic on class means, quality and
  histograms;
* ``summary.html``: one page with the table and the pictures.
"""

import html
import json
import os
import time

import numpy as np

from utils.evaluation import latent, measures
from utils.evaluation.quality import (LOWER_IS_BETTER, MEASURES, Reference, training_signal,
                                      loss_quality_correlation, read_quality, sample_latents)
from utils.evaluation.memorisation import nearest_training_images
from utils.plotting import save_grid, tile_images
from utils.runs.folder import RunFolder, replace_folder_atomically


class EvaluationError(ValueError):
    """A run cannot be evaluated as asked; the message says why and what to pass instead."""


def load_run(folder):
    """The run's model, rebuilt with its checkpoint, by the class recorded in the folder.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
    Returns:
        The model, its checkpoint loaded by ``load_model``.
    Raises:
        EvaluationError: the folder does not say which of the project's models wrote it.
        SavedRunError: a file of the run is damaged or belongs to another model.
    """
    from utils.chapters import model_classes
    from utils.runs.saved import load_model, recorded_class

    writer = recorded_class(folder)
    classes = model_classes()
    if writer not in classes:
        raise EvaluationError(
            f"{folder} does not say which model wrote it (no run.json or checkpoint naming "
            f"{', '.join(classes)}): is it a run folder of gdl-gan, gdl-wgan, gdl-wgangp, gdl-cgan or gdl-infogan?")
    return load_model(classes[writer], folder)


class Steps:
    """Numbered progress lines ("[3/7] Memorisation ..."): the long steps (embedding with
    InceptionV3) also show a progress bar of their own.

    Args:
        total: the number of steps announced (the attribute may be raised later).
        say: called with each line.
    """

    def __init__(self, total, say=print):
        self.total, self.done, self.say = total, 0, say

    def __call__(self, message):
        self.done += 1
        self.say(f"[{self.done}/{self.total}] {message}")


def _progress(message):
    print(message, flush=True)


def evaluate_run(folder, features=None, data=None, n_samples=None, n_reference=10000,
                 n_held_out=2000, classifier=None, seed=0, say=_progress, draws=5):
    """Evaluate the run in ``folder`` and write ``eval/``; returns the report (also in metrics.json).

    Args:
        folder: the run folder, a path or a ``RunFolder``.
        features: an extractor, or a ``features_for`` name ('silhouette',
            'inception', a ``.keras`` file); by default the data's own.
        data: a data set (``utils.data.sets``) when the folder does not record its data.
        n_samples: generated images per draw; by default as many as held-out images.
        n_reference, n_held_out: at most this many training and held-out images.
        classifier: a silhouette classifier weights file instead of the shipped one.
        seed: seed of the real images picked, the latent points and the interpolations.
        say: called with each progress line.
        draws: draws of ``n_samples`` images whose measures are averaged (the Fréchet
            distance's spread between them and KID's standard error beside the means);
            the pictures, memorisation and class counts use the first draw.
    Returns:
        The report, a JSON-ready dict (``measures``, ``counts``, ``memorisation``,
        ``mode_coverage``, ``pictures``...), as written to ``eval/metrics.json``.
    Raises:
        EvaluationError: ``folder`` is not a run folder, records neither its data nor its
            model (pass ``data``), or its generator draws non-finite images.
        ValueError: a damaged ``data.json`` or ``quality.json``.
    """
    from utils.data import sets
    from utils.evaluation.features import features_for

    started = time.perf_counter()
    say = Steps(7, say)
    folder = RunFolder(folder)
    if not folder.path.is_dir():
        raise EvaluationError(f"No run folder {folder}: pass the folder a training command wrote, "
                              f"e.g. run/gan/0001_silhouettes-horse.")
    if not any(path.exists() for path in (folder.params_json, folder.params_pkl, folder.run_record,
                                          folder.checkpoint)):
        raise EvaluationError(
            f"{folder} is not a run folder: it holds no params.json, run.json or "
            f"weights/{folder.checkpoint.name}. Pass the folder a training command or notebook wrote, "
            f"e.g. run/gan/0001_silhouettes-horse.")
    spec = data or sets.read(folder)
    if spec is None:
        raise EvaluationError(
            f"{folder} does not record its data (no data.json, and its name does not say): pass "
            f"--data {sets.EXAMPLES}.")
    say(f"Loading the run in {folder}")
    model = load_run(folder)
    controllable = spec.animal_classes and model.CONTROL is not None
    say.total += int(controllable)
    if features is None or isinstance(features, str):
        features = features_for(features or spec.default_features, classifier=classifier)
    say(f"Loading real images ({spec.run_name})")
    real = spec.real_images(model.input_dim, n_train=n_reference, n_held_out=n_held_out, seed=seed)
    n_samples = int(n_samples or len(real.held_out))
    draws = int(draws)
    say(f"Drawing {draws} × {n_samples} samples at epoch {model.epoch}")
    latents = sample_latents(model.z_dim, draws * n_samples, seed)
    every_draw = latent.generate(model.sampler, latents)
    samples = every_draw[:n_samples]
    if not np.isfinite(every_draw).all():
        raise EvaluationError(f"The generator of {folder} draws non-finite images: the run diverged.")

    # Read before anything is written: a damaged file fails here, naming itself.
    correlation = training_correlation(folder, model)
    report = {}

    def fill(out):
        """Everything of eval/, written into ``out`` (a staging folder swapped in whole)."""
        say(f"Embedding {len(real.train)} training, {len(real.held_out)} held-out and {draws} × {n_samples} "
            f"generated images ({features.name})")
        reference = Reference(features, real.train, real.held_out)
        report.update({
            "run": str(folder), "model_class": type(model).__name__, "epoch": int(model.epoch),
            "data": spec.run_name, "features": features.name,
            "features_description": features.description,
            "counts": {"samples": n_samples, "draws": draws, "train_reference": reference.n_train,
                       "held_out": reference.n_held_out, "held_out_unseen": real.held_out_unseen},
            "measures": {"samples": reference.score_draws(features(every_draw), draws),
                         "held_out": reference.floor()},
            "pictures": {},
        })
        pictures = report["pictures"]
        pictures["samples"] = _save(out / "samples.png", tile_images(samples, 5, 5))

        say("Memorisation: nearest training image of each sample and held-out image")
        report["memorisation"], pictures["closest_pairs"] = memorisation(samples, real, out)

        if spec.animal_classes:
            say("Mode coverage and latent arithmetic with the silhouette classifier")
            _silhouette_sections(report, model, samples, real, out, classifier, seed)
        else:
            say("Mode coverage: none to count")
            report["mode_coverage"] = {"note": f"{spec.run_name} has no classes to count."}
        if controllable:
            say("Control: what the labels or codes choose")
            _control_section(report, model, spec, real, out, classifier)
        say("Latent interpolations")
        for method in latent.METHODS:
            grid = latent.interpolation_grid(model.sampler, model.z_dim, method=method, seed=seed)
            pictures[f"interpolation_{method}"] = _save(out / f"interpolation_{method}.png", grid)
        if correlation is not None:
            report["loss_quality"] = correlation
            pictures["loss_vs_quality"] = save_correlation_plot(correlation, out / "loss_vs_quality.png")
        if folder.quality_plot.exists():
            pictures["quality_while_training"] = os.path.relpath(folder.quality_plot, out)
        report["seconds"] = round(time.perf_counter() - started, 1)
        with open(out / "metrics.json", "w") as f:
            json.dump(report, f, indent=1)
        write_summary(report, out / "summary.html")

    with folder.writing("the evaluation (eval/)", then="run gdl-eval again"):
        replace_folder_atomically(folder.evaluation, fill)
    return report


def _save(path, grid):
    save_grid(grid, path)
    return os.path.basename(path)


def memorisation(samples, real, out, pairs=10):
    """Distances to the nearest training image (the book's pixel distance), samples against held-out
    images, and a picture of the closest pairs (samples above, their training images below).

    Args:
        samples: generated images (N, H, W, C) in [-1, 1].
        real: the ``RealImages`` (``train`` and ``held_out``), shaped like the samples.
        out: the folder (a ``Path``) to write ``closest_pairs.png`` in.
        pairs: how many of the closest sample–training pairs to show.
    Returns:
        ``(summary, picture)``: ``measures.memorisation_summary``'s dict plus ``distance``
        (what is measured) and ``closest_distances``, and the picture's file name.
    """
    sample_index, sample_distance = nearest_training_images(samples, real.train)
    _, held_out_distance = nearest_training_images(real.held_out, real.train)
    summary = measures.memorisation_summary(sample_distance, held_out_distance)
    summary["distance"] = "mean absolute pixel difference (images in [-1, 1])"
    closest = np.argsort(sample_distance)[:pairs]
    summary["closest_distances"] = [float(d) for d in sample_distance[closest]]
    grid = tile_images(np.concatenate([samples[closest], real.train[sample_index[closest]]]),
                       rows=2, cols=len(closest))
    return summary, _save(out / "closest_pairs.png", grid)


def _control_section(report, model, spec, real, out, classifier):
    """CGAN: per-class accuracy of what it is asked to draw; InfoGAN: how its categorical code
    matches the animals (``utils.evaluation.control``)."""
    from utils.evaluation.classifier import SilhouetteFeatures

    if model.CONTROL == "labels":
        from utils.evaluation.control import class_control

        judge = SilhouetteFeatures(classifier)
        control, grid = class_control(model, spec.silhouette_classes, list(real.class_names),
                                      judge.classify, real=(real.held_out, real.held_out_labels))
        report["class_control"] = control
        report["pictures"]["class_control"] = _save(out / "class_control.png", grid)
    else:
        from utils.evaluation.codes import code_class_match

        report["code_match"] = code_class_match(model, real.held_out, real.held_out_labels,
                                                list(real.class_names))


# Latent arithmetic: a class's mean latent point needs this many of these many samples judged of it.
ARITHMETIC_SAMPLES = 4000
ARITHMETIC_MIN_COUNT = 20


def _silhouette_sections(report, model, samples, real, out, classifier, seed):
    from utils.evaluation.classifier import SilhouetteFeatures

    judge = SilhouetteFeatures(classifier)
    n_classes = len(real.class_names)
    fake_labels = judge.classify(samples)
    held_labels = judge.classify(real.held_out)
    coverage = measures.mode_coverage(fake_labels, real.train_labels, n_classes)
    coverage["held_out"] = measures.mode_coverage(held_labels, real.train_labels, n_classes)
    coverage["class_names"] = list(real.class_names)
    report["mode_coverage"] = coverage
    report["pictures"]["class_histogram"] = save_histogram_plot(coverage, out / "class_histogram.png")

    latents = sample_latents(model.z_dim, ARITHMETIC_SAMPLES, seed + 1)
    labels = judge.classify(latent.generate(model.sampler, latents))
    means = latent.class_means(latents, labels, min_count=ARITHMETIC_MIN_COUNT)
    triples = latent.analogies(means, rows=4, seed=seed)
    report["latent_arithmetic"] = {
        "classes_with_a_mean": [real.class_names[c] for c in sorted(means)],
        "rows": [[real.class_names[c] for c in triple] for triple in triples],
    }
    picture = latent.analogy_picture(model.sampler, means, triples, real.class_names)
    if picture is None:
        report["latent_arithmetic"]["note"] = (
            f"Needs three classes with at least {ARITHMETIC_MIN_COUNT} of {ARITHMETIC_SAMPLES:,} samples "
            "each (as judged by the classifier); train on more animals (--classes all) for "
            "arithmetic between them.")
    else:
        picture.save(out / "latent_arithmetic.png")
        report["pictures"]["latent_arithmetic"] = "latent_arithmetic.png"


def training_correlation(folder, model):
    """Loss against FID over the run, from quality.json and the checkpoint's history; or None.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
        model: the run's model, loaded (its ``d_losses`` and ``objective``).
    Returns:
        ``loss_quality_correlation``'s dict for FID plus ``loss`` (what the loss is), or None
        when the run was not scored while training or has no loss history.
    Raises:
        ValueError: ``quality.json`` is damaged.
    """
    quality = read_quality(folder)
    if not quality or not model.d_losses:
        return None
    signal, description = training_signal(model)
    result = loss_quality_correlation(quality["records"], signal, "fid")
    result["loss"] = description
    return result


def save_correlation_plot(correlation, path):
    """FID and the loss over training (left), and FID against the loss (right).

    Args:
        correlation: the dict ``training_correlation`` returns.
        path: the image file to write.
    Returns:
        The file's name, as the report lists pictures.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), dpi=100)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    left.plot(correlation["epochs"], correlation["quality"], color="tab:blue", marker="o", markersize=3)
    left.set_ylabel("FID", color="tab:blue")
    left.set_xlabel("step")
    twin = left.twinx()
    twin.plot(correlation["epochs"], correlation["loss_values"], color="tab:red", marker="s", markersize=3)
    twin.set_ylabel("loss (mean over the steps before)", color="tab:red")
    right.scatter(correlation["loss_values"], correlation["quality"], s=12)
    right.set_xlabel(correlation["loss"])
    right.set_ylabel("FID")
    spearman = correlation["spearman"]
    right.set_title(f"Spearman {spearman:.2f}" if spearman is not None else "too few points")
    figure.tight_layout()
    figure.savefig(path)
    return os.path.basename(path)


def save_histogram_plot(coverage, path):
    """Bars of each class's share: training data, held-out images and samples (as classified).

    Args:
        coverage: the report's ``mode_coverage`` dict, with ``class_names`` and ``held_out``.
        path: the image file to write.
    Returns:
        The file's name, as the report lists pictures.
    """
    from matplotlib.figure import Figure

    names = coverage["class_names"]
    x = np.arange(len(names))
    figure = Figure(figsize=(8, 3.2), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    axes.bar(x - 0.27, coverage["real_histogram"], 0.27, label="training data")
    axes.bar(x, coverage["held_out"]["fake_histogram"], 0.27, label="held-out (classified)")
    axes.bar(x + 0.27, coverage["fake_histogram"], 0.27, label="samples (classified)")
    axes.set_xticks(x, names, rotation=30, fontsize="small")
    axes.set_ylabel("share")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return os.path.basename(path)


# -- the table and the page ----------------------------------------------------------------

def table_rows(report):
    """(measure, samples, held-out floor, which way is better) for the printed table and the page.

    Args:
        report: the dict ``evaluate_run`` returns.
    Returns:
        A list of ``(name, samples' value, held-out value, better)`` tuples: the measures,
        memorisation and, where classes were counted, mode coverage.
    """
    samples, floor = report["measures"]["samples"], report["measures"]["held_out"]
    rows = [(name, samples[name], floor[name], "lower" if name in LOWER_IS_BETTER else "higher")
            for name in MEASURES]
    if samples.get("draws", 1) > 1:  # the means' steadiness, beside them
        rows.insert(1, ("fid: sd between draws", samples["fid_sd"], None, "–"))
        rows.insert(3, ("kid: standard error", samples["kid_se"], None, "–"))
    memo = report["memorisation"]
    rows.append(("median distance to nearest training image", memo["median_sample"],
                 memo["median_held_out"], "not lower"))
    rows.append((f"share closer than {memo['expected_fraction']:.0%} of held-out",
                 memo["fraction_closer"], memo["expected_fraction"], "not higher"))
    coverage = report.get("mode_coverage", {})
    if "classes_covered" in coverage:
        rows.append(("classes covered", coverage["classes_covered"],
                     coverage["held_out"]["classes_covered"], f"of {coverage['classes_in_data']}"))
        rows.append(("class histogram distance (TV)", coverage["total_variation"],
                     coverage["held_out"]["total_variation"], "lower"))
    return rows


def format_table(report):
    """The report as ``gdl-eval`` prints it: what was scored, the table, control, loss vs FID.

    Args:
        report: the dict ``evaluate_run`` returns.
    Returns:
        The text, lines joined by newlines.
    """
    counts = report["counts"]
    lines = [f"{report['model_class']} at epoch {report['epoch']} on {report['data']}; features: "
             f"{report['features']}",
             f"{_draws(counts)} samples and {counts['held_out']} held-out real images "
             f"({'never trained on' if counts['held_out_unseen'] else 'left out of the reference'}), "
             f"each against {counts['train_reference']} training images",
             f"{'measure':<44} {'samples':>10} {'held-out':>10}  better"]
    for name, value, floor, better in table_rows(report):
        lines.append(f"{name:<44} {_number(value):>10} {_number(floor):>10}  {better}")
    lines.extend(control_lines(report))
    if "loss_quality" in report:
        lq = report["loss_quality"]
        lines.append(f"loss vs FID over training ({lq['n']} scores): Spearman {_number(lq['spearman'])}, "
                     f"Pearson {_number(lq['pearson'])} ({lq['loss']})")
    lines.append(f"Summary: {os.path.join(report['run'], 'eval', 'summary.html')}")
    return "\n".join(lines)


def control_lines(report):
    """The controllable GANs' figures, for the printed table and the page.

    Args:
        report: the dict ``evaluate_run`` returns.
    Returns:
        A list of lines: for ``class_control`` one or two, for ``code_match`` one; empty for
        a model without either.
    """
    lines = []
    if "class_control" in report:
        control = report["class_control"]
        shares = ", ".join(f"{name} {share:.2f}" for name, share in control["per_class"].items())
        lines.append(f"asked-for class drawn (classifier's verdict, {control['samples_per_class']} "
                     f"samples per class): mean {control['mean']:.3f} (chance {control['chance']:.2f}); "
                     f"{shares}")
        if "real_per_class" in control:
            shares = ", ".join(f"{name} {share:.2f}" for name, share in control["real_per_class"].items())
            lines.append(f"the same classifier on {control['real_images']} held-out real images (the "
                         f"ceiling): mean {control['real_mean']:.3f}; {shares}")
    if "code_match" in report:
        match = report["code_match"]
        lines.append(f"categorical code vs animal on {match['n_images']} held-out images: NMI "
                     f"{match['nmi']:.3f}, best-matching accuracy {match['accuracy']:.3f}")
    return lines


def _draws(counts):
    draws = counts.get("draws", 1)
    return f"{draws} draws of {counts['samples']}" if draws > 1 else str(counts["samples"])


def _number(value):
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def write_summary(report, path):
    """One HTML page: the table, then the pictures with a line on how to read each.

    Args:
        report: the dict ``evaluate_run`` returns; its pictures are paths relative to the page.
        path: the HTML file to write.
    Returns:
        ``path``.
    """
    counts, pictures = report["counts"], report["pictures"]
    rows = "\n".join(
        f"<tr><td>{html.escape(name)}</td><td>{_number(value)}</td><td>{_number(floor)}</td>"
        f"<td>{html.escape(better)}</td></tr>" for name, value, floor, better in table_rows(report))
    sections = [
        ("samples", "Samples", "25 of the scored samples."),
        ("quality_while_training", "Quality while training",
         "Scores every few steps during training; the dashed line is held-out real images."),
        ("loss_vs_quality", "Does the loss track quality?", _correlation_text(report)),
        ("closest_pairs", "Memorisation",
         "The samples closest to a training image (top) and that image (bottom). Copies would be "
         "pixel-identical; compare their distances with the held-out images' in the table."),
        ("class_histogram", "Mode coverage",
         "Classes of the samples and of held-out images, as the silhouette classifier judges them."),
        ("class_control", "Choosing the class",
         "One row per class asked for, the same noise in every row: only the label changes. "
         + " ".join(control_lines(report))),
        ("interpolation_linear", "Linear interpolation",
         "Each row walks a straight line between two random latent points."),
        ("interpolation_spherical", "Spherical interpolation",
         "The same pairs along the great circle, which stays where N(0, I) puts its mass."),
        ("latent_arithmetic", "Latent vector arithmetic",
         "Class means in latent space (classes as the classifier judges the samples): a, b, c, "
         "then c + (b − a)."),
    ]
    figures = "\n".join(
        f"<h2>{title}</h2><p>{html.escape(text)}</p><img src='{html.escape(pictures[key])}' "
        f"style='max-width:100%'>" for key, title, text in sections if key in pictures)
    notes = [report.get("latent_arithmetic", {}).get("note"), report.get("mode_coverage", {}).get("note"),
             *(control_lines(report) if "code_match" in report else [])]
    notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in notes if n)
    page = f"""<!doctype html><meta charset="utf-8"><title>Evaluation of {html.escape(report['run'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}td,th{{padding:2px 10px}}
tr:nth-child(even){{background:#f3f3f3}}</style>
<h1>{html.escape(report['model_class'])} at epoch {report['epoch']} on {html.escape(report['data'])}</h1>
<p>{counts['samples']} samples and {counts['held_out']} held-out real images
({'never trained on' if counts['held_out_unseen'] else 'left out of the reference sample; the model may have seen them'}),
each compared with {counts['train_reference']} training images in the feature space
<b>{html.escape(report['features'])}</b>: {html.escape(report['features_description'])}.
Scores are comparable only with the same features, resizing and sample counts; the held-out column is what
real images score under the same conditions, the floor a perfect generator would reach.</p>
<table><tr><th>measure</th><th>samples</th><th>held-out real</th><th>better</th></tr>
{rows}</table>{notes}
{figures}
"""
    with open(path, "w") as f:
        f.write(page)
    return path


def _correlation_text(report):
    lq = report.get("loss_quality")
    if not lq:
        return ""
    claim = ("The chapter's claim: the Wasserstein critic's estimate falls as samples improve, so it "
             "should rise and fall with FID (positive correlation)."
             if report["model_class"] != "GAN" else
             "The chapter's claim: the GAN's discriminator loss says little about sample quality.")
    return (f"{claim} Measured over {lq['n']} scores: Spearman {_number(lq['spearman'])}, "
            f"Pearson {_number(lq['pearson'])}.")
