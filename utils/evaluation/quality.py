"""Sample quality while a GAN trains: a Keras callback that scores the generator every few steps.

Losses of an adversarial game say little about the pictures; these scores do.
Every ``every`` epochs (the book's steps) the generator draws the same latent
points, a feature extractor embeds them, and the Fréchet distance, KID, precision,
recall, density and coverage against the training images are recorded.  The
samples come in several draws (5 by default), each as large as the held-out set,
so that each draw is scored at the floor's sample count: a record holds the mean of
each measure over the draws, the Fréchet distance's spread between draws
(``fid_sd``) and KID's standard error (``kid_se``).  The floor, held-out real
images scored the same way, is computed once.

The cost is bounded: the callback times itself and skips a scoring that would
bring its total time above ``budget`` (10% by default) of the training time so
far.  Results go to the run folder as ``quality.json`` and ``quality.png``, and
to TensorBoard under ``logs/quality``.
"""

import json
import sys
import time

import numpy as np
import keras

from utils.evaluation import measures
from utils.runs.callbacks import is_chief
from utils.runs.folder import RunFolder, replace_atomically, write_json_atomically

# Where the callback reads the time (tests replace it with a clock they move themselves).
clock = time.perf_counter

# Lower is better for the distances, higher for the rest.
LOWER_IS_BETTER = ("fid", "kid")
MEASURES = ("fid", "kid", "precision", "recall", "density", "coverage")


class Reference:
    """The real side of every comparison: training-image features and held-out ones.

    ``train`` features stand for the data distribution; ``held_out`` features
    are real images the generator was (ideally) not trained on: scored against
    ``train`` like a generator's samples, they give the floor a perfect
    generator would reach with that many samples.

    Args:
        features: an extractor, ``features(images) -> (N, D)`` (``utils.evaluation.features``).
        train_images: training images (N, H, W, C) in [-1, 1], embedded here.
        held_out_images: held-out real images (M, H, W, C) in [-1, 1], embedded here.
        kid_subsets: number of subsets of the KID estimate (``measures.kernel_distance``).
        kid_subset_size: images per KID subset.
    """

    def __init__(self, features, train_images, held_out_images, kid_subsets=50, kid_subset_size=1000):
        self.features = features
        self.train = np.asarray(features(train_images), np.float64)
        self.held_out = np.asarray(features(held_out_images), np.float64)
        self.train_statistics = measures.feature_statistics(self.train)
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self._floor = None

    @property
    def n_train(self):
        return len(self.train)

    @property
    def n_held_out(self):
        return len(self.held_out)

    def score(self, fake_features):
        """Every measure of ``fake_features`` against the training features (JSON-ready floats).

        Args:
            fake_features: features (M, D) in this reference's feature space, M >= 4
                (precision and recall use the 3rd nearest neighbour).
        Returns:
            A dict of floats ``fid``, ``kid``, ``kid_std``, ``precision``, ``recall``,
            ``density``, ``coverage``, and the int ``n_samples`` (M).
        """
        fake = np.asarray(fake_features, np.float64)
        fid = measures.frechet_distance_from_statistics(
            *measures.feature_statistics(fake), *self.train_statistics)
        kid, kid_std = measures.kernel_distance(
            self.train, fake, subsets=self.kid_subsets, subset_size=self.kid_subset_size)
        scores = {"fid": fid, "kid": kid, "kid_std": kid_std, "n_samples": len(fake)}
        scores.update(measures.precision_recall(self.train, fake))
        scores.update(measures.density_coverage(self.train, fake))
        return {key: float(value) if key != "n_samples" else int(value) for key, value in scores.items()}

    def score_draws(self, fake_features, draws):
        """Every measure over ``draws`` equal draws of ``fake_features``: the mean of each over
        the draws, the Fréchet distance of each draw and its spread, and KID's standard error.

        One draw of a few hundred samples moves the Fréchet distance by several units between
        draws of the same generator; the mean over draws, with its spread beside it, is what
        tells two generators apart.

        Args:
            fake_features: features (M, D), M >= 4 · ``draws``; each draw is M // ``draws`` rows
                in order (rows beyond ``draws`` equal draws are left out).
            draws: how many draws (an integer >= 1).
        Returns:
            ``score``'s dict with each measure the mean over draws, ``n_samples`` the size of one
            draw, plus ``draws``, ``fid_draws`` (one per draw), ``fid_sd`` (their sample standard
            deviation) and ``kid_se`` (the standard error of the mean KID over draws); the last
            two are None for a single draw.
        """
        draws = int(draws)
        if draws < 1:
            raise ValueError(f"draws must be at least 1; got {draws}.")
        fake = np.asarray(fake_features, np.float64)
        size = len(fake) // draws
        if size < 4:
            raise ValueError(f"{len(fake)} samples cannot make {draws} draws of at least 4.")
        scores = [self.score(fake[k * size:(k + 1) * size]) for k in range(draws)]
        result = {key: float(np.mean([s[key] for s in scores])) for key in scores[0] if key != "n_samples"}
        fids = [s["fid"] for s in scores]
        kids = [s["kid"] for s in scores]
        several = draws > 1
        result.update(
            n_samples=size, draws=draws, fid_draws=fids,
            fid_sd=float(np.std(fids, ddof=1)) if several else None,
            kid_se=float(np.std(kids, ddof=1) / np.sqrt(draws)) if several else None)
        return result

    def floor(self):
        """The held-out real images' scores: what a generator drawing real images would get."""
        if self._floor is None:
            self._floor = self.score(self.held_out)
        return self._floor


