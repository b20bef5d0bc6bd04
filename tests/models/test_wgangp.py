"""WGAN-GP on Keras 3: RandomWeightedAverage, the gradient penalty, no batch norm, frozen networks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.penalties.gradient_penalty import gradient_penalty
from models.WGANGP import WGANGP, RandomWeightedAverage
from tiny import changed, images, snapshot, wgangp_params
from utils import presets


@pytest.fixture
def wgangp():
    keras.utils.set_random_seed(4)
    return WGANGP(**wgangp_params())


# -- RandomWeightedAverage ------------------------------------------------------------------


def test_random_weighted_average_lies_on_each_segment_with_uniform_alphas():
    tf.random.set_seed(0)
    n = 2000
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (n, 4, 4, 3)).astype("float32")
    fake = np.where(rng.random(real.shape) < 0.5, real - 0.5, real + 0.5).astype("float32")
    out = np.asarray(RandomWeightedAverage()([real, fake]))
    # out = fake + alpha (real - fake): one alpha per sample, the same for every pixel.
    alphas = ((out - fake) / (real - fake)).reshape(n, -1)
    assert np.allclose(alphas, alphas[:, :1], atol=1e-4)
    alpha = alphas[:, 0]
    assert alpha.min() >= -1e-4 and alpha.max() <= 1 + 1e-4
    assert alpha.min() < 0.02 and alpha.max() > 0.98  # covers [0, 1]
    assert alpha.std() == pytest.approx(1 / np.sqrt(12), abs=0.02)  # uniform, not normal
    assert len(np.unique(np.round(alpha, 4))) > n * 0.9


def test_random_weighted_average_takes_the_batch_size_from_its_input():
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], RandomWeightedAverage(64)([a, b]))  # the book's constructor
    for batch in (5, 2):
        x, y = np.zeros((batch, 3), "float32"), np.ones((batch, 3), "float32")
        assert model([x, y]).shape == (batch, 3)


def test_random_weighted_average_serialises():
    layer = RandomWeightedAverage(32, name="rwa")
    clone = RandomWeightedAverage.from_config(layer.get_config())
    assert clone.batch_size == 32 and clone.name == "rwa"
    restored = keras.layers.deserialize(keras.layers.serialize(layer),
                                        custom_objects={"RandomWeightedAverage": RandomWeightedAverage})
    assert isinstance(restored, RandomWeightedAverage)


# -- the gradient penalty ----------------------------------------------------------------------


@pytest.mark.parametrize("norm", [2.0, 0.5, 1.0])
def test_gradient_penalty_of_a_linear_critic_is_closed_form(norm):
    """f(x) = w·x + b has gradient w everywhere, so the penalty is (‖w‖ − 1)²."""
    critic = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])
    w = np.random.normal(size=(32, 1)).astype("float32")
    w *= norm / np.linalg.norm(w)
    critic.layers[-1].set_weights([w, np.array([0.3], "float32")])
    x = tf.constant(np.random.uniform(-1, 1, (8, 4, 4, 2)).astype("float32"))
    assert float(gradient_penalty(critic, x)) == pytest.approx((norm - 1.0) ** 2, abs=1e-5)


def test_gradient_penalty_uses_the_norm_over_all_non_batch_axes():
    """f(x) = sum(x²)/2 has gradient x: the penalty is mean((‖x‖ − 1)²) with the norm per sample."""
    class HalfSquare(keras.layers.Layer):
        def call(self, x):
            return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]

    critic = keras.Sequential([keras.Input((3, 3, 2)), HalfSquare()])
    x = np.random.uniform(-1, 1, (6, 3, 3, 2)).astype("float32")
    norms = np.sqrt((x.reshape(6, -1) ** 2).sum(axis=1))
    expected = np.mean((norms - 1) ** 2)
    assert float(gradient_penalty(critic, tf.constant(x))) == pytest.approx(expected, rel=1e-5)


def _plain_penalty(critic, x):
    """The textbook nested-tape penalty, differentiating the critic's own activations."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = critic(x, training=True)
    norms = tf.norm(tf.reshape(tape.gradient(scores, x), (x.shape[0], -1)), axis=1)
    return tf.reduce_mean(tf.square(norms - 1.0))


def _penalty_and_weight_gradients(penalty, critic, x):
    with tf.GradientTape() as tape:
        value = penalty(critic, x)
    grads = tape.gradient(value, critic.trainable_variables)
    return value, [np.zeros(v.shape) if g is None else np.asarray(g)
                   for g, v in zip(grads, critic.trainable_variables)]


