"""Feature spaces in which generated and real images are compared.

An *extractor* is a callable object ``extractor(images) -> features``: it takes
float32 images ``(N, H, W, C)`` with ``C`` = 1 or 3 and values in [-1, 1] (the
project's 28x28x1 drawings, 32x32x3 CIFAR, 64x64x3 faces) and returns float32
features ``(N, D)``.  It also has a short ``name`` (recorded in reports) and a
one-line ``description`` (the network, the layer, and how the images were
resized and coloured; reports print it).

* ``KerasFeatures(model)`` turns any Keras model into an extractor.  Images are
  adapted to the model's input: gray images are repeated to three channels for
  an RGB model, RGB images averaged to one channel for a gray model, and when
  the model's input height and width are fixed and differ from the images',
  every batch is resized with
  ``tf.image.resize(images, (H, W), method="bilinear", antialias=True)``
  (a model whose input size is unknown gets the images at their own size).
* ``inception_features()`` is the usual FID feature space: Keras'
  ``InceptionV3`` (ImageNet weights, no top) with average pooling, 2048-d
  "pool3" features, images resized to 299x299 as above.  The weights come
  from a URL through ``keras.utils.get_file`` (``fetch_weights``), cached under
  ``~/.keras/models`` (or ``$KERAS_HOME/models``); when they cannot be had,
  ``FeatureWeightsUnavailable`` says where to put the file by hand.
* ``features_for(spec)`` picks an extractor by name for the command line.

Scoring statement
-----------------
Scores computed in a feature space (FID, KID, precision/recall, nearest
neighbours...) are only comparable with each other when they were computed
with the **same extractor** (network, weights and layer), the **same resizing
and colouring** of the images, and the **same number of samples** (FID and
KID estimates are biased by the sample count).  Reports therefore record the
extractor's ``name`` and ``description`` and the sample counts.

In particular, small images (28x28, 32x32, 64x64) are upsampled to 299x299
(bilinear, antialiased) for InceptionV3, and the Keras ImageNet weights are
not those of the 2015 TensorFlow graph used by the original FID code (and by
``pytorch-fid``): the numbers measure progress within this project and are
not comparable with FIDs published in papers.
"""

import dataclasses
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from utils.digests import file_digest
from utils.paths import keras_home

__all__ = [
    "FeatureWeightsUnavailable",
    "INCEPTION_V3",
    "KerasFeatures",
    "PretrainedWeights",
    "features_for",
    "fetch_weights",
    "inception_features",
    "weights_path",
]

# With ``progress=None`` a progress bar appears once the first batch shows
# that the whole call will take longer than this many seconds.
AUTO_PROGRESS_SECONDS = 5.0


# ---------------------------------------------------------------------------
# Any Keras model as an extractor
# ---------------------------------------------------------------------------


def _model_input_shape(model):
    """(H, W, C) of the model's single image input (entries may be None), or None if unknown."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        return None
    if len(inputs) != 1:
        raise ValueError(
            f"The model {model.name!r} takes {len(inputs)} inputs; a feature extractor needs a "
            "model with a single image input (N, H, W, C).")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise ValueError(
            f"The model {model.name!r} takes inputs shaped {shape}, not images (N, H, W, C).")
    height, width, channels = shape[1:]
    if channels not in (None, 1, 3):
        raise ValueError(
            f"The model {model.name!r} takes images with {channels} channels; only 1 (gray) or "
            "3 (RGB) channels are supported.")
    return height, width, channels


def _output_size(model):
    """Number of features per image, when the model's output shape is known."""
    try:
        shape = tuple(model.outputs[0].shape)[1:]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if any(d is None for d in shape):
        return None
    return int(np.prod(shape, dtype=np.int64))


