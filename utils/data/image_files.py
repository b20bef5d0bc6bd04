"""Find the image files in a folder, and leave out the ones that are not whole, decodable images.

A folder copied by hand often holds files that are not images (macOS `._*.jpg` shadow files, an
HTML page saved as `.jpg`), an image cut short by an interrupted unzip, or one damaged in the
middle.  The first two are found from the first and last bytes of each file.  A damaged middle is
found by decoding: libjpeg repairs what it can ("Corrupt JPEG data: bad Huffman code") and prints
a warning on the process's stderr instead of failing, so the check listens there while it decodes
each file.  JPEG has no checksum: bytes changed in a way the decoder cannot notice stay unnoticed.

Decoding every file of a large folder is slow (CelebA's time: docs/data.md), so the verdict is
kept in the folder (`.gdl-image-check.json`), valid while no file is added, removed, resized or
touched.
"""

import hashlib
import json
import os
import tempfile
import warnings

from utils.standard_error import standard_error_to

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# First bytes of every JPEG and PNG file, and the end marker each must hold in its last bytes
# (a JPEG's end-of-image marker, a PNG's IEND chunk; some writers pad after them).
END_MARKERS = {b"\xff\xd8\xff": b"\xff\xd9", b"\x89PNG": b"IEND"}
TAIL_BYTES = 64
# How libjpeg's warnings about damaged data begin (its messages JWRN_JPEG_EOF, JWRN_HIT_MARKER,
# JWRN_EXTRANEOUS_DATA, JWRN_HUFF_BAD_CODE, JWRN_NOT_SEQUENTIAL...).
DECODER_COMPLAINTS = (b"Corrupt JPEG data", b"Premature end of JPEG file", b"Invalid SOS parameters")
CHECK_FILE = ".gdl-image-check.json"
NAMED_AT_MOST = 5


def list_images(folder):
    """Every `.jpg`/`.jpeg`/`.png` file under `folder`, at any depth, sorted.

    Args:
        folder: the folder to search (suffixes match in any case).

    Returns:
        A list of path strings, folders and files in sorted order; empty when the folder
        does not exist.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append(os.path.join(dirpath, name))
    return found


def _ends_problem(path):
    """Why the file does not start and end like a JPEG or PNG, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(max(0, os.path.getsize(path) - TAIL_BYTES))
            tail = f.read()
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    for magic, end in END_MARKERS.items():
        if head.startswith(magic):
            return None if end in tail else "cut short"
    return "not a JPEG or PNG"


def _decoding_problems(paths):
    """{path: why} for the files TensorFlow's decoders reject or libjpeg calls damaged (none found
    where TensorFlow is not installed: the files' ends were checked, PIL will say the rest)."""
    try:
        import tensorflow as tf
    except ImportError:
        return {}

    problems, passed_on = {}, []
    with tempfile.TemporaryFile() as sink, standard_error_to(sink):
        for path in paths:
            start = sink.seek(0, os.SEEK_END)
            try:
                tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
                problems[path] = f"does not decode: {error.message.splitlines()[0]}"
            end = sink.seek(0, os.SEEK_END)
            if end > start:
                sink.seek(start)
                for line in sink.read(end - start).splitlines():
                    if line.startswith(DECODER_COMPLAINTS):
                        problems.setdefault(path, f"damaged: {line.decode(errors='replace')}")
                    else:  # not the decoder's: someone else's line, given back below
                        passed_on.append(line)
    for line in passed_on:
        os.write(2, line + b"\n")
    return problems


def _fingerprint(paths):
    """Changes when a file is added, removed, resized or touched."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def _remembered(check_file, fingerprint):
    try:
        with open(check_file) as f:
            record = json.load(f)
        if record.get("fingerprint") == fingerprint and isinstance(record.get("problems"), dict):
            return record["problems"]
    except (OSError, ValueError, AttributeError):
        pass  # no verdict kept, or a damaged one: decode again
    return None


def _remember(check_file, fingerprint, problems):
    """Keeps the verdict beside the images when the folder is writable; else nothing is kept."""
    from utils.runs.folder import write_json_atomically

    try:
        write_json_atomically(check_file, {"fingerprint": fingerprint, "problems": problems})
    except OSError:
        pass


def image_problems(paths, folder=None):
    """{path: why} for each file of `paths` that is not a whole JPEG or PNG, or whose decoding fails or
    is called damaged by the decoder.  With `folder`, the verdict is kept there and reused while the
    files stay as they are."""
    paths = [str(p) for p in paths]
    check_file = os.path.join(folder, CHECK_FILE) if folder is not None else None
    fingerprint = _fingerprint(paths) if check_file else None
    if check_file:
        problems = _remembered(check_file, fingerprint)
        if problems is not None:
            return problems
    problems = {path: why for path in paths if (why := _ends_problem(path))}
    problems.update(_decoding_problems([path for path in paths if path not in problems]))
    problems = {path: problems[path] for path in paths if path in problems}  # in the files' order
    if check_file:
        _remember(check_file, fingerprint, problems)
    return problems


def drop_non_images(paths, folder=None):
    """Keeps the files that are whole, decodable JPEG or PNG images, naming the others in one warning.

    Args:
        paths: the files to check.
        folder: where to keep the verdict for the next time (see `image_problems`); None: nowhere.

    Returns:
        A list of the paths kept, in their order.
    """
    paths = [str(p) for p in paths]
    problems = image_problems(paths, folder)
    if problems:
        named = "; ".join(f"{path} ({why})" for path, why in list(problems.items())[:NAMED_AT_MOST])
        more = len(problems) - NAMED_AT_MOST
        warnings.warn(
            f"Skipping {len(problems)} file(s) that are not whole, readable JPEG or PNG images: "
            f"{named}{f' and {more} more' if more > 0 else ''}.",
            stacklevel=3,
        )
    return [path for path in paths if path not in problems]
