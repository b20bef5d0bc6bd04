"""The divergence guard: a step that leaves a loss, a weight or an optimizer's state NaN or
infinite stops training at once, for every model and option, and nothing non-finite is saved.

The tests make a weight non-finite directly (a plain Keras callback writes NaN or inf into one
variable before a step), so they mean the same on every CPU, whatever its kernels do with NaN.
"""

import json

import keras
import numpy as np
import pytest

from models.CGAN import CGAN
from models.GAN import GAN
from models.InfoGAN import InfoGAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from tiny import critic_params, gan_params, images
from utils.loaders import load_model
from utils.runs.callbacks import StopOnDivergence, TrainingDiverged
from utils.runs.checkpoint import read_training_state
from utils.runs.folder import RunFolder

POISONED_AT = 3  # the epoch before which one variable is made non-finite


def build(kind):
    keras.utils.set_random_seed(0)
    if kind == "gan":
        return GAN(**gan_params())
    if kind == "gan-hacks":
        return GAN(**gan_params(), label_smoothing=0.1, label_flip=0.05, instance_noise=0.1)
    if kind == "wgan":
        return WGAN(**critic_params())
    if kind == "wgangp":
        params = {k: v for k, v in critic_params(critic_batch_norm_momentum=None).items()
                  if k not in ("optimiser", "z_dim")}
        return WGANGP(**params, optimiser="adam", grad_weight=10, z_dim=6, batch_size=8)
    if kind == "cgan":
        return CGAN(**gan_params(), num_classes=3)
    if kind == "cgan-wgangp":
        return CGAN(**gan_params(), num_classes=3, loss="wgan-gp", matching_aware=True)
    if kind == "infogan":
        return InfoGAN(**gan_params(), categorical_dim=3, continuous_dim=2, q_dense_size=8)
    raise ValueError(kind)


def train(model, folder, epochs, callbacks=()):
    x = images(48)
    options = dict(batch_size=8, epochs=epochs, run_folder=folder, print_every_n_batches=1,
                   callbacks=list(callbacks), tensorboard=False)
    if isinstance(model, CGAN):
        return model.train(x, (np.arange(48) % 3).astype("int64"), **options)
    if isinstance(model, (WGAN, WGANGP)):
        options["n_critic"] = 2
    return model.train(x, **options)


class Poison(keras.callbacks.Callback):
    """Before epoch ``at``, set the first element of one variable to ``value``."""

    def __init__(self, variable, at=POISONED_AT, value=np.nan):
        super().__init__()
        self.variable, self.at, self.value = variable, at, value

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            values = keras.ops.convert_to_numpy(self.variable).copy()
            values.flat[0] = self.value
            self.variable.assign(values)


def kernel(network, index):
    return [w for w in network.trainable_weights if w.path.endswith("kernel")][index]


# Every model and loss, the GAN hacks and the matching-aware critic; a NaN in the generator or in
# the discriminator/critic (both for the GAN).
CASES = [("gan", "generator"), ("gan", "adversary"), ("gan-hacks", "adversary"), ("wgan", "generator"),
         ("wgangp", "adversary"), ("cgan", "generator"), ("cgan-wgangp", "adversary"),
         ("infogan", "generator")]


@pytest.mark.parametrize("kind, network", CASES)
def test_a_non_finite_weight_stops_training_at_that_step_and_nothing_non_finite_is_saved(
        tmp_path, kind, network):
    model = build(kind)
    model.save(tmp_path)
    # A kernel in the middle of the network: its NaN need not reach the losses.
    variable = kernel(getattr(model, network), 1)
    with pytest.raises(TrainingDiverged, match=rf"diverged at epoch {POISONED_AT}: .*NaN or infinite"
                                               rf".*keeps the last good checkpoint \(epoch {POISONED_AT}\)"
                       ) as stopped:
        train(model, tmp_path, 10, [Poison(variable)])
    assert stopped.value.kept_epoch == POISONED_AT
    assert model.epoch == POISONED_AT + 1  # it stopped after the poisoned step, not later
    folder = RunFolder(tmp_path)
    state = read_training_state(folder.checkpoint)
    assert state["epoch"] == POISONED_AT
    assert json.loads(folder.history.read_text())["epoch"] == POISONED_AT
    assert not folder.sample(POISONED_AT + 1).exists()

    resumed = load_model(type(model), tmp_path)  # refuses non-finite weights or optimizer state
    assert resumed.epoch == POISONED_AT and not resumed.non_finite_state()
    train(resumed, tmp_path, 2)
    assert resumed.epoch == POISONED_AT + 2 and not resumed.non_finite_state()


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_weight_is_caught_too(tmp_path, value):
    model = build("gan")
    with pytest.raises(TrainingDiverged, match=rf"diverged at epoch {POISONED_AT}"):
        train(model, tmp_path, 10, [Poison(kernel(model.generator, 0), value=value)])