class PendingReference:
    """A ``Reference`` built when first needed (loading and embedding real images takes time).

    The extractor is known up front, so the monitor can time it on a few images
    and estimate the first scoring's cost before deciding whether it fits the budget.

    Args:
        features: the extractor the ``Reference`` will use.
        load_real_images: a callable without arguments returning ``(train_images,
            held_out_images)``, arrays (N, H, W, C) in [-1, 1].
        n_train: at most this many training images will be loaded (for the estimate).
        n_held_out: at most this many held-out images will be loaded.
    """

    def __init__(self, features, load_real_images, n_train, n_held_out):
        self.features, self.load_real_images = features, load_real_images
        self.n_train, self.n_held_out = n_train, n_held_out  # at most this many

    def build(self):
        train, held_out = self.load_real_images()
        return Reference(self.features, train, held_out)

    # Seconds allowed for what follows the embedding: the measures, quality.json and the plot.
    OVERHEAD_SECONDS = 1.0

    def estimate_seconds(self, input_dim, n_samples=None, probe=64):
        """Seconds for a first scoring: embedding every real image and the samples (as many as
        held-out images by default), timed on a probe batch, plus ``OVERHEAD_SECONDS``.

        Args:
            input_dim: the model's image shape (H, W, C).
            n_samples: generated images per scoring; None (or 0): ``n_held_out``.
            probe: images (zeros) in the timed batch.
        Returns:
            The estimate in seconds, a float.
        """
        n_samples = n_samples or self.n_held_out
        images = np.zeros((probe, *input_dim), np.float32)
        self.features(images)  # the first call builds and traces
        started = clock()
        self.features(images)
        per_image = (clock() - started) / probe
        return per_image * (self.n_train + self.n_held_out + n_samples) + self.OVERHEAD_SECONDS


def sample_latents(z_dim, n_samples, seed=0):
    """The scoring batch: one fixed draw per run, so successive scores differ only by the generator.

    Args:
        z_dim: the size of a latent vector.
        n_samples: how many latent points.
        seed: seed of the numpy generator.
    Returns:
        float32 array (n_samples, z_dim) drawn from N(0, I).
    """
    return np.random.default_rng(seed).normal(size=(n_samples, z_dim)).astype("float32")


