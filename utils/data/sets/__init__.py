"""The data sets a run can train on, one module each, behind one registry.

``parse('silhouettes:cat,dog')``, ``parse('cifar:7')``, ``parse('images:~/drawings')``,
``data_set('camel')``; ``read(folder)`` is the data a run folder records (its ``data.json``,
else its name); ``infer('0001_camel')`` reads a notebook run's folder name.  A new data set is a
``DataSet`` subclass in a module here, added to ``DATA_SETS``.
"""

import json

from utils.data.sets.base import DataSet, RealImages  # noqa: F401
from utils.data.sets.camel import Camel
from utils.data.sets.celeb import Celeb
from utils.data.sets.cifar import Cifar
from utils.data.sets.images import ImageFolder
from utils.data.sets.silhouettes import Silhouettes

DATA_SETS = {data.name: data for data in (Silhouettes, Camel, Cifar, Celeb, ImageFolder)}
NAMES = tuple(DATA_SETS)
EXAMPLES = "silhouettes:horse, silhouettes:all, camel, cifar:7, celeb or images:DIR"


def _named(name):
    try:
        return DATA_SETS[name]
    except KeyError:
        raise ValueError(f"Unknown data {name!r}; choose one of {', '.join(NAMES)}.") from None


def data_set(name, **options):
    """The data set called ``name`` with its options (``classes=``, ``label=``, ``path=``)."""
    return _named(name)(**options)


def parse(text, classes=None, label=None, conditional=False):
    """The data set of a ``--data`` value ``<name>[:<detail>]``.

    Args:
        text: e.g. 'silhouettes:cat,dog', 'camel', 'cifar:7', 'cifar:all', 'images:DIR'.
        classes, label: the command's --classes and --label, where the text gives none.
        conditional: for a model trained on (image, label) pairs (CIFAR: all ten classes).
    Raises:
        ValueError: an unknown name or animal, a malformed detail.
    """
    name, _, detail = text.partition(":")
    return _named(name).from_command(detail, classes=classes, label=label, conditional=conditional)


def infer(folder_name):
    """The data set a run folder's name ``<run id>_<data name>`` says, or None.

    Raises:
        ValueError: a silhouettes name that names an unknown animal.
    """
    run_name = folder_name.split("_", 1)[1] if "_" in folder_name else folder_name
    for data in DATA_SETS.values():
        found = data.from_run_name(run_name)
        if found is not None:
            return found
    return None


def read(folder):
    """The run's data: ``data.json``, else inferred from the folder's name; None if neither says.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
    Raises:
        ValueError: ``data.json`` is damaged, or the folder's name names unknown animals.
    """
    from utils.runs.folder import RunFolder

    folder = RunFolder(folder)
    if folder.data_record.exists():
        try:
            record = json.loads(folder.data_record.read_text())
            return data_set(**record)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{folder.data_record} is damaged ({error}); it should hold e.g. "
                f'{{"name": "silhouettes", "classes": "horse"}}. Fix it, or pass --data.') from None
    return infer(folder.path.name)
