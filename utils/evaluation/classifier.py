"""A small classifier of the animal silhouettes, used as a feature space to evaluate GANs.

FID, KID and precision/recall compare real and generated images in the feature
space of a network.  InceptionV3 was trained on ImageNet photos; on 28x28
white-on-black animal silhouettes its features say little.  This module trains
a small CNN to tell the ten animals of `utils.data.silhouettes` apart and uses
its penultimate layer, ``"features"`` (128 numbers per image), as the feature
space, and its prediction as a check that a sample looks like some animal.

The classifier is trained on the ``"train"`` split only; the fixed split is
documented in `utils.data.silhouettes.split_mask`.  The ``"held-out"`` images
(every fifth of each animal, less exact copies of training images; never seen
by the GANs or this classifier) give its accuracy, and show what unseen real
images score.  GANs are trained at 28x28x1, 32x32x3 and 64x64x3; their images
are averaged to gray and resized to 28x28 before the classifier sees them, and
the training augmentation makes that same round trip so that all three sizes
are classified about equally well.

The project ships one trained file, ``silhouette_classifier.weights.h5`` next
to this module, checked by sha256 when it is loaded.  ``gdl-train-classifier``
trains another one (bit-identical weights for the same seed on the same
machine), to be passed to evaluation with ``--classifier PATH``.
"""

import argparse
import dataclasses
import functools
import sys
import time
from pathlib import Path

import numpy as np

from utils.data.silhouettes import SILHOUETTE_CLASSES, load_silhouettes
from utils.evaluation.determinism import deterministic_ops
from utils.digests import file_digest
from utils.paths import run_root, writable_folder_problem

IMAGE_SIZE = 28
FEATURE_SIZE = 128
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
DEFAULT_EPOCHS = 12
DEFAULT_SEED = 0
MAX_SHIFT = 2  # pixels, for the training augmentation

SHIPPED_WEIGHTS = Path(__file__).with_name("silhouette_classifier.weights.h5")
# Made by `gdl-train-classifier` with the defaults (12 epochs, seed 0; its time: docs/evaluation.md).
SHIPPED_SHA256 = "1161a6100beaa425e9824180bef9798e8eb14ed9c6e2c12551519ef0a1814107"
SHIPPED_HELD_OUT_ACCURACY = 0.9658  # on the 1,900 held-out silhouettes
RETRAIN_HINT = (
    "Reinstall the package to get the shipped file back, or train your own with "
    "`gdl-train-classifier --out PATH` and pass it to evaluation with `--classifier PATH`."
)


class ClassifierWeightsError(ValueError):
    """The classifier's weights file is missing, altered or unreadable."""


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------


def build_classifier():
    """The CNN: 28x28x1 images in [-1, 1] -> 10 class probabilities.

    Three 3x3 convolutions (32, 32, 48 filters), each followed by 2x2 max
    pooling, then dropout, the 128-unit ``"features"`` layer and the softmax.
    """
    import keras
    from keras import layers

    f32 = dict(dtype="float32")  # whatever the global dtype policy: features must not change
    images = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="image", **f32)
    x = images
    for i, filters in enumerate((32, 32, 48), start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}", **f32)(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}", **f32)(x)
    x = layers.Flatten(name="flatten", **f32)(x)
    x = layers.Dropout(0.3, name="dropout", **f32)(x)
    features = layers.Dense(FEATURE_SIZE, activation="relu", name="features", **f32)(x)
    probabilities = layers.Dense(len(SILHOUETTE_CLASSES), activation="softmax", name="animal",
                                 **f32)(features)
    return keras.Model(images, probabilities, name="silhouette_classifier")


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def file_sha256(path):
    """Hex sha256 of a file's bytes.

    Args:
        path: the file.
    Returns:
        Its sha256, 64 lowercase hex digits.
    Raises:
        OSError: the file cannot be read.
    """
    return file_digest(path, "sha256")


