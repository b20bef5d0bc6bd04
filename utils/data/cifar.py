"""Find and read CIFAR-10 / CIFAR-100, including on machines without internet.

`keras.datasets.cifar10.load_data()` downloads the archive into `~/.keras`
and checks its sha256, so on an offline cluster there is no way to hand it a
copy.  Readers there copy the extracted folder instead, and we read its batch
files here (``read_batch``).  Where we look, in order:

1. an extracted `cifar-10-batches-py/` (or `cifar-100-python/`) folder: under
   the data folder, or at a path given explicitly;
2. if `GDL_CIFAR_URL` is set, an archive downloaded from there (a mirror, or a
   local server in the tests) and extracted under `data/_downloads/`;
3. Keras' own `load_data()`, which downloads when online.
"""

import os
import pickle
from pathlib import Path

import numpy as np
from keras.utils import get_file

from utils.data.download import DownloadError, fetch
from utils.paths import data_root

CIFAR_URL_ENV = "GDL_CIFAR_URL"
DOWNLOAD_CACHE = "_downloads"

# num -> (folder inside the archive, archive name, batch files, label key)
LAYOUT = {
    10: (
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"],
        "labels",
    ),
    100: ("cifar-100-python", "cifar-100-python.tar.gz", ["train", "test"], "fine_labels"),
}


