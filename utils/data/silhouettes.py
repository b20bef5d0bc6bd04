"""Animal silhouettes that work offline, from the `animal-shape-mnist` package.

The PyPI package `animal-shape-mnist` (MIT licence) ships 10,000 real 28x28
grayscale animal silhouettes, white shapes on a black background like the
Quick, Draw! bitmaps, 1,000 for each of ten animals.  They make a stand-in for
the camel drawings when there is no network: `load_silhouettes('horse')`.

The package stores them as gzip'd pickles, and its own loader imports
TensorFlow's datasets and calls plain `pickle.load`.  We do neither: we find
the files without importing the package, check their sha256 against the
released 0.39 files, and unpickle with an unpickler that can only rebuild a
numpy array (a pickle can otherwise run any code while it loads).
"""

import functools
import gzip
import hashlib
import importlib.util
import io
import pickle
from pathlib import Path

import numpy as np

SILHOUETTE_CLASSES = (
    "bear",
    "bird",
    "cat",
    "cow",
    "dog",
    "elephant",
    "giraffe",
    "horse",
    "sheep",
    "zebra",
)

PACKAGE = "animal-shape-mnist==0.39"
_MODULE = "animal_shape_mnist"
_FOLDER = ("data", "Animal Shape")
DATA_FILE = "animal_data_version_3.gz"
LABEL_FILE = "animal_label_version_3.gz"
SHA256 = {
    DATA_FILE: "68a30346781a0984f839463a4615d2decb899d1ce65091bb92586311754a34ce",
    LABEL_FILE: "dec8dba7c469830989fbab46825021a08a38470753a512f27ada847eced97b57",
}

try:  # numpy >= 2 moved numpy.core to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct


class NumpyArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild plain numpy arrays and nothing else.

    A pickle names the functions it calls while loading; `find_class` is asked
    for each one.  A pickled `ndarray` only needs the three below, so anything
    else (`os.system`, `builtins.eval`, ...) means the file is not what we
    expect, and we refuse it before it can run.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # numpy 1 name
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2 name
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refusing to load `{module}.{name}` from a pickle: only numpy "
                "arrays are allowed. The file is corrupt or has been tampered "
                "with."
            ) from None


def unpickle_array(data):
    """Loads a numpy array from pickle bytes with `NumpyArrayUnpickler`.

    Args:
        data: the pickle's bytes.

    Returns:
        The `numpy.ndarray`.

    Raises:
        pickle.UnpicklingError: the pickle refers to anything but numpy arrays, or holds
            something else than an array.
    """
    array = NumpyArrayUnpickler(io.BytesIO(data)).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(
            f"Expected a pickled numpy array, got {type(array).__name__}."
        )
    return array


def package_file(name):
    """Path of one of the package's data files, found without importing it.

    `find_spec` only looks the package up on `sys.path`; importing it would
    run its modules, which pull in TensorFlow datasets.

    Args:
        name: the file's name, `DATA_FILE` or `LABEL_FILE`.

    Returns:
        The file's `Path`.

    Raises:
        FileNotFoundError: the package is not installed, or lacks the file.
    """
    spec = importlib.util.find_spec(_MODULE)
    locations = spec.submodule_search_locations if spec is not None else None
    for location in locations or ():
        path = Path(location).joinpath(*_FOLDER, name)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"Cannot find {name} of the animal silhouettes: is the package "
        f"installed? `pip install {PACKAGE}`"
    )


def read_verified_pickle(path, sha256):
    """Checks the sha256 of a gzip'd pickle, then unpickles the array in it.

    Args:
        path: the `.gz` file.
        sha256: its expected sha256, in lowercase hex.

    Returns:
        The `numpy.ndarray` in it.

    Raises:
        ValueError: the file's sha256 differs.
        pickle.UnpicklingError: as for `unpickle_array`.
    """
    raw = Path(path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"{path} has sha256 {digest}, expected {sha256}: it is not the "
            f"file released in {PACKAGE}. Reinstall the package with "
            f"`pip install --force-reinstall {PACKAGE}`."
        )
    return unpickle_array(gzip.decompress(raw))


