"""Download data sets into `data/`, and the `gdl-download` command.

The book asks readers to fetch the Quick, Draw! camels by hand and save them
as `data/camel/full_numpy_bitmap_camel.npy`.  `download_quickdraw` does the
same with `keras.utils.get_file`, and is careful about two things:

* a download that stops half-way never leaves a file behind that a later run
  would mistake for the real thing (we download to `<name>.part` and rename
  it only once it is complete and looks right);
* when the machine is offline, the error says which file was wanted, from
  where, and how to train without it (`--data silhouettes`).

Usage from a shell:

    gdl-download camel
    gdl-download camel elephant --data-dir /big/disk/data
"""

import argparse
import os
import sys
import urllib.error
import urllib.parse
from pathlib import Path

from utils.data.bitmaps import open_bitmaps
from utils.paths import data_root

QUICKDRAW_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/"
QUICKDRAW_URL_ENV = "GDL_QUICKDRAW_URL"

OFFLINE_HINT = (
    "To train without downloading anything, use the animal silhouettes that "
    "ship with the `animal-shape-mnist` package: `--data silhouettes`."
)


CATEGORIES_LIST = "https://github.com/googlecreativelab/quickdraw-dataset/blob/master/categories.txt"


class DownloadError(OSError):
    """A file could not be downloaded (offline, bad URL, server error...).

    Attributes:
        http_status: the server's HTTP status when it answered with an error (404: no such file),
            else None.
    """

    def __init__(self, message, http_status=None):
        super().__init__(message)
        self.http_status = http_status


class UnknownCategory(DownloadError, ValueError):
    """Quick, Draw! has no category of that name (its server has no such file)."""


def category_problem(category):
    """Why `category` cannot be a Quick, Draw! category name (it names a folder and a file), or None."""
    if not isinstance(category, str) or not category.strip():
        return "a category is a name such as camel"
    if any(sep in category for sep in ("/", "\\")) or category.strip(".") == "" or category != category.strip():
        return f"{category!r} is not a category name (no slashes, dots alone or spaces around it)"
    return None


def quickdraw_path(category="camel", data_dir=None):
    """Where the book keeps a Quick, Draw! category: `data/<c>/full_numpy_bitmap_<c>.npy`.

    Args:
        category: the Quick, Draw! category, e.g. `'camel'`.
        data_dir: the data folder; None: `utils.paths.data_root()`.

    Returns:
        The file's `Path` (it need not exist).
    """
    root = Path(data_dir) if data_dir is not None else data_root()
    return root / category / f"full_numpy_bitmap_{category}.npy"


def fetch(url, target, check=None):
    """Downloads `url` to `target` with `keras.utils.get_file`, all or nothing.

    The bytes go to `<target>.part` first and are renamed to `target` only when
    the download finished (and `check(partial_path)`, if given, did not raise),
    so a failed or interrupted run never leaves a `target` behind.

    Args:
        url: what to download.
        target: the file to write (its folder is made); replaced if it exists.
        check: optional callable given the downloaded file's path; raising rejects it.

    Returns:
        `target` as a `Path`.

    Raises:
        DownloadError: naming the URL and the target, if the download or
            the check failed.
    """
    from keras.utils import get_file  # here: the command answers its arguments before Keras loads

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    # An absolute `cache_subdir` makes `get_file` write exactly into the
    # target's folder (it would otherwise fall back to /tmp/.keras when the
    # cache dir is not writable yet).
    folder = str(target.parent.resolve())
    try:
        try:
            get_file(
                fname=partial.name,
                origin=url,
                cache_dir=folder,
                cache_subdir=folder,
                force_download=True,  # a leftover `.part` is never "cached"
            )
        except Exception as err:
            # get_file raises a bare Exception; the server's answer is the error it replaced.
            answer = err.__context__ if isinstance(err.__context__, urllib.error.HTTPError) else None
            raise DownloadError(
                f"Could not download {url} to {target}: {err}",
                http_status=answer.code if answer is not None else None,
            ) from err
        if check is not None:
            try:
                check(partial)
            except Exception as err:
                raise DownloadError(
                    f"Downloaded {url}, but it is not what was expected "
                    f"({err}); nothing was kept at {target}"
                ) from err
    except BaseException:  # also KeyboardInterrupt: never keep half a file
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


def download_quickdraw(category="camel", data_dir=None):
    """Downloads one Quick, Draw! category as the book stores it.

    The file lands at `<data_dir>/<category>/full_numpy_bitmap_<category>.npy`
    (`data_dir` defaults to the project's `data/` folder, see
    `utils.paths.data_root`).  If it is already there, nothing is fetched.
    The base URL can be changed with the `GDL_QUICKDRAW_URL` environment
    variable (a mirror, or a local server in the tests).

    Args:
        category: the Quick, Draw! category, e.g. `'camel'`.
        data_dir: the data folder; None: `utils.paths.data_root()`.

    Returns:
        The `Path` of the `.npy` file.

    Raises:
        ValueError: `category` cannot be a category's name (empty, or with a slash).
        UnknownCategory: the server has no such category; the message says where the list is.
        DownloadError: the download failed, or the file is not a Quick, Draw! bitmap
            array; the message says how to work offline.
    """
    problem = category_problem(category)
    if problem:
        raise ValueError(f"Quick, Draw! category: {problem}; the names are listed at {CATEGORIES_LIST}.")
    target = quickdraw_path(category, data_dir)
    if target.exists():
        return target

    base = os.environ.get(QUICKDRAW_URL_ENV) or QUICKDRAW_URL
    url = base.rstrip("/") + "/" + urllib.parse.quote(f"{category}.npy")
    try:
        fetch(url, target, check=open_bitmaps)
    except DownloadError as err:
        if err.http_status == 404:
            raise UnknownCategory(
                f"Quick, Draw! has no category {category!r}: {url} answered 404 (not found), and "
                f"nothing was kept. The category names are listed at {CATEGORIES_LIST} "
                f"(lower case, spaces kept: 'hot air balloon').", http_status=404) from err
        raise DownloadError(
            f"{err}. If this machine is offline, copy {category}.npy from a "
            f"machine that is online to {target}. {OFFLINE_HINT}"
        ) from err
    return target


def main(argv=None):
    """Entry point of the `gdl-download` console command.

    Args:
        argv: the command-line arguments, without the program name; None: `sys.argv[1:]`.

    Returns:
        The exit status: 0; 1 when a download failed (the error is printed); 2 for a name that is not
        a category, before anything is downloaded, or one the server does not have.
    """
    parser = argparse.ArgumentParser(
        prog="gdl-download",
        description=(
            "Download Quick, Draw! drawings (numpy bitmaps) into the data "
            "folder, as the book expects: data/<category>/"
            "full_numpy_bitmap_<category>.npy."
        ),
    )
    parser.add_argument(
        "categories",
        nargs="+",
        metavar="category",
        help="Quick, Draw! category, e.g. camel",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data folder (default: the project's data/, or $GDL_DATA_DIR)",
    )
    args = parser.parse_args(argv)
    for category in args.categories:
        problem = category_problem(category)
        if problem:
            parser.exit(2, f"gdl-download: {problem}; the names are listed at {CATEGORIES_LIST}.\n")

    for category in args.categories:
        try:
            path = download_quickdraw(category, data_dir=args.data_dir)
        except UnknownCategory as err:
            print(f"gdl-download: {err}", file=sys.stderr)
            return 2
        except DownloadError as err:
            print(f"gdl-download: {err}", file=sys.stderr)
            return 1
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