def load_classifier(path=None):
    """The classifier as a Keras model, with weights from ``path``.

    ``path=None`` loads the shipped file, after checking its sha256 against
    `SHIPPED_SHA256`.  A file of your own is not checked against it.  Models
    are cached by (file, sha256): evaluation asks for them often, and a
    changed file is loaded afresh.  Do not modify the returned model.

    Args:
        path: a ``.weights.h5`` file of this network; None: the shipped file.
    Returns:
        The Keras model (``build_classifier``) with the weights loaded.
    Raises:
        ClassifierWeightsError: the file cannot be read, the shipped file was altered, or the
            file does not hold this network's weights.
    """
    shipped = path is None
    path = Path(SHIPPED_WEIGHTS if shipped else path)
    try:
        digest = file_sha256(path)
    except OSError as error:
        if shipped:
            raise ClassifierWeightsError(
                f"The shipped classifier weights {path} cannot be read ({error}). {RETRAIN_HINT}"
            ) from None
        raise ClassifierWeightsError(
            f"Cannot read the classifier weights {path} ({error}). Train a classifier with "
            "`gdl-train-classifier --out PATH`, or leave out --classifier to use the "
            "shipped one."
        ) from None
    if shipped and digest != SHIPPED_SHA256:
        raise ClassifierWeightsError(
            f"The shipped classifier weights {path} have been altered: sha256 {digest}, "
            f"expected {SHIPPED_SHA256}. {RETRAIN_HINT}"
        )
    return _cached_classifier(str(path.resolve()), digest)


@functools.lru_cache(maxsize=4)
def _cached_classifier(path, sha256):
    """Builds the network and loads ``path`` into it (``sha256`` only keys the cache)."""
    model = build_classifier()
    try:
        model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many kinds
        raise ClassifierWeightsError(
            f"{path} is not a weights file of the silhouette classifier "
            f"({type(error).__name__}: {error}). Train one with `gdl-train-classifier --out "
            "PATH`, or leave out --classifier to use the shipped one."
        ) from error
    return model


# ---------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------


class SilhouetteFeatures:
    """Feature extractor: images -> the classifier's 128 ``"features"``.

    ``extractor(images)`` gives float32 features of shape (N, 128);
    ``extractor.classify(images)`` the predicted animal (0-9, the index in
    `SILHOUETTE_CLASSES`).  Images are (N, H, W, 1 or 3) in [-1, 1], square,
    at any chapter's size: colour is averaged to gray and other sizes are
    resized to 28x28 with `tf.image.resize(..., antialias=True)` (bilinear
    with a widened filter when shrinking, so each pixel averages the area it
    covers).  Images are processed ``batch_size`` at a time.

    Args:
        path: the classifier's weights file; None: the shipped one.
        batch_size: images per call of the network, a positive integer.
    Raises:
        ValueError: ``batch_size`` is not a positive integer.
        ClassifierWeightsError: as for ``load_classifier``.
    """

    name = "silhouette-classifier"

    def __init__(self, path=None, batch_size=500):
        import keras

        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.path = Path(path) if path is not None else SHIPPED_WEIGHTS
        self.batch_size = int(batch_size)
        self.model = load_classifier(path)
        self._both = keras.Model(
            self.model.input, [self.model.get_layer("features").output, self.model.outputs[0]]
        )
        weights = "shipped weights" if path is None else f"weights {self.path}"
        self.description = (
            f"128-d penultimate 'features' layer of a CNN trained to classify the ten animal "
            f"silhouettes ({weights}); inputs averaged to gray and resized to 28x28 "
            "(tf.image.resize, bilinear, antialias=True)"
        )

    def __call__(self, images):
        """Features of ``images``: float32, shape (N, 128)."""
        return self._run(images)[0]

    def classify(self, images):
        """Predicted animal of each image: int64 labels 0-9.

        Args:
            images: (N, H, H, 1 or 3) images in [-1, 1].
        Returns:
            int64 array (N,): the index in ``SILHOUETTE_CLASSES`` of the likeliest animal.
        Raises:
            ValueError: the images are not a batch of square images, or hold NaN, infinity
                or values outside [-1, 1].
        """
        return np.argmax(self._run(images)[1], axis=1).astype(np.int64)

    def probabilities(self, images):
        """Class probabilities of each image: float32, shape (N, 10).

        Args:
            images: (N, H, H, 1 or 3) images in [-1, 1].
        Returns:
            float32 array (N, 10), columns in ``SILHOUETTE_CLASSES`` order.
        Raises:
            ValueError: as for ``classify``.
        """
        return self._run(images)[1]

    def _run(self, images):
        images = check_images(images)
        features, probabilities = [], []
        for start in range(0, len(images), self.batch_size):
            batch = check_values(images[start : start + self.batch_size], start)
            f, p = self._both(to_classifier_input(batch), training=False)
            features.append(np.asarray(f))
            probabilities.append(np.asarray(p))
        if not features:
            return (np.zeros((0, FEATURE_SIZE), np.float32),
                    np.zeros((0, len(SILHOUETTE_CLASSES)), np.float32))
        return np.concatenate(features), np.concatenate(probabilities)


