"""Which data a run trains on: the record in the run folder, and the real images it is judged against."""

import numpy as np
import pytest

from utils.data.silhouettes import load_silhouettes, split_mask
from utils.data import sets
from utils.data.sets import Camel, Celeb, Cifar, Silhouettes


def test_the_silhouette_split_holds_out_every_fifth_image_of_each_animal():
    labels = np.array([0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    held = split_mask(labels, "held-out")
    # class 0 positions: 0,1,3,4,5,10,11,12,13,14 -> 5th and 10th (indices 5 and 14) held out
    assert list(np.flatnonzero(held)) == [5, 9, 14]
    np.testing.assert_array_equal(split_mask(labels, "train"), ~held)
    assert split_mask(labels, "all").all()
    with pytest.raises(ValueError, match="split"):
        split_mask(labels, "test")


def test_train_and_held_out_silhouettes_are_disjoint_and_complete():
    train, _ = load_silhouettes("horse", split="train")
    held, _ = load_silhouettes("horse", split="held-out")
    everything, _ = load_silhouettes("horse")
    # every fifth horse is held out, except one whose exact pixels are also among the training horses
    assert len(train) == 801 and len(held) == 199
    seen = {row.tobytes() for row in train.reshape(len(train), -1)}
    assert not any(row.tobytes() in seen for row in held.reshape(len(held), -1))
    np.testing.assert_array_equal(np.sort(np.concatenate([train, held]).reshape(1000, -1), axis=0),
                                  np.sort(everything.reshape(1000, -1), axis=0))


@pytest.mark.parametrize("spec, folder", [
    (Silhouettes(classes="cat,dog"), "0001_silhouettes-cat-dog"),
    (Camel(), "0001_camel"),
    (Cifar(label=7), "0002_horses"),
    (Cifar(label=3), "0002_cifar3"),
    (Celeb(), "0001_celeb"),
])
def test_the_data_is_read_back_from_the_folder_name_or_its_record(spec, folder, tmp_path):
    assert spec.run_name == folder.split("_", 1)[1]
    assert sets.infer(folder) == spec
    written = tmp_path / "elsewhere"
    written.mkdir()
    spec.write(written)
    assert sets.read(written) == spec


def test_unknown_or_damaged_records_are_named(tmp_path):
    assert sets.infer("0001_my-faces") is None
    with pytest.raises(ValueError, match="choose one of"):
        sets.data_set("mnist")
    (tmp_path / "data.json").write_text("{oops")
    with pytest.raises(ValueError, match="data.json is damaged"):
        sets.read(tmp_path)
    assert sets.parse("cifar:3") == Cifar(label=3)
    assert sets.parse("silhouettes:all").silhouette_classes[0] == "bear"


def test_silhouette_real_images_hold_out_unseen_images_at_the_chapter_size():
    real = Silhouettes(classes="cat,dog").real_images((32, 32, 3), n_train=300, n_held_out=100)
    assert real.train.shape == (300, 32, 32, 3) and real.held_out.shape == (100, 32, 32, 3)
    assert split_mask(np.zeros(0), "held-out").shape == (0,)
    assert real.held_out_unseen and set(np.unique(real.train_labels)) == {2, 4}
    training, _ = Silhouettes(classes="cat,dog").load_training((32, 32, 3), 8)
    flat = {row.tobytes() for row in training.reshape(len(training), -1)}
    assert not any(row.tobytes() in flat for row in real.held_out.reshape(100, -1))


def test_book_data_real_images_are_disjoint_samples(data_dir):
    rng = np.random.default_rng(0)
    (data_dir / "camel").mkdir()
    np.save(data_dir / "camel" / "full_numpy_bitmap_camel.npy", rng.integers(0, 256, (50, 784), dtype=np.uint8))
    real = Camel().real_images((28, 28, 1), n_train=100, n_held_out=20)
    assert len(real.held_out) == 20 and len(real.train) == 30 and not real.held_out_unseen
    held = {row.tobytes() for row in real.held_out.reshape(20, -1)}
    assert not any(row.tobytes() in held for row in real.train.reshape(30, -1))