class _ArraysOnly(pickle.Unpickler):
    """A CIFAR batch holds a dict of bytes, lists, numbers and one numpy array: anything else a
    pickle could import is refused, so a tampered file cannot run code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never does")


def read_batch(path, label_key):
    """One batch file of the CIFAR "python version" archives → (uint8 images (N, 3, 32, 32), labels).

    Args:
        path: the batch file (a pickle), e.g. `data_batch_1`.
        label_key: `"labels"` (CIFAR-10) or `"fine_labels"` (CIFAR-100).

    Returns:
        `(images, labels)`: the images as a numpy array `(N, 3, 32, 32)` in the file's
        dtype, and the labels as stored (a list).

    Raises:
        pickle.UnpicklingError: the pickle refers to anything but numpy arrays.
        KeyError: the batch has no `data` or no `label_key`.
    """
    with open(path, "rb") as f:
        batch = _ArraysOnly(f, encoding="bytes").load()
    batch = {key.decode("utf8") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    return np.asarray(batch["data"]).reshape(-1, 3, 32, 32), batch[label_key]


def folder_name(num):
    """The folder a CIFAR archive extracts to.

    Args:
        num: 10 or 100.

    Returns:
        `"cifar-10-batches-py"` or `"cifar-100-python"`.
    """
    return LAYOUT[num][0]


def read_folder(folder, num):
    """Reads an extracted CIFAR folder, each batch file with `read_batch` (numpy arrays only).

    Args:
        folder: the extracted `cifar-10-batches-py/` or `cifar-100-python/` folder.
        num: 10 or 100.

    Returns:
        `(x, y)`: uint8 images `(N, 32, 32, 3)` (train then test) and int64
        labels `(N, 1)`, fine labels for CIFAR-100.

    Raises:
        FileNotFoundError: a batch file is missing.
        ValueError: a batch file cannot be read, or holds other than uint8 images with one
            label each, all in 0..num-1.
    """
    folder = Path(folder)
    _, _, files, label_key = LAYOUT[num]
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a complete CIFAR-{num} folder: missing "
            f"{', '.join(missing)} (expected {', '.join(files)})."
        )
    images, labels = [], []
    for name in files:
        path = folder / name
        try:
            data, batch_labels = read_batch(path, label_key)
        except Exception as err:  # bad pickle, missing key, wrong size...
            raise ValueError(
                f"{path} is not a readable CIFAR-{num} batch file ({err!r}). "
                "Copy it again from the extracted archive."
            ) from err
        batch_labels = np.asarray(batch_labels, dtype=np.int64)
        if data.dtype != np.uint8 or len(data) != len(batch_labels):
            raise ValueError(
                f"{path} holds {len(data)} {data.dtype} images for "
                f"{len(batch_labels)} labels; expected uint8, one label each."
            )
        outside = batch_labels[(batch_labels < 0) | (batch_labels >= num)]
        if outside.size:
            raise ValueError(
                f"{path} holds {outside.size} label(s) outside CIFAR-{num}'s classes 0-{num - 1} "
                f"(e.g. {sorted(set(outside.tolist()))[:5]}): it is not a CIFAR-{num} batch file. "
                "Copy it again from the extracted archive.")
        images.append(data.transpose(0, 2, 3, 1))  # (N, 3, 32, 32) -> NHWC
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels).reshape(-1, 1)


def find_folder(num, path=None):
    """The extracted folder to read, or `None` if there is none yet.

    `path` (if given) may be the CIFAR folder itself or a folder holding it.

    Args:
        num: 10 or 100.
        path: the CIFAR folder or a folder holding it; None: look for it in the data folder.

    Returns:
        The folder's `Path`, or `None` when `path` is None and the data folder has none.

    Raises:
        FileNotFoundError: `path` is given but is not, and does not hold, an extracted CIFAR
            folder.
    """
    name = folder_name(num)
    if path is not None:
        path = Path(path)
        for candidate in (path / name, path):
            if candidate.is_dir() and (candidate / LAYOUT[num][2][-1]).exists():
                return candidate
        raise FileNotFoundError(
            f"{path} is not an extracted CIFAR-{num} folder (nor does it hold "
            f"one named {name}/)."
        )
    candidate = data_root() / name
    return candidate if candidate.is_dir() else None


def download_folder(url, num):
    """Downloads and extracts a CIFAR archive from `url`; returns the folder.

    `url` is the archive itself, or a folder URL ending in `/` to which the
    standard archive name (e.g. `cifar-10-python.tar.gz`) is added.  The
    extracted folder is reused on later calls without any network access.

    Args:
        url: the archive's URL, or a folder URL ending in `/`.
        num: 10 or 100.

    Returns:
        The `Path` of the extracted folder, under `<data folder>/_downloads/`.

    Raises:
        DownloadError: the download or the extraction failed, or the archive holds no
            CIFAR folder.
    """
    name, archive_name, _, _ = LAYOUT[num]
    if url.endswith("/"):
        url += archive_name
    cache = (data_root() / DOWNLOAD_CACHE).resolve()
    archive = cache / archive_name
    # `get_file` extracts `<stem>.tar.gz` into `<stem>_extracted/`.
    extracted = cache / (archive_name.split(".")[0] + "_extracted")
    folder = extracted / name
    if folder.is_dir():
        return folder

    if not archive.exists():
        fetch(url, archive)  # all or nothing: no half archive is ever kept
    try:
        # The archive is already in place, so this only extracts it (with
        # Keras' checks that no member escapes the target folder).
        get_file(
            fname=archive_name,
            origin=url,
            extract=True,
            cache_dir=str(cache),
            cache_subdir=str(cache),
        )
    except Exception as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(
            f"Could not extract {archive} (downloaded from {url}): {err}. "
            "It was deleted; try again."
        ) from err
    if not folder.is_dir():
        raise DownloadError(
            f"The archive from {url} has no {name}/ folder inside; is it "
            f"the CIFAR-{num} python version ({archive_name})?"
        )
    return folder


def load_keras(num):
    """Keras' own loader (downloads into ~/.keras when online).

    Args:
        num: 10 or 100.

    Returns:
        `(x, y)`: uint8 images `(N, 32, 32, 3)` (train then test) and int64 labels `(N, 1)`.

    Raises:
        DownloadError: Keras could not get the data; the message says how to work offline.
    """
    from keras.datasets import cifar10, cifar100

    try:
        if num == 10:
            (x_train, y_train), (x_test, y_test) = cifar10.load_data()
        else:
            (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode="fine")
    except Exception as err:
        name = folder_name(num)
        raise DownloadError(
            f"Could not get CIFAR-{num} through Keras ({err}). Offline? Copy "
            f"the extracted {name}/ folder (from the CIFAR-{num} python "
            f"archive) to {data_root() / name}, or pass its location with "
            f"`load_cifar(..., path=...)`, or set {CIFAR_URL_ENV} to a URL "
            "of the archive."
        ) from err
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train, y_test]).astype(np.int64).reshape(-1, 1)
    return x, y


def load_all(num, path=None):
    """All CIFAR-`num` images and labels, from the first source that has them.

    Args:
        num: 10 or 100.
        path: an extracted CIFAR folder or a folder holding it; None: the data folder,
            then `$GDL_CIFAR_URL`, then Keras.

    Returns:
        `(x, y)`: uint8 images `(N, 32, 32, 3)` (train then test) and int64 labels `(N, 1)`.

    Raises:
        FileNotFoundError, ValueError: as for `find_folder` and `read_folder`.
        DownloadError: no folder was found and the data could not be downloaded.
    """
    folder = find_folder(num, path)
    if folder is None and os.environ.get(CIFAR_URL_ENV):
        folder = download_folder(os.environ[CIFAR_URL_ENV], num)
    if folder is not None:
        return read_folder(folder, num)
    return load_keras(num)