class QualityMonitor(keras.callbacks.Callback):
    """Scores the generator every ``every`` epochs within a time ``budget`` (see the module docstring).

    ``reference`` is a ``Reference``, or a ``PendingReference`` built at the
    first scoring (its time counted in the budget, and estimated beforehand).
    A scoring happens at a multiple of ``every`` epochs, and when training ends
    after at least ``every`` epochs, whenever the budget allows it.  ``folder`` (a run
    folder, optional) receives ``quality.json``, ``quality.png`` and, with
    ``tensorboard``, the scores as scalars.  ``records`` holds every score
    as ``{"epoch": ..., "fid": ..., ...}``; a resumed run keeps the earlier ones.

    Args:
        reference: a ``Reference``, or a ``PendingReference``.
        every: score every this many epochs (an integer >= 1).
        n_samples: generated images per draw (>= 4); None: as many as held-out images.
        draws: draws of ``n_samples`` images per scoring (>= 1); the record holds their mean.
        budget: the share of the training time that scoring may take, above 0 (``inf``: no limit).
        folder: the run folder (a path or ``RunFolder``) to write to; None writes nothing.
        tensorboard: also write the scores to TensorBoard (only with ``folder``).
        seed: seed of the fixed latent batch that is scored.
    Raises:
        ValueError: ``every``, ``n_samples``, ``draws`` or ``budget`` is out of range.
    """

    def __init__(self, reference, every=50, n_samples=None, budget=0.10, folder=None,
                 tensorboard=True, seed=0, draws=5):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be at least 1 epoch; got {every}.")
        if n_samples is not None and int(n_samples) < 4:
            raise ValueError(f"n_samples must be at least 4 (precision and recall use the 3rd nearest "
                             f"neighbour); got {n_samples}.")
        if isinstance(draws, bool) or int(draws) != draws or draws < 1:
            raise ValueError(f"draws must be a whole number of at least 1; got {draws}.")
        self.draws = int(draws)
        if not budget > 0:
            raise ValueError(f"budget is a share of the training time above 0 (inf: no limit); got {budget}.")
        self._reference = reference
        # As many samples as held-out images by default, so that the floor is at the same count.
        self.every, self.budget, self.seed = int(every), budget, seed
        self._n_samples = None if n_samples is None else int(n_samples)
        self.folder = RunFolder(folder) if folder is not None else None
        self.tensorboard = tensorboard and self.folder is not None
        self.records = []
        self.skipped = 0
        self.scoring_seconds = 0.0
        self._started = None
        self._earlier_seconds = 0.0  # training time of the records a resumed run continues
        self._last_cost = 0.0
        self._writer = None
        self._latents = None

    @property
    def reference(self):
        """The ``Reference``, built on first use (the first scoring, which counts its time)."""
        if isinstance(self._reference, PendingReference):
            self._reference = self._reference.build()
        return self._reference

    def on_train_begin(self, logs=None):
        self._started = clock()
        self.scoring_seconds = 0.0
        if self.folder is not None and self.folder.quality.exists() and not self.records:
            self.records = _read_records(self.folder.quality, self.model.epoch)
        self._earlier_seconds = max((r.get("training_seconds", 0.0) for r in self.records), default=0.0)
        self._latents = None
        if isinstance(self._reference, PendingReference) and not self._last_cost:
            started = clock()
            pending = self._reference
            self._last_cost = pending.estimate_seconds(
                self.model.input_dim, self.draws * (self._n_samples or pending.n_held_out))
            self.scoring_seconds += clock() - started

    @property
    def n_samples(self):
        return self._n_samples if self._n_samples is not None else self.reference.n_held_out

    def training_seconds(self):
        return clock() - self._started - self.scoring_seconds

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1  # the epochs completed, as the model's ``epoch`` counts them
        if step % self.every == 0:
            self.maybe_score(step)

    def on_train_end(self, logs=None):
        step = self.model.epoch
        if step >= self.every and (not self.records or self.records[-1]["epoch"] != step):
            self.maybe_score(step)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def maybe_score(self, step):
        """Score now, unless that would take the callback over its share of the time.

        In a multi-worker cluster only the chief scores (it alone writes the run folder).

        Args:
            step: the epochs completed (the model's ``epoch``), recorded with the scores.
        Returns:
            The record ``score`` returns, or None when the scoring was skipped.
        """
        if not is_chief(self.model):
            return None
        if self.scoring_seconds + self._last_cost > self.budget * self.training_seconds():
            self.skipped += 1
            return None
        return self.score(step)

    def score(self, step):
        """Score the generator now; the time counts in the budget, and all but the one-off
        work (the real images' features and the floor) predicts the next scoring's cost.

        Args:
            step: the epochs completed, recorded as the record's ``"epoch"``; a record of the
                same or a later epoch is replaced.
        Returns:
            The record: ``{"epoch": step, **Reference.score_draws(...)}``, or ``{"epoch": step,
            "finite": False}`` when the generator drew NaN or infinite images.
        """
        from utils.evaluation.latent import generate

        started = clock()
        reference = self.reference
        reference.floor()
        recurring = clock()

        if self._latents is None:
            self._latents = sample_latents(self.model.z_dim, self.draws * self.n_samples, self.seed)
        images = generate(getattr(self.model, "sampler", self.model.generator), self._latents)
        if not np.isfinite(images).all():
            record = {"epoch": int(step), "finite": False}
        else:
            record = {"epoch": int(step), **reference.score_draws(reference.features(images), self.draws)}
        # Training time so far, scoring excluded, continued across resumed runs.
        record["training_seconds"] = round(self._earlier_seconds + self.training_seconds(), 3)
        self.records = [r for r in self.records if r["epoch"] < step] + [record]
        if self.folder is not None and is_chief(self.model):
            self._write(record)
        finished = clock()
        self._last_cost = finished - recurring
        self.scoring_seconds += finished - started
        return record

    def summary(self):
        """What ``quality.json`` holds: the feature space, the counts, the floor and every score."""
        reference = self.reference
        return {
            "features": reference.features.name,
            "features_description": reference.features.description,
            "n_samples": self.n_samples,
            "draws": self.draws,
            "n_train_reference": reference.n_train,
            "n_held_out": reference.n_held_out,
            "floor": reference.floor(),
            "every": self.every,
            "budget": self.budget,
            "scoring_seconds": self.scoring_seconds,
            "skipped": self.skipped,
            "records": self.records,
        }

    def _write(self, record):
        folder = self.folder
        summary = self.summary()
        with folder.writing("the quality scores"):
            write_json_atomically(folder.quality, summary, indent=1)
            replace_atomically(folder.quality_plot, lambda tmp: save_quality_plot(summary, tmp))
        if self.tensorboard and record.get("finite", True):
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(folder.logs / "quality"))
            with self._writer.as_default():
                for name in MEASURES:
                    tf.summary.scalar(f"quality/{name}", record[name], step=record["epoch"])
                self._writer.flush()


