"""The chapter notebooks run top to bottom, headless, on offline data (GDL_SMOKE shortens training)."""

from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from utils.loaders import load_silhouettes

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def workdir(tmp_path, data_dir, monkeypatch):
    """A project-like folder: run/<section>/ exists as in a fresh clone; data comes from data_dir."""
    for section in ("gan", "wgan", "wgangp"):
        (tmp_path / "run" / section).mkdir(parents=True)
    monkeypatch.setenv("GDL_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def execute(name, workdir):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def outputs_text(notebook):
    return "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )


def test_04_01_gan_camel(workdir, data_dir):
    # Real drawings stand in for the camels: silhouettes in Quick, Draw!'s uint8 (N, 784) layout.
    horses, _ = load_silhouettes("horse")
    pixels = np.round((horses[:300, :, :, 0] + 1) * 127.5).astype(np.uint8).reshape(300, 784)
    (data_dir / "camel").mkdir()
    np.save(data_dir / "camel" / "full_numpy_bitmap_camel.npy", pixels)

    notebook = execute("04_01_gan_camel_train.ipynb", workdir)

    run = workdir / "run" / "gan" / "0001_camel"
    assert (run / "params.pkl").exists() and (run / "weights" / "weights.weights.h5").exists()
    assert (run / "images" / "sample_3.png").exists()  # the grid shown after training
    text = outputs_text(notebook)
    assert "(300, 28, 28, 1)" in text  # x_train.shape
    assert "discriminator_conv_0" in text and "generator_conv_3" in text  # summaries
    images = [o for c in notebook.cells for o in getattr(c, "outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the drawing, the final grid, the loss and accuracy plots