def _check_images(images):
    """The images as an array (N, H, W, C), C in {1, 3}, finite; ValueError naming the problem."""
    if isinstance(images, tf.Tensor):
        images = images.numpy()
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"A feature extractor takes images shaped (N, height, width, channels); got an array "
            f"of rank {images.ndim}, shape {images.shape}. Add a channel axis to gray images: "
            "images[..., None].")
    if images.shape[-1] not in (1, 3):
        raise ValueError(
            f"A feature extractor takes images with 1 (gray) or 3 (RGB) channels; got "
            f"{images.shape[-1]} channels (shape {images.shape}).")
    if len(images) == 0 or 0 in images.shape[1:3]:
        raise ValueError(f"There are no images to embed (shape {images.shape}).")
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise ValueError(f"Images must hold numbers in [-1, 1]; got dtype {images.dtype}.")
    # A float64 sum is finite exactly when every value is (it cannot overflow
    # for float32 data), and needs no boolean copy of the whole array.
    if not np.isfinite(np.sum(images, dtype=np.float64)):
        bad = int(np.size(images) - np.count_nonzero(np.isfinite(images)))
        raise ValueError(
            f"The images hold {bad} NaN or infinite values; features of such images are "
            "meaningless (did the generator diverge?).")
    low, high = float(np.min(images)), float(np.max(images))
    if low < -1.5 or high > 1.5:
        warnings.warn(
            f"Images lie in [{low:g}, {high:g}], not in [-1, 1] as the project's images do; "
            "scale pixels as (x - 127.5) / 127.5 or the features will not be comparable.",
            stacklevel=3)
    return images


class KerasFeatures:
    """Any Keras model as a feature extractor: ``extractor(images) -> (N, D)`` float32.

    Images ``(N, H, W, C)`` in [-1, 1], ``C`` = 1 or 3, are adapted to the
    model's input, one batch of ``batch_size`` at a time (so 10,000 images
    are never resized to 299x299 all at once):

    1. channels: gray images are repeated to RGB for a 3-channel model, RGB
       images averaged to gray for a 1-channel model;
    2. size: when the model's input height and width are both fixed and
       differ from the images', ``tf.image.resize(images, (H, W),
       method="bilinear", antialias=True)``; a model whose input size is
       unknown gets the images at their own size;
    3. ``preprocess(batch)`` if given (it receives the adapted float32 batch
       as a tensor and returns what the model takes); by default the model
       receives the [-1, 1] images as they are.

    The model is called with ``training=False`` and each image's output is
    flattened to D numbers.

    Args:
        model: a Keras model with one image input and one output.
        name: short name recorded in reports (default: the model's name).
        batch_size: images per call of the model.
        progress: ``True`` shows a ``keras.utils.Progbar`` over the images,
            ``False`` never does, ``None`` (auto) shows one when the first
            batch shows the call will take more than a few seconds.
        preprocess: optional callable applied to each adapted batch.
        description: one line for reports; by default it is made from the
            model, its input size and the preprocessing.
    """

    def __init__(self, model, name=None, batch_size=64, progress=None, preprocess=None,
                 description=None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}.")
        if preprocess is not None and not callable(preprocess):
            raise ValueError(f"preprocess must be callable, not {preprocess!r}.")
        self.model = model
        self.input_shape = _model_input_shape(model)
        self.name = str(name if name is not None else getattr(model, "name", "keras-model"))
        self.batch_size = int(batch_size)
        self.progress = progress
        self.preprocess = preprocess
        self.description = description if description is not None else self._describe()

    def _describe(self):
        model_name = getattr(self.model, "name", type(self.model).__name__)
        size = _output_size(self.model)
        what = f"{size}-d" if size is not None else "flattened"
        text = f"Keras model {model_name!r}, {what} output features"
        if self.input_shape is None:
            text += "; images fed at their own size and colour"
        else:
            height, width, channels = self.input_shape
            if height is not None and width is not None:
                text += (f"; images resized to {height}x{width} (bilinear, antialiased "
                         "tf.image.resize) when their size differs")
            else:
                text += "; images fed at their own size"
            if channels == 3:
                text += ", gray repeated to RGB"
            elif channels == 1:
                text += ", RGB averaged to gray"
        if self.preprocess is None:
            text += "; pixels in [-1, 1] as is"
        else:
            label = getattr(self.preprocess, "__name__", type(self.preprocess).__name__)
            text += f"; then preprocessed by {label}"
        return text

    def __repr__(self):
        return f"KerasFeatures(name={self.name!r}: {self.description})"

    def _adapt(self, batch):
        """One batch (numpy) -> the tensor the model takes."""
        batch = tf.convert_to_tensor(batch, dtype=tf.float32)
        if self.input_shape is not None:
            height, width, channels = self.input_shape
            # Both steps are linear per channel, so they commute: average before
            # resizing and repeat after, to resize as few channels as possible.
            if channels == 1 and batch.shape[-1] == 3:
                batch = tf.reduce_mean(batch, axis=-1, keepdims=True)
            if height is not None and width is not None and tuple(batch.shape[1:3]) != (height, width):
                batch = tf.image.resize(batch, (height, width), method="bilinear", antialias=True)
            if channels == 3 and batch.shape[-1] == 1:
                batch = tf.repeat(batch, 3, axis=-1)
        if self.preprocess is not None:
            batch = self.preprocess(batch)
        return batch

    def _embed(self, batch):
        outputs = self.model(self._adapt(batch), training=False)
        if isinstance(outputs, dict):
            outputs = list(outputs.values())
        if isinstance(outputs, (list, tuple)):
            if len(outputs) != 1:
                raise ValueError(
                    f"The model {self.name!r} has {len(outputs)} outputs; a feature extractor "
                    "needs one (build a keras.Model with the layer you want as its output).")
            outputs = outputs[0]
        outputs = keras.ops.convert_to_numpy(outputs)
        return np.asarray(outputs, dtype=np.float32).reshape(len(batch), -1)

    def __call__(self, images):
        images = _check_images(images)
        total = len(images)
        bar = keras.utils.Progbar(total, unit_name="image") if self.progress else None
        start = time.perf_counter()
        chunks = []
        for first in range(0, total, self.batch_size):
            chunks.append(self._embed(images[first:first + self.batch_size]))
            done = min(first + self.batch_size, total)
            if bar is None and self.progress is None and done < total:
                elapsed = time.perf_counter() - start
                if elapsed / done * total > AUTO_PROGRESS_SECONDS:
                    bar = keras.utils.Progbar(total, unit_name="image")
            if bar is not None:
                bar.update(done)
        return np.concatenate(chunks, axis=0)


