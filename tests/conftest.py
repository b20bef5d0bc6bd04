"""Fixtures shared by the test files: isolated data/run folders and local HTTP servers."""

import gc
import http.server
import os
import socket
import threading
import types

import pytest

os.environ.setdefault("GDL_CONV_FORM", "fast")
# Two workers share two cores: numpy's BLAS threads, one more per worker, only wait for each other
# (set before numpy is first imported; commands the tests start inherit it).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


_full_collections_seen = [0]


def pytest_runtest_teardown(item):
    """After a test during which Python collected the whole heap, collect once more (this test's
    own garbage) and freeze what is alive, so that later full collections walk only what later
    tests make.  A worker's heap grows with every model it traces (TensorFlow keeps their
    graphs), and a full collection of it takes seconds; what is frozen is never collected."""
    if gc.get_stats()[2]["collections"] != _full_collections_seen[0]:
        gc.collect()
        gc.freeze()
        _full_collections_seen[0] = gc.get_stats()[2]["collections"]


def pytest_unconfigure(config):
    """One full collection at the end, then none: pytest's own cleanup collects five times more,
    each one to four seconds on a worker's heap of two million objects, after every test has run."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def fewer_arithmetic_samples(monkeypatch):
    """An evaluation of a silhouettes run draws 600 latent points for latent arithmetic's class
    means, not 4,000 (most of its time on the full-size networks; tested in test_latent.py)."""
    from utils.evaluation import report

    monkeypatch.setattr(report, "ARITHMETIC_SAMPLES", 600)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Every test gets its own empty data folder and no download URLs."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("GDL_DATA_DIR", str(folder))
    monkeypatch.delenv("GDL_QUICKDRAW_URL", raising=False)
    monkeypatch.delenv("GDL_CIFAR_URL", raising=False)
    # The local test server must never be reached through a proxy.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return folder


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server for the files in `server.root`; counts GET requests."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield types.SimpleNamespace(root=root, url=url, requests=requests)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dead_url():
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """Runs go to a temporary folder instead of the project's run/."""
    folder = tmp_path / "run"
    folder.mkdir()
    monkeypatch.setenv("GDL_RUN_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def trained_once(tmp_path_factory):
    """A tiny GAN run of 3 epochs, trained once per test process: the folder ``trained`` copies."""
    import keras

    from models.GAN import GAN
    from tiny import gan_params, images
    from utils.runs.folder import RunFolder

    keras.utils.set_random_seed(0)
    gan = GAN(**gan_params())
    folder = RunFolder(tmp_path_factory.mktemp("trained") / "saved")
    gan.save(folder)
    gan.train(images(), 16, 3, folder, print_every_n_batches=1)
    return folder.path


@pytest.fixture
def trained(tmp_path, trained_once):
    """A tiny GAN run of 3 epochs in tmp_path/saved → (the model, its RunFolder): a copy of one
    trained run, and its model as ``load_model`` restores it (weights, optimizer, epoch, history)."""
    import shutil

    from models.GAN import GAN
    from utils.runs.folder import RunFolder
    from utils.runs.saved import load_model

    folder = RunFolder(shutil.copytree(trained_once, tmp_path / "saved"))
    gan = load_model(GAN, folder)
    return gan, folder


# The modules whose tests start processes of their own or train for tens of seconds.
LONGEST_FIRST = ("test_backends.py", "test_distribute.py", "test_multiworker.py", "test_notebooks.py",
                 "test_ablation.py", "test_stopping.py", "test_real_disks.py", "test_tiny_command.py")


def pytest_collection_modifyitems(items):
    """The longest tests run first: a worker that takes one of them last leaves the other idle
    until it ends (the order is the same in every worker, as pytest-xdist requires)."""
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)


def pytest_configure(config):
    config.addinivalue_line("markers", "book_networks: the chapter commands train the presets' own "
                                       "networks, not the tiny ones every other test gets")


@pytest.fixture(autouse=True)
def tiny_chapters(request, monkeypatch):
    """The chapter commands train tiny networks of each preset's kind (``tiny.tiny_preset``: the
    same image size, adversary, options and learning rates), unless the test is marked
    ``book_networks``: what they test does not depend on the networks' size."""
    if request.node.get_closest_marker("book_networks") is None:
        from tiny import use_tiny_chapters

        use_tiny_chapters(monkeypatch)
