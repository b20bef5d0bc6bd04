"""The book's Quick, Draw! camels (``--data camel``), downloaded by ``gdl-download camel``."""

from dataclasses import dataclass

from utils.data.sets.base import DataSet


@dataclass(frozen=True)
class Camel(DataSet):
    """The camel drawings of ``data/camel/*.npy``, 28×28×1 (downloaded when missing)."""

    name = "camel"
    default_features = "silhouette"  # 28×28 white shapes on black, like the silhouettes

    def load_training(self, input_dim, batch_size):
        from utils import loaders

        loaders.download_quickdraw("camel")  # nothing to do when the file is there
        return loaders.load_safari("camel")[0], False