# ---------------------------------------------------------------------------
# Pretrained weights, through keras.utils.get_file
# ---------------------------------------------------------------------------


class FeatureWeightsUnavailable(OSError):
    """The weights of a feature network could not be downloaded (offline, bad URL, wrong hash).

    Args:
        message: what failed and how to get the file by hand.
        weights: the ``PretrainedWeights`` asked for.
        url: the URL tried.
        path: where the file was expected (``weights_path``).
    """

    def __init__(self, message, weights=None, url=None, path=None):
        super().__init__(message)
        self.weights = weights
        self.url = url
        self.path = path

    def __str__(self):
        return self.args[0]


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Where a weights file comes from and how to check it.

    Attributes:
        file_name: name of the file in the cache folder.
        url: where to download it from.
        file_hash: its sha256 (64 hex digits) or md5 (32 hex digits), as
            ``keras.utils.get_file`` accepts; ``None`` skips the check.
        env_var: environment variable that, when set, replaces ``url``
            (a mirror): the URL of the file itself, or of a folder holding
            it when it ends with ``/``.
        cache_subdir: folder under the Keras cache folder.
    """

    file_name: str
    url: str
    file_hash: str = None
    env_var: str = None
    cache_subdir: str = "models"

    @property
    def hash_algorithm(self):
        """``"sha256"`` or ``"md5"``, told apart by length as Keras' get_file does."""
        if self.file_hash is None:
            return None
        return "sha256" if len(self.file_hash) == 64 else "md5"

    def source(self):
        """The URL to download from: ``$env_var`` when set, else ``url``."""
        override = os.environ.get(self.env_var, "").strip() if self.env_var else ""
        if not override:
            return self.url
        if override.endswith("/"):
            return override + self.file_name
        return override


def weights_path(weights, cache_dir=None):
    """Where ``keras.utils.get_file`` keeps ``weights``: ``<cache_dir>/<cache_subdir>/<file_name>``.

    ``cache_dir`` defaults as in Keras: ``$KERAS_HOME`` or ``~/.keras``; like
    get_file, a folder that cannot be written falls back to ``/tmp/.keras``.

    Args:
        weights: a ``PretrainedWeights``.
        cache_dir: the Keras cache folder; None: ``$KERAS_HOME`` or ``~/.keras``.

    Returns:
        The file's ``Path`` (it need not exist).
    """
    base = os.path.expanduser(str(cache_dir if cache_dir is not None else keras_home()))
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return Path(base) / weights.cache_subdir / weights.file_name