def _read_records(path, up_to_epoch):
    """A resumed run's earlier scores, up to the checkpoint it continues from."""
    try:
        with open(path) as f:
            records = json.load(f).get("records", [])
    except (OSError, ValueError, AttributeError) as error:
        print(f"Note: {path} cannot be read ({error}); its earlier scores are lost and it is "
              "rewritten from this run's.", file=sys.stderr)
        return []
    return [r for r in records if isinstance(r, dict) and r.get("epoch", 1e18) <= up_to_epoch]


def read_quality(folder):
    """``quality.json`` of a run folder, or None when the run was not scored while training.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
    Returns:
        The dict ``QualityMonitor.summary`` wrote, or None when there is no ``quality.json``.
    Raises:
        ValueError: ``quality.json`` is not valid JSON or holds no ``"records"`` list.
    """
    path = RunFolder(folder).quality
    if not path.exists():
        return None
    try:
        with open(path) as f:
            summary = json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is damaged ({error}): restore it, or delete it to evaluate the run without the "
            "scores it kept while training.") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("records"), list):
        raise ValueError(f"{path} is damaged: it should hold the scores while training under "
                         "\"records\"; restore it, or delete it to evaluate without them.")
    floor = summary.get("floor")
    if not isinstance(floor, dict) or not isinstance(floor.get("fid"), (int, float)):
        raise ValueError(f"{path} is damaged: it has no held-out floor (\"floor\" with its \"fid\"); "
                         "restore it, or delete it to evaluate without the scores kept while training.")
    if any(not isinstance(r, dict) or "epoch" not in r or (r.get("finite", True) and "fid" not in r)
           for r in summary["records"]):
        raise ValueError(f"{path} is damaged: a record lacks its \"epoch\" or \"fid\"; restore it, or "
                         "delete it to evaluate without the scores kept while training.")
    return summary