@pytest.mark.parametrize("activation", ["leaky_relu", "relu"])
def test_penalty_with_constant_slopes_equals_the_textbook_penalty(activation):
    keras.utils.set_random_seed(6)
    model = WGANGP(**wgangp_params(critic_activation=activation))
    x = tf.constant(images(16))
    ours, our_grads = _penalty_and_weight_gradients(gradient_penalty, model.critic, x)
    plain, plain_grads = _penalty_and_weight_gradients(_plain_penalty, model.critic, x)
    assert float(ours) == pytest.approx(float(plain), rel=1e-5)
    for a, b in zip(our_grads, plain_grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    assert any(np.abs(g).max() > 0 for g in our_grads)


def _filter_gradient_convolutions(penalty, critic, x):
    def weight_gradients(x):
        with tf.GradientTape() as tape:
            value = penalty(critic, x)
        return tape.gradient(value, critic.trainable_variables)

    graph = tf.function(weight_gradients).get_concrete_function(x).graph
    # Count only what the gradients depend on: the graph also holds dead branches
    # that TensorFlow prunes before running it.
    needed, pending = set(), [t.op for t in graph.outputs]
    while pending:
        op = pending.pop()
        if op not in needed:
            needed.add(op)
            pending.extend(t.op for t in op.inputs)
            pending.extend(op.control_inputs)
    return sum(op.type == "Conv2DBackpropFilter" for op in needed)


def test_penalty_update_does_not_backpropagate_zeros_through_the_forward_pass():
    """One filter gradient per conv layer (the double backward), not two: TensorFlow's
    LeakyReluGrad gradient would otherwise send explicit zeros back through every conv."""
    model = WGANGP(**wgangp_params())
    x = tf.constant(images(4))
    n_convs = sum(isinstance(layer, keras.layers.Conv2D) for layer in model.critic.layers)
    assert _filter_gradient_convolutions(gradient_penalty, model.critic, x) == n_convs
    assert _filter_gradient_convolutions(_plain_penalty, model.critic, x) == 2 * n_convs


def test_penalty_calls_critics_that_are_not_a_chain_as_they_are():
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(2, 3, padding="same")(inputs))
    skip = keras.layers.Concatenate()([hidden, inputs])
    critic = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(skip)))
    x = tf.constant(images(4))
    assert float(gradient_penalty(critic, x)) == pytest.approx(float(_plain_penalty(critic, x)), rel=1e-5)


def test_train_critic_returns_total_real_fake_and_penalty(wgangp):
    total, real, fake, gp = wgangp.train_critic(images(), 16)
    assert total == pytest.approx(real + fake + 10 * gp, rel=1e-5, abs=1e-6)
    assert gp >= 0


def test_penalty_pulls_the_critics_gradient_norm_towards_one():
    keras.utils.set_random_seed(5)
    wgangp = WGANGP(**wgangp_params(critic_learning_rate=0.01))
    first = wgangp.train_critic(images(), 16)[3]
    for _ in range(30):
        last = wgangp.train_critic(images(), 16)[3]
    assert last < first


# -- architecture rules and frozen networks -----------------------------------------------------


def test_critic_refuses_batch_normalisation():
    with pytest.raises(ValueError, match="batch normalisation.*critic_batch_norm_momentum=None"):
        WGANGP(**wgangp_params(critic_batch_norm_momentum=0.9))


def test_constructor_follows_the_books_order():
    names = WGANGP.param_names()
    assert names[-4:] == ["optimiser", "grad_weight", "z_dim", "batch_size"] and len(names) == 21
    celeb = WGANGP(**presets.WGANGP_CELEB.model)
    assert celeb.generator.output_shape == (None, 64, 64, 3)
    assert celeb.critic.output_shape == (None, 1)
    assert celeb.critic.layers[-1].activation.__name__ == "linear"


def test_critic_update_leaves_the_generator_and_its_statistics_alone(wgangp):
    g_before, c_before = snapshot(wgangp.generator), snapshot(wgangp.critic)
    wgangp.train_critic(images(), 16)
    assert not any(changed(g_before, snapshot(wgangp.generator)))
    moved = dict(zip([w.path for w in wgangp.critic.weights], changed(c_before, snapshot(wgangp.critic))))
    # The output bias cancels between -f(real) and +f(fake) and the penalty ignores it: it stays.
    assert moved.pop("critic_output/bias") is False
    assert all(moved.values())


def test_generator_update_leaves_the_critic_alone(wgangp):
    c_before, g_before = snapshot(wgangp.critic), snapshot(wgangp.generator)
    wgangp.train_generator(16)
    assert not any(changed(c_before, snapshot(wgangp.critic)))
    assert any(changed(g_before, snapshot(wgangp.generator)))


def test_train_loop_records_the_books_layout(wgangp, tmp_path):
    wgangp.train(images(), 16, 3, tmp_path, print_every_n_batches=2, n_critic=2)
    assert wgangp.epoch == 3 and all(len(d) == 4 for d in wgangp.d_losses)
    assert all(isinstance(g, float) for g in wgangp.g_losses)
    assert (tmp_path / "images" / "sample_2.png").exists()
