"""A folder of the user's own PNG/JPEG images (``--data images:DIR``).

Each image is centre-cropped to the model's aspect, resized to its height and width, made
grayscale or colour to match its channels (transparent pixels shown on white) and scaled to
[-1, 1].  A file that cannot be read, or that the JPEG decoder calls damaged
(`utils.data.image_files`), is named in a warning and skipped.  A conditional model
(``gdl-cgan``) takes one subfolder per class: ``DIR/cat/*.png``, ``DIR/dog/*.jpg``.
"""

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.data.sets.base import DataSet

SUFFIXES = (".png", ".jpg", ".jpeg")
NAMED_AT_MOST = 5  # unreadable files named in the warning; the rest counted
MEMORY_SHARE = 0.5  # of the memory free now that the float32 images may take


def read_image(path, input_dim):
    """One image file as uint8 (H, W, C): centre-cropped to the aspect of ``input_dim``, resized,
    in its channels (1: grayscale, 3: colour).  Raises what PIL raises for a bad file."""
    from PIL import Image, ImageOps

    height, width, channels = input_dim
    with Image.open(path) as image:
        image.load()
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image.alpha_composite(rgba)
        image = image.convert("L" if channels == 1 else "RGB")
        image = ImageOps.fit(image, (width, height), method=Image.Resampling.BICUBIC)
        return np.asarray(image, dtype=np.uint8).reshape(height, width, channels)


def _free_memory():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this system: no limit known
        return None


@dataclass(frozen=True)
class ImageFolder(DataSet):
    """The PNG and JPEG files under ``path`` (at any depth), at the model's size and channels.

    Raises:
        ValueError: no ``path``.
    """

    path: str = None
    name = "images"

    def __post_init__(self):
        if not self.path:
            raise ValueError("--data images:DIR names the folder of images, e.g. --data images:~/my-drawings.")
        object.__setattr__(self, "path", str(Path(self.path).expanduser().resolve()))

    @classmethod
    def from_command(cls, detail, classes=None, label=None, conditional=False):
        return cls(path=detail)

    @classmethod
    def from_run_name(cls, run_name):
        return None  # the folder is not in the name: data.json records it

    @property
    def run_name(self):
        return f"{self.name}-{re.sub(r'[^A-Za-z0-9.-]+', '-', Path(self.path).name).strip('-') or 'folder'}"

    # -- reading the folder ---------------------------------------------------------------

    def _folder(self):
        folder = Path(self.path)
        if not folder.is_dir():
            raise FileNotFoundError(f"--data images:{self.path}: there is no such folder. Pass a folder "
                                    f"holding PNG or JPEG images (at any depth).")
        return folder

    def _files(self, folder):
        from utils.data.image_files import list_images

        files = list_images(folder)
        if not files:
            raise FileNotFoundError(f"{folder} holds no image files ({', '.join(SUFFIXES)}, at any depth): put "
                                    f"your PNG or JPEG images there, or pass the folder that holds them.")
        return files

    def _read(self, files, input_dim, folder):
        """The readable files as float32 [-1, 1] (N, H, W, C), and which files they are; the
        others named in one warning."""
        free = _free_memory()
        needed = len(files) * int(np.prod(input_dim)) * 4
        if free is not None and needed > MEMORY_SHARE * free:
            raise MemoryError(
                f"{folder}: {len(files)} images at {input_dim[0]}x{input_dim[1]}x{input_dim[2]} take "
                f"{needed / 2**30:.1f} GiB as float32, more than half of the {free / 2**30:.1f} GiB free here. "
                f"Train on a subfolder, or on fewer images.")
        from utils.data.image_files import image_problems

        problems = image_problems(files)
        images, kept, unreadable = [], [], []
        for path in files:
            if path in problems:
                unreadable.append(f"{path} ({problems[path]})")
                continue
            try:
                images.append(read_image(path, input_dim))
                kept.append(path)
            except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
                unreadable.append(f"{path} ({type(error).__name__}: {error})")
        if unreadable:
            more = len(unreadable) - NAMED_AT_MOST
            warnings.warn(f"{folder}: skipping {len(unreadable)} file(s) that could not be read as images: "
                          f"{'; '.join(unreadable[:NAMED_AT_MOST])}{f' and {more} more' if more > 0 else ''}.",
                          stacklevel=3)
        if not images:
            raise FileNotFoundError(f"{folder} holds no readable image: each of its {len(files)} image file(s) "
                                    f"failed to open (named above). Put readable PNG or JPEG images there.")
        return np.stack(images).astype(np.float32) / 127.5 - 1.0, kept

    def load_training(self, input_dim, batch_size):
        """Every readable image under the folder, in sorted order."""
        folder = self._folder()
        return self._read(self._files(folder), input_dim, folder)[0], False

    def load_labelled(self, input_dim):
        """One class per subfolder (sorted by name), each holding images at any depth.

        Raises:
            ValueError: fewer than two subfolders hold images.
        """
        folder = self._folder()
        parts = {path: Path(path).relative_to(folder).parts for path in self._files(folder)}
        classes = sorted({where[0] for where in parts.values() if len(where) > 1})
        if len(classes) < 2:
            raise ValueError(
                f"{folder} has {len(classes)} subfolder(s) of images, but a conditional model learns to draw the "
                f"class it is asked for, so it needs one subfolder per class, two at least: "
                f"{folder / 'cat'}{os.sep}*.png, {folder / 'dog'}{os.sep}*.png ...")
        loose = [path for path, where in parts.items() if len(where) == 1]
        if loose:
            warnings.warn(f"{folder}: {len(loose)} image(s) directly in the folder belong to no class "
                          f"subfolder and are left out (first: {loose[0]}).", stacklevel=2)
        images, kept = self._read([path for path, where in parts.items() if len(where) > 1], input_dim, folder)
        labels = np.array([classes.index(parts[path][0]) for path in kept], "int32")
        return images, labels, tuple(classes)