def test_a_nan_clipped_away_by_the_wgan_is_still_caught(tmp_path, monkeypatch):
    """The WGAN clips its critic's weights after each critic step, and a clip may turn NaN into
    a number (a CPU whose max and min drop NaN). Here the step's last critic update leaves a NaN
    that such a clip hides before any loss or the end of the step sees it: the guard checks each
    update before the clip, so training still stops at that step."""
    import tensorflow as tf

    import models.penalties.clipping as wgan_module

    clip = wgan_module.clip_weights

    def clip_dropping_nan(variables, threshold):
        for variable in variables:
            variable.assign(tf.where(tf.math.is_nan(variable), tf.zeros_like(variable), variable))
        clip(variables, threshold)

    monkeypatch.setattr(wgan_module, "clip_weights", clip_dropping_nan)
    model = build("wgan")
    target, armed, traced = kernel(model.critic, 1), tf.Variable(False), []
    apply = model.d_optimizer.apply

    def apply_then_nan(gradients, variables):  # a NaN gradient, in effect
        apply(gradients, variables)
        traced.append(None)
        if len(traced) % 4 == 0:  # the last of the step's 2 x n_critic updates (n_critic = 2)
            target.assign(tf.where(armed, tf.fill(tf.shape(target), float("nan")), target))

    monkeypatch.setattr(model.d_optimizer, "apply", apply_then_nan)

    class Arm(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            armed.assign(epoch == POISONED_AT)

    with pytest.raises(TrainingDiverged, match=rf"diverged at epoch {POISONED_AT}: an update"):
        train(model, tmp_path, 10, [Arm()])
    assert read_training_state(RunFolder(tmp_path).checkpoint)["epoch"] == POISONED_AT


def test_non_finite_optimizer_state_is_caught_and_never_saved(tmp_path):
    model = build("gan")
    moment = next(v for v in model.g_optimizer.variables if "momentum" in v.path or "velocity" in v.path)
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite"):
        train(model, tmp_path, 10, [Poison(moment)])
    assert read_training_state(RunFolder(tmp_path).checkpoint)["epoch"] == POISONED_AT


def test_diverging_at_the_first_step_says_that_nothing_was_kept(tmp_path):
    model = build("gan")
    with pytest.raises(TrainingDiverged, match="holds no checkpoint") as stopped:
        train(model, tmp_path, 5, [Poison(kernel(model.generator, 1), at=0)])
    assert stopped.value.kept_epoch is None
    assert not RunFolder(tmp_path).checkpoint.exists()


def test_a_plain_fit_with_the_guard_callback_stops_too():
    """``StopOnDivergence`` is a Keras callback: a plain ``fit`` stops at the bad step as well."""
    model = build("gan")
    guard = StopOnDivergence()
    history = model.fit(images(64), batch_size=8, epochs=3,
                        callbacks=[guard, Poison(kernel(model.generator, 1), at=1)], verbose=0)
    assert len(history.history["d_loss"]) == 2  # epoch 0, then epoch 1 stopped after one step
    assert guard.message.startswith("Training diverged at epoch 1:")


def test_the_guard_counts_nothing_while_training_is_sound():
    model = build("gan")
    model.fit(images(64), batch_size=8, epochs=1, verbose=0)
    assert model.non_finite_updates() == 0 and not model.non_finite_state()
    assert "non_finite_updates" not in model.fit(images(16), batch_size=8, epochs=1,
                                                 verbose=0).history  # not a loss in the logs