def check_images(images):
    """``images`` as an array, or a clear ValueError if they are not shaped (N, H, H, 1 or 3).

    Args:
        images: array-like batch of square images.
    Returns:
        ``np.asarray(images)``, its dtype unchanged.
    Raises:
        ValueError: not 4-D, not square, not 1 or 3 channels, or not real-number pixels.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.shape[1] != images.shape[2]:
        raise ValueError(
            "Expected a batch of square images shaped (N, H, H, 1) or (N, H, H, 3), got shape "
            f"{images.shape}."
        )
    if images.dtype.kind in "bcOSUM":  # bool, complex, object, strings, dates
        raise ValueError(f"Expected images with real-number pixels, got dtype {images.dtype}.")
    return images


def check_values(batch, start=0):
    """A batch as float32, or a ValueError if it holds NaN/inf or leaves [-1, 1].

    Args:
        batch: the images of one batch.
        start: the index of the batch's first image among all images, for the message.
    Returns:
        float32 array of the batch.
    Raises:
        ValueError: values that are not numbers, NaN or infinite, or outside [-1, 1] (with a
            tolerance of 0.001).
    """
    try:
        batch = np.asarray(batch, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Cannot read the images as numbers ({error}).") from None
    where = f"images[{start}:{start + len(batch)}]"
    if not np.isfinite(batch).all():
        raise ValueError(f"{where} contain NaN or infinity (did the generator diverge?).")
    if batch.size and (batch.min() < -1.001 or batch.max() > 1.001):
        raise ValueError(
            f"Expected images scaled to [-1, 1]; {where} go from {batch.min()} to "
            f"{batch.max()}. Scale 0-255 images with x / 127.5 - 1."
        )
    return batch


def to_classifier_input(images):
    """(N, H, H, 1 or 3) float32 in [-1, 1] -> (N, 28, 28, 1): gray, area-like resize.

    Args:
        images: float32 numpy images (N, H, H, 1 or 3) in [-1, 1].
    Returns:
        (N, 28, 28, 1) float32 images: a numpy array when they already are 28x28, else a
        ``tf.Tensor``.
    """
    import tensorflow as tf

    if images.shape[-1] == 3:
        images = np.mean(images, axis=-1, keepdims=True, dtype=np.float32)
    if images.shape[1] != IMAGE_SIZE:
        images = tf.image.resize(images, (IMAGE_SIZE, IMAGE_SIZE), antialias=True)
    return images


def held_out_accuracy(extractor=None, image_size=IMAGE_SIZE, channels=1):
    """Accuracy on the held-out silhouettes, loaded at ``image_size`` and ``channels``.

    Returns ``(overall, {animal: accuracy})``.  ``extractor`` defaults to
    ``SilhouetteFeatures()`` (the shipped weights).

    Args:
        extractor: anything with ``classify(images)`` (a ``SilhouetteFeatures``); None: the shipped one.
        image_size: the side, in pixels, the silhouettes are loaded at.
        channels: 1 (gray) or 3 (gray repeated as RGB).
    Returns:
        ``(overall, per_class)``: a float in [0, 1], and ``{animal name: float}``.
    """
    overall, per_class, _ = _held_out_scores(extractor, image_size, channels)
    return overall, per_class


def _held_out_scores(extractor, image_size=IMAGE_SIZE, channels=1):
    """(overall accuracy, {animal: accuracy}, number of held-out images)."""
    extractor = extractor if extractor is not None else SilhouetteFeatures()
    x, y = load_silhouettes(image_size=image_size, channels=channels, split="held-out")
    correct = extractor.classify(x) == y
    per_class = {name: float(correct[y == i].mean()) for i, name in enumerate(SILHOUETTE_CLASSES)}
    return float(correct.mean()), per_class, len(y)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class TrainingResult:
    """What `train_classifier` made: the weights file and how well it does."""

    path: Path
    sha256: str
    held_out_accuracy: float
    per_class_accuracy: dict
    held_out_images: int
    epochs: int
    seed: int
    seconds: float


CHAPTER_SIZES = (32, 64)  # the other sizes GANs are trained at; see `augment`


def augment(images, rng):
    """Training augmentation, deterministic given ``rng``.

    Two thirds of the images make the round trip a chapter's image makes:
    up to 32x32 or 64x64 (as `load_silhouettes` resizes) and back down as
    `to_classifier_input` does, so the classifier learns the slight blur it
    will see.  Then random left-right flips and shifts of up to `MAX_SHIFT`
    pixels (the background fills in).

    Args:
        images: float32 numpy images (N, 28, 28, 1) in [-1, 1]; not modified.
        rng: a ``numpy.random.Generator``, which draws every random choice.
    Returns:
        New float32 images, the same shape.
    """
    import tensorflow as tf

    n, size = len(images), images.shape[1]
    images = images.copy()
    trip = rng.integers(0, len(CHAPTER_SIZES) + 1, size=n)
    for i, chapter_size in enumerate(CHAPTER_SIZES, start=1):
        chosen = trip == i
        if chosen.any():
            larger = tf.image.resize(images[chosen], (chapter_size, chapter_size), antialias=True)
            larger = tf.clip_by_value(larger, -1.0, 1.0)
            images[chosen] = np.asarray(to_classifier_input(larger.numpy()))
    flip = rng.random(n) < 0.5
    images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
    padded = np.pad(images, ((0, 0), (MAX_SHIFT, MAX_SHIFT), (MAX_SHIFT, MAX_SHIFT), (0, 0)),
                    constant_values=-1.0)
    dy, dx = rng.integers(0, 2 * MAX_SHIFT + 1, size=(2, n))
    out = np.empty_like(images)
    for y in range(2 * MAX_SHIFT + 1):
        for x in range(2 * MAX_SHIFT + 1):
            chosen = (dy == y) & (dx == x)
            out[chosen] = padded[chosen, y : y + size, x : x + size]
    return out


def train_classifier(path, epochs=DEFAULT_EPOCHS, seed=DEFAULT_SEED, steps_per_epoch=None,
                     verbose=False):
    """Trains the classifier on the ``"train"`` split, saves its weights to ``path``.

    Reproducible: the same seed on the same machine gives bit-identical
    weights (TensorFlow's op determinism is switched on while training).
    ``steps_per_epoch`` limits each epoch to that many batches of `BATCH_SIZE`
    (for quick checks; the shipped file was trained on full epochs).  The
    result holds the held-out accuracy, measured on the saved file.

    Args:
        path: the weights file to write, its name ending in ``.weights.h5`` (its folder is made).
        epochs: passes over the training images, a positive integer.
        seed: the random seed of Keras, the order of the images and the augmentation.
        steps_per_epoch: at most this many batches per epoch; None: every whole batch.
        verbose: print each epoch's loss and training accuracy.
    Returns:
        A ``TrainingResult``.
    Raises:
        ValueError: the file name, ``epochs`` or ``steps_per_epoch`` is not as above.
    """
    import keras

    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"The weights file name must end in .weights.h5, got {path}.")
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if steps_per_epoch is not None and (int(steps_per_epoch) != steps_per_epoch or steps_per_epoch < 1):
        raise ValueError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}.")

    started = time.perf_counter()
    x_train, y_train = load_silhouettes(split="train")
    per_epoch = len(x_train) // BATCH_SIZE
    if steps_per_epoch is not None:
        per_epoch = min(per_epoch, int(steps_per_epoch))

    with deterministic_ops():
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        model = build_classifier()
        schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, int(epochs) * per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        for epoch in range(1, int(epochs) + 1):
            order = rng.permutation(len(x_train))[: per_epoch * BATCH_SIZE]
            history = model.fit(augment(x_train[order], rng), y_train[order], batch_size=BATCH_SIZE,
                                epochs=1, shuffle=False, verbose=0)
            if verbose:
                print(f"epoch {epoch}/{epochs}: loss {history.history['loss'][-1]:.4f}, "
                      f"train accuracy {history.history['accuracy'][-1]:.4f} "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
        # Saved from an uncompiled copy: the file holds the network's weights only.
        network = build_classifier()
        network.set_weights(model.get_weights())
        path.parent.mkdir(parents=True, exist_ok=True)
        network.save_weights(path)

    overall, per_class, n_held_out = _held_out_scores(SilhouetteFeatures(path))
    return TrainingResult(path=path, sha256=file_sha256(path), held_out_accuracy=overall,
                          per_class_accuracy=per_class, held_out_images=n_held_out,
                          epochs=int(epochs), seed=seed,
                          seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------
# Command
# ---------------------------------------------------------------------------


def default_out():
    return run_root() / "classifier" / "silhouette_classifier.weights.h5"


def main(argv=None):
    """``gdl-train-classifier``: train the silhouette classifier, print its held-out accuracy.

    Args:
        argv: the command-line arguments, without the program name; None: ``sys.argv[1:]``.
    Returns:
        0, the exit status (bad arguments exit with status 2 through ``argparse``).
    """
    parser = argparse.ArgumentParser(
        prog="gdl-train-classifier",
        description="Train the CNN whose features evaluate GANs on the animal silhouettes "
        "(train split only), save its weights and print its held-out accuracy and sha256.",
    )
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="weights file to write, ending in .weights.h5 (default: "
                        "classifier/silhouette_classifier.weights.h5 in the run folder, run/ "
                        "or $GDL_RUN_DIR)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, metavar="N",
                        help=f"passes over the training images (default: {DEFAULT_EPOCHS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="N",
                        help=f"random seed; the same seed gives the same weights on the same "
                        f"machine (default: {DEFAULT_SEED})")
    parser.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                        help=f"train on only this many batches of {BATCH_SIZE} per epoch, for "
                        "quick checks (default: all images; a shortened run classifies worse)")
    args = parser.parse_args(argv)

    out = args.out if args.out is not None else default_out()
    if not out.name.endswith(".weights.h5"):
        parser.error(f"--out must name a file ending in .weights.h5, got {out}")
    if out.is_dir():
        parser.error(f"--out {out} is a folder; name a .weights.h5 file")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.steps_per_epoch is not None and args.steps_per_epoch < 1:
        parser.error(f"--steps-per-epoch must be at least 1, got {args.steps_per_epoch}")
    if args.seed < 0:
        parser.error(f"--seed must be 0 or more, got {args.seed}")
    unwritable = writable_folder_problem(out.parent)
    if unwritable:
        parser.error(f"--out {out}: its folder {out.parent}: {unwritable}")

    result = train_classifier(out, epochs=args.epochs, seed=args.seed,
                              steps_per_epoch=args.steps_per_epoch, verbose=True)
    print(f"Held-out accuracy: {result.held_out_accuracy:.4f} on {result.held_out_images:,} "
          f"silhouettes never used for training (trained in {result.seconds:.0f} s)")
    for name, accuracy in result.per_class_accuracy.items():
        print(f"  {name:<9} {accuracy:.4f}")
    print(f"Weights: {result.path}")
    print(f"sha256:  {result.sha256}")
    print(f"Use it:  gdl-eval ... --classifier {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
