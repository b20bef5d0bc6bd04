"""The book's data loaders: `load_safari`, `load_cifar`, `load_celeb`.

Each returns what chapter 4's notebooks expect, with images scaled to
[-1, 1] (the generators end in `tanh`):

* `load_safari(folder)`: Quick, Draw! drawings from `data/<folder>/*.npy`,
  as numpy arrays `(N, 28, 28, 1)`;
* `load_cifar(label, num)`: one CIFAR class as numpy arrays `(N, 32, 32, 3)`;
* `load_celeb(data_name, image_size, batch_size)`: a stream of batches read
  from image files, too many to hold in memory.

Also here for convenience: `load_silhouettes` (offline animal shapes, see
`utils.data.silhouettes`) and `download_quickdraw` (see `utils.data.download`).
Data lives under `utils.paths.data_root()`: the project's `data/` folder,
or `$GDL_DATA_DIR`.
"""

import os

import numpy as np

from utils.data import cifar
from utils.data.bitmaps import open_bitmaps
from utils.data.celeb import ImageStream
from utils.data.image_files import drop_non_images, list_images
from utils.data.download import OFFLINE_HINT, download_quickdraw  # noqa: F401
from utils.paths import data_root
from utils.data.silhouettes import SILHOUETTE_CLASSES, load_silhouettes  # noqa: F401

# The book keeps at most this many drawings in total, split evenly between
# the files of the folder (one file per category).
SAFARI_MAX_IMAGES = 80_000


def _scale(images):
    """uint8 pixels [0, 255] -> float32 [-1, 1], as the book does."""
    return (images.astype(np.float32) - 127.5) / 127.5


def load_safari(folder):
    """Quick, Draw! drawings from every `.npy` file in `data/<folder>/`.

    Each file holds one category (e.g. `full_numpy_bitmap_camel.npy`, see
    `gdl-download`).  At most `SAFARI_MAX_IMAGES` drawings are kept in total,
    the same number from each file, picked at random with numpy's global
    random generator (`np.random.seed` makes the choice repeatable).  The
    files are memory-mapped, so only the rows kept are read from disk.

    Args:
        folder: the folder's name under the data folder, e.g. `'camel'`.

    Returns:
        `(x, y)`: float32 images `(N, 28, 28, 1)` in [-1, 1], and for each
        image the index of its file in sorted name order.

    Raises:
        FileNotFoundError: there is no such folder, or it holds no `.npy` file.
        ValueError: a file is not a Quick, Draw! bitmap array (see `open_bitmaps`).
    """
    path = data_root() / folder
    if not path.is_dir():
        raise FileNotFoundError(
            f"No data folder {path}. Download the Quick, Draw! drawings with "
            f"`gdl-download {folder}` (it saves {path}/full_numpy_bitmap_"
            f"{folder}.npy), or copy the .npy files there. {OFFLINE_HINT}"
        )
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".npy" and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"{path} holds no .npy files. Download the Quick, Draw! drawings "
            f"with `gdl-download {folder}`. {OFFLINE_HINT}"
        )

    per_file = SAFARI_MAX_IMAGES // len(files)
    xs, ys = [], []
    for index, file in enumerate(files):
        images = open_bitmaps(file)
        keep = np.random.choice(len(images), min(per_file, len(images)), replace=False)
        xs.append(_scale(images[keep]).reshape(-1, 28, 28, 1))
        ys.append(np.full(len(keep), index, dtype=np.int64))
        del images  # closes the memory map
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar(label, num=10, path=None):
    """All images (train and test) of one CIFAR class, scaled to [-1, 1].

    Args:
        label: the class, e.g. 7 = horse, 1 = automobile in CIFAR-10.
        num: 10 for CIFAR-10, 100 for CIFAR-100 (fine labels).
        path: an extracted `cifar-10-batches-py/` (or `cifar-100-python/`)
            folder, or a folder holding it.  By default it is looked for in
            the data folder, then downloaded (see `utils.data.cifar`).

    Returns:
        `(x, y)`: float32 images `(N, 32, 32, 3)` in [-1, 1] and their labels
        `(N, 1)`, shaped like Keras' CIFAR labels.

    Raises:
        ValueError: `num` is not 10 or 100, `label` is not one of its classes, or the data
            holds no image of that class.
        FileNotFoundError: `path` is not (and does not hold) an extracted CIFAR folder.
        DownloadError: no CIFAR folder was found and downloading failed.
    """
    if num not in (10, 100):
        raise ValueError(f"num must be 10 (CIFAR-10) or 100 (CIFAR-100), got {num!r}.")
    if not (isinstance(label, (int, np.integer)) and 0 <= label < num):
        raise ValueError(f"label must be an integer class of CIFAR-{num} (0-{num - 1}), got {label!r}.")

    images, labels = cifar.load_all(num, path)
    mask = labels[:, 0] == label
    if not mask.any():
        raise ValueError(
            f"CIFAR-{num} holds no images of class {label} (the classes present are "
            f"{sorted(set(labels[:, 0].tolist()))}); check the label, or the CIFAR folder you gave.")
    return _scale(images[mask]), labels[mask]


def load_celeb(data_name, image_size, batch_size, shuffle=True, seed=None):
    """Batches of face images read on demand from `data/<data_name>/`.

    All `.jpg`, `.jpeg` and `.png` files under the folder, at any depth, are
    used (CelebA: `data/celeb/img_align_celeba/*.jpg`), resized to
    `image_size` x `image_size` and scaled to [-1, 1].  Files that are not
    whole, decodable images are left out with a warning (the verdict is kept
    in the folder's `.gdl-image-check.json` for the next time).

    Args:
        data_name: the folder's name under the data folder, e.g. `'celeb'`.
        image_size: the side, in pixels, of the square images (an integer >= 1).
        batch_size: images per batch (an integer >= 1).
        shuffle: reshuffle the files on every pass of the stream (`stream[i]` keeps
            the sorted order).
        seed: seed of the shuffling; None: another order on every run.

    Returns:
        An `ImageStream` (see `utils.data.celeb`): `next(stream)[0]` is a batch of
        images `(batch_size, image_size, image_size, 3)`, `stream[0][0][0]` the
        first image, and `stream.dataset` the endless `tf.data.Dataset` of
        batches for a training loop.

    Raises:
        ValueError: `image_size` or `batch_size` is not an integer of at least 1.
        FileNotFoundError: there is no such folder, or no readable JPEG or PNG in it.
    """
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r}: expected an integer of at least 1.")
    folder = data_root() / data_name
    where = (
        f"Put the images there (any depth); for CelebA, unzip "
        f"img_align_celeba.zip so that the faces are "
        f"{data_root() / 'celeb' / 'img_align_celeba'}{os.sep}*.jpg."
    )
    if not folder.is_dir():
        raise FileNotFoundError(f"No image folder {folder}. {where}")
    files = list_images(folder)
    if not files:
        raise FileNotFoundError(f"{folder} holds no .jpg/.jpeg/.png files. {where}")
    files = drop_non_images(files, folder=folder)
    if not files:
        raise FileNotFoundError(f"{folder} holds no readable JPEG or PNG images. {where}")
    return ImageStream(files, image_size, batch_size, shuffle=shuffle, seed=seed)


# The book imports load_model from here; it lives with the rest of run-folder reading.
from utils.runs.saved import load_model  # noqa: E402,F401