def _is_valid(path, weights):
    if not path.is_file():
        return False
    if weights.file_hash is None:
        return True
    return file_digest(path, weights.hash_algorithm) == weights.file_hash.lower()


def fetch_weights(weights, cache_dir=None):
    """The local path of ``weights``, downloaded with ``keras.utils.get_file`` if needed.

    A file already in the cache is used when its hash matches (get_file checks
    it, and downloads again when it does not).  A failed download or one with
    the wrong hash leaves nothing in the cache.

    Args:
        weights: a ``PretrainedWeights``.
        cache_dir: the Keras cache folder (default ``$KERAS_HOME`` or
            ``~/.keras``); the file goes to ``<cache_dir>/<cache_subdir>/``.

    Returns:
        The path of the file, as a string.

    Raises:
        FeatureWeightsUnavailable: naming the weights, the URL tried, where
            to put the file by hand, its hash, and the environment variable
            for a mirror.
    """
    if cache_dir is not None:
        # get_file falls back to /tmp/.keras when the folder is not writable,
        # which includes a folder that does not exist yet.
        try:
            os.makedirs(os.path.expanduser(str(cache_dir)), exist_ok=True)
        except OSError:
            pass
    target = weights_path(weights, cache_dir)
    url = weights.source()
    try:
        path = keras.utils.get_file(
            fname=weights.file_name,
            origin=url,
            file_hash=weights.file_hash,
            cache_subdir=weights.cache_subdir,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except BaseException as err:
        # get_file deletes a file whose download failed, but keeps one whose
        # hash is wrong (it would only download it again next time): remove it.
        if target.exists() and not _is_valid(target, weights):
            target.unlink()
        if not isinstance(err, Exception):
            raise
        raise FeatureWeightsUnavailable(
            _unavailable_message(weights, url, target, err), weights=weights, url=url,
            path=target) from err
    return path


def _unavailable_message(weights, url, target, err):
    lines = [f"Could not get the weights {weights.file_name} from {url}: {err}"]
    if weights.env_var and os.environ.get(weights.env_var, "").strip():
        lines[0] += f" (URL taken from ${weights.env_var})"
    lines.append(f"Nothing was kept at {target}.")
    lines.append(
        f"To work offline, download {weights.url} on a machine that is online and put it at "
        f"{target}")
    if weights.file_hash is not None:
        lines.append(
            f"(its {weights.hash_algorithm} must be {weights.file_hash}: check with "
            f"`{weights.hash_algorithm}sum {weights.file_name}`).")
    if weights.env_var:
        lines.append(
            f"Or set the environment variable {weights.env_var} to a mirror: the URL of the "
            f"file, or of a folder holding {weights.file_name} (ending with '/').")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# InceptionV3 pool3 features (FID)
# ---------------------------------------------------------------------------

# As in keras/src/applications/inception_v3.py (WEIGHTS_PATH_NO_TOP and the
# file name and md5 hash given to get_file for include_top=False).
INCEPTION_V3 = PretrainedWeights(
    file_name="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    url=("https://storage.googleapis.com/tensorflow/keras-applications/"
         "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    file_hash="bcbd6486424b2319ff4ef7d526e38f63",
    env_var="GDL_INCEPTION_URL",
    cache_subdir="models",
)


def inception_features(cache_dir=None, batch_size=64, progress=True, builder=None,
                       weights=INCEPTION_V3, input_size=299):
    """InceptionV3 pool3 features (2048-d), the feature space of FID, as a ``KerasFeatures``.

    The ImageNet weights (no top) are fetched with ``fetch_weights`` (cached
    in ``<cache_dir>/models``; ``$GDL_INCEPTION_URL`` names a mirror), then
    ``builder(include_top=False, pooling="avg", input_shape=(input_size,
    input_size, 3), weights=path)`` builds the network (``builder`` defaults
    to ``keras.applications.InceptionV3``; tests pass a small stand-in).

    Images are resized to ``input_size`` x ``input_size`` with bilinear,
    antialiased ``tf.image.resize`` and gray images repeated to RGB.
    InceptionV3's own preprocessing maps [0, 255] pixels to [-1, 1]; the
    project's images already are in [-1, 1], so they are fed as they are.

    Args:
        cache_dir: the Keras cache folder for the weights (see ``fetch_weights``).
        batch_size: images per call of the network.
        progress: the progress bar, as for ``KerasFeatures`` (True: always shown).
        builder: the callable that builds the network; None: ``keras.applications.InceptionV3``.
        weights: the ``PretrainedWeights`` to fetch and load.
        input_size: the side, in pixels, that images are resized to.

    Returns:
        A ``KerasFeatures`` named ``"inception-v3-pool3"``.

    Raises:
        FeatureWeightsUnavailable: when the weights are not cached and
            cannot be downloaded.
    """
    path = fetch_weights(weights, cache_dir=cache_dir)
    if builder is None:
        builder = keras.applications.InceptionV3
    model = builder(include_top=False, pooling="avg",
                    input_shape=(input_size, input_size, 3), weights=path)
    size = _output_size(model)
    description = (
        f"InceptionV3 (Keras ImageNet weights {weights.file_name}), "
        f"{size if size is not None else '?'}-d average-pooled pool3 features; images resized "
        f"to {input_size}x{input_size} (bilinear, antialiased tf.image.resize), gray repeated "
        "to RGB, pixels in [-1, 1] fed as is (InceptionV3's own preprocessing maps [0, 255] to "
        "[-1, 1])")
    return KerasFeatures(model, name="inception-v3-pool3", batch_size=batch_size,
                         progress=progress, description=description)


# ---------------------------------------------------------------------------
# By name, for the command line
# ---------------------------------------------------------------------------

FEATURE_CHOICES = ("silhouette", "inception", "<path to a .keras model>")


def features_for(spec, **options):
    """The extractor named by ``spec``, for the command line.

    * ``"silhouette"``: ``utils.evaluation.classifier.SilhouetteFeatures``
      (``options["classifier"]``: path of the classifier, default its own);
    * ``"inception"``: ``inception_features`` (``options``: ``cache_dir``,
      ``batch_size``, ``progress``, ``input_size``);
    * a path ending in ``.keras``: ``KerasFeatures`` of that saved model
      (``options``: ``batch_size``, ``progress``).

    Other options are ignored, so a command can pass all it has.

    Args:
        spec: ``"silhouette"``, ``"inception"`` (either case), the path (str or
            ``os.PathLike``) of a ``.keras`` model, or an extractor, returned as it is.
        **options: the options above; None values are left out.

    Returns:
        The extractor (a callable with ``name`` and ``description``).

    Raises:
        ValueError: ``spec`` names no extractor.
        FileNotFoundError: no file at a ``.keras`` path.
        FeatureWeightsUnavailable: the InceptionV3 weights cannot be had.
        ClassifierWeightsError: the silhouette classifier's weights cannot be read or were altered.
    """
    if not isinstance(spec, (str, os.PathLike)):
        if callable(spec) and hasattr(spec, "name") and hasattr(spec, "description"):
            return spec  # already an extractor
        raise ValueError(f"Unknown feature extractor {spec!r}; choose one of {_choices()}.")
    text = os.fspath(spec).strip()
    key = text.lower()
    if key == "silhouette":
        from utils.evaluation.classifier import SilhouetteFeatures
        return SilhouetteFeatures(path=options.get("classifier"))
    if key == "inception":
        keep = {k: options[k] for k in ("cache_dir", "batch_size", "progress", "input_size")
                if options.get(k) is not None}
        return inception_features(**keep)
    if key.endswith(".keras"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"No saved Keras model at {path} to use as feature extractor.")
        model = keras.saving.load_model(path)
        keep = {k: options[k] for k in ("batch_size", "progress") if options.get(k) is not None}
        return KerasFeatures(model, name=path.stem, **keep)
    raise ValueError(f"Unknown feature extractor {text!r}; choose one of {_choices()}.")


def _choices():
    return ", ".join(FEATURE_CHOICES)