def save_quality_plot(summary, path):
    """One panel per measure against the step, the held-out floor as a dashed line.

    Args:
        summary: a dict as ``QualityMonitor.summary`` returns (``records``, ``floor``,
            ``n_samples``, ``features``); records with ``"finite": False`` are left out.
        path: the image file to write (its suffix picks the format).
    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure

    records = [r for r in summary["records"] if r.get("finite", True)]
    figure = Figure(figsize=(10, 6), dpi=100)
    steps = [r["epoch"] for r in records]
    for k, name in enumerate(MEASURES, start=1):
        axes = figure.add_subplot(2, 3, k)
        axes.plot(steps, [r[name] for r in records], marker="o", markersize=3, linewidth=1)
        spread = [r.get("fid_sd") if name == "fid" else None for r in records]
        if any(value is not None for value in spread):  # one standard deviation between draws
            values = np.array([r[name] for r in records])
            spread = np.array([value or 0.0 for value in spread])
            axes.fill_between(steps, values - spread, values + spread, alpha=0.2, linewidth=0)
        axes.axhline(summary["floor"][name], linestyle="--", color="gray", linewidth=1,
                     label="held-out real images")
        better = "lower" if name in LOWER_IS_BETTER else "higher"
        axes.set_title(f"{name} ({better} is better)", fontsize="medium")
        axes.grid(alpha=0.3)
        if k > 3:
            axes.set_xlabel("step")
    figure.axes[0].legend(fontsize="small")
    draws = summary.get("draws", 1)
    count = f"{draws} draws of {summary['n_samples']}" if draws > 1 else str(summary["n_samples"])
    figure.suptitle(f"Sample quality: {count} samples (mean; band: ±1 sd between draws), "
                    f"features {summary['features']}" if draws > 1 else
                    f"Sample quality: {count} samples, features {summary['features']}")
    figure.tight_layout()
    figure.savefig(path)
    return path


def training_signal(model):
    """The loss series the chapter's claim is about, one value per step, and what it is.

    The model's objective says which: for a Wasserstein critic, its estimate of the
    distance, −(d_loss_real + d_loss_fake), which should fall as the samples improve;
    for a GAN-style discriminator, its loss.

    Args:
        model: a model of this project, with ``d_losses`` (one row per step) and ``objective``.
    Returns:
        ``(signal, description)``: a float64 array, one value per step (empty before any
        step), and a line saying which loss it is.
    """
    table = np.asarray(model.d_losses, dtype="float64")
    if table.ndim != 2 or not len(table):
        return np.zeros(0), model.objective.signal_description
    return model.objective.training_signal(table), model.objective.signal_description


def loss_quality_correlation(records, signal, measure="fid", window=None):
    """Correlation between a loss series and a quality measure over a run.

    Each score at epoch e is paired with the loss averaged over the ``window``
    steps before e (by default the spacing between scores), which smooths the
    step-to-step noise of adversarial losses.

    Args:
        records: scores as in ``QualityMonitor.records``; records marked non-finite, or whose
            epoch is not in 1..len(signal), are left out.
        signal: the loss, one value per step (step e at index e - 1), as ``training_signal``
            returns it.
        measure: the record key to correlate the loss with (one of ``MEASURES``).
        window: steps averaged before each score; None: the median spacing of the scores.
    Returns:
        ``measures.correlation``'s dict, plus ``measure``, ``window`` and the series it was
        computed from: ``loss_values``, ``quality`` and ``epochs``.
    """
    records = [r for r in records if r.get("finite", True) and 0 < r["epoch"] <= len(signal)]
    if window is None:
        steps = [r["epoch"] for r in records]
        window = int(np.median(np.diff(steps))) if len(steps) > 1 else 1
    window = max(1, int(window))
    loss = [float(np.mean(signal[max(0, r["epoch"] - window):r["epoch"]])) for r in records]
    quality = [r[measure] for r in records]
    result = measures.correlation(loss, quality)
    result.update(measure=measure, window=window, loss_values=loss, quality=quality,
                  epochs=[r["epoch"] for r in records])
    return result


def monitor_for_run(spec, input_dim, folder, every=50, n_samples=None, features=None,
                    budget=0.10, tensorboard=True, n_train=2000, n_held_out=1000, draws=5):
    """The ``QualityMonitor`` the commands add: the run's data (a ``DataSet`` of ``utils.data.sets``), scored in its
    default feature space unless ``features`` (an extractor or a ``features_for`` name) is given.

    The extractor is built here, so a missing download fails before training
    starts; the real images are loaded and embedded when training starts.

    Args:
        spec: the run's data set (``utils.data.sets``).
        input_dim: the model's image shape (H, W, C); the real images are loaded at it.
        folder: the run folder to write to, as for ``QualityMonitor``.
        every: score every this many epochs.
        n_samples: generated images per draw; None: as many as held-out images.
        features: an extractor, a ``features_for`` name, or None for ``spec.default_features``.
        budget: the share of the training time that scoring may take, above 0 (``inf``: score
            every ``every`` epochs whatever it costs).
        tensorboard: also write the scores to TensorBoard.
        n_train: at most this many training images as the reference.
        n_held_out: at most this many held-out real images.
        draws: draws of ``n_samples`` per scoring, averaged.
    Returns:
        A ``QualityMonitor`` whose reference (a ``PendingReference``) is built at its first scoring.
    Raises:
        ValueError: ``features`` names no extractor, or a ``QualityMonitor`` argument is out of range.
        FeatureWeightsUnavailable: the InceptionV3 weights are needed and cannot be had.
    """
    from utils.evaluation.features import features_for

    if features is None or isinstance(features, str):
        features = features_for(features or spec.default_features)

    def load_real_images():
        real = spec.real_images(input_dim, n_train=n_train, n_held_out=n_held_out)
        return real.train, real.held_out

    reference = PendingReference(features, load_real_images, n_train, n_held_out)
    return QualityMonitor(reference, every=every, n_samples=n_samples, budget=budget,
                          folder=folder, tensorboard=tensorboard, draws=draws)