@functools.lru_cache(maxsize=None)
def _raw_silhouettes():
    """All 10,000 images (uint8, (10000, 28, 28)) and labels, read once."""
    images = read_verified_pickle(package_file(DATA_FILE), SHA256[DATA_FILE])
    labels = read_verified_pickle(package_file(LABEL_FILE), SHA256[LABEL_FILE])
    if images.shape != (len(labels), 28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"Unexpected silhouette array {images.dtype}{images.shape} for "
            f"{len(labels)} labels."
        )
    # The cached arrays are shared by every caller: make them read-only.
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def class_indices(classes):
    """Turns `None`/'all', a name, or a list of names into label numbers; a name that is not
    an animal of the silhouettes is refused, naming it.

    Args:
        classes: `None` or `'all'`, one name such as `'horse'`, or a list of names.

    Returns:
        A list of indices into `SILHOUETTE_CLASSES`, in the order given.

    Raises:
        ValueError: an unknown name, or an empty list.
    """
    if classes is None or (isinstance(classes, str) and classes == "all"):
        return list(range(len(SILHOUETTE_CLASSES)))
    names = [classes] if isinstance(classes, str) else list(classes)
    unknown = [n for n in names if n not in SILHOUETTE_CLASSES]
    if unknown or not names:
        raise ValueError(
            f"{', '.join(repr(n) for n in unknown) or 'no name'} is not an animal of the silhouettes; "
            f"choose from {', '.join(SILHOUETTE_CLASSES)} (or 'all')."
        )
    return [SILHOUETTE_CLASSES.index(n) for n in names]


SPLITS = ("all", "train", "held-out")


def split_mask(labels, split, images=None):
    """Which images belong to ``split`` of the fixed train/held-out split.

    Of each animal's images, in the package's order, every fifth one (the 5th,
    10th, ...) is held out: about 200 per animal, never used to train a GAN with
    ``--data silhouettes`` nor the evaluation classifier, so they show what an
    unseen real image scores.  The package holds some images twice; given the
    ``images``, a held-out image whose exact pixels are also in the training part
    is moved there, so that no held-out image has been seen in training
    (1,900 held out of 10,000).

    Args:
        labels: the label of each image, in the package's order.
        split: `'all'`, `'train'` or `'held-out'`.
        images: the images, one per label, to move duplicates out of the held-out part;
            None: positions only.

    Returns:
        A boolean array, one entry per label: True for the images of `split`.

    Raises:
        ValueError: an unknown `split`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    labels = np.asarray(labels)
    if split == "all":
        return np.ones(len(labels), dtype=bool)
    position = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        where = labels == label
        position[where] = np.arange(where.sum())
    held_out = position % 5 == 4
    if images is not None:
        rows = np.asarray(images).reshape(len(labels), -1)
        seen = {row.tobytes() for row in rows[~held_out]}
        held_out &= np.array([row.tobytes() not in seen for row in rows])
    return held_out if split == "held-out" else ~held_out


def load_silhouettes(classes=None, image_size=28, channels=1, split="all"):
    """Animal silhouettes scaled to [-1, 1], like `load_safari`'s drawings.

    Args:
        classes: `None` or `'all'` for all ten animals, one name such as
            `'horse'`, or a list of names; see `SILHOUETTE_CLASSES`.
        image_size: side of the square images returned; the originals are
            28x28 and are resized (bilinear, antialiased) otherwise.
        channels: 1 for grayscale, 3 to repeat the gray channel as RGB (for a
            model built for colour images).
        split: `'all'` images, the `'train'` part or the `'held-out'` part
            (every fifth image of each animal unless it is also in the
            training part; see `split_mask`).

    Returns:
        `(x, y)`: float32 images of shape `(N, image_size, image_size,
        channels)` with values in [-1, 1], and their int64 labels (0-9, the
        index in `SILHOUETTE_CLASSES`).

    Raises:
        ValueError: `channels` is not 1 or 3, `image_size` is not a positive integer,
            `classes` names an unknown animal, `split` is unknown, or the package's files
            are not those released.
        FileNotFoundError: the `animal-shape-mnist` package is not installed.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    if int(image_size) != image_size or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}.")
    image_size = int(image_size)

    images, labels = _raw_silhouettes()
    keep = np.isin(labels, class_indices(classes)) & split_mask(labels, split, images)
    x = images[keep].astype(np.float32)[..., np.newaxis]
    y = labels[keep].copy()

    if image_size != x.shape[1]:
        # Imported here: the 28x28 case does not need TensorFlow.
        import tensorflow as tf

        x = tf.image.resize(x, (image_size, image_size), antialias=True).numpy()
    x = np.clip((x - 127.5) / 127.5, -1.0, 1.0).astype(np.float32)
    if channels == 3:
        x = np.repeat(x, 3, axis=-1)
    return x, y
