"""Checksums of files, read a megabyte at a time (downloaded weights, trained classifiers)."""

import hashlib


def file_digest(path, algorithm="sha256"):
    """Hex digest ('sha256' or 'md5') of a file's bytes."""
    hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()
