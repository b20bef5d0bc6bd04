"""The book GAN's training step written by hand for JAX: the yardstick for the shared step.

This is the step Keras' guides write for JAX: each network's ``stateless_call``, each
optimizer's ``stateless_apply``, ``jax.value_and_grad``, and every value passed in and
out explicitly.  It makes the updates ``AdversarialModel``'s step makes for the book's
GAN (binary cross-entropy; the discriminator on a real batch, then on a fake one; the
generator through the frozen discriminator), from the same random draws, and nothing
else: no loss means, no check for non-finite values, no hacks or recipe.

``gdl-bench --backends jax`` times it against the model's own step, both jitted, in
turns (:func:`step_seconds`): the price of writing the step once with ``keras.ops`` for
three backends, against one ``train_step`` per backend.
"""

import time

import numpy as np

__all__ = ["handwritten_step", "initial_state", "step_seconds", "supports", "trainer_state"]

ROUNDS = 5


def supports(model, n_critic=1):
    """Whether ``model`` trains as the hand-written step does, with ``n_critic`` adversary updates
    per step: the book's GAN (one update), no hacks, no recipe."""
    return (getattr(model.objective, "name", None) == "gan" and model.CONTROL is None
            and n_critic == 1 and not model.hacks.active and model.recipe == type(model.recipe)()
            and model.dtype_policy.name == "float32")


def initial_state(model):
    """The values the hand-written step threads: both networks' variables, both optimizers'
    variables, and the seed its noise is drawn from (the model's, so the draws are the same)."""
    generator, discriminator = model.generator, model.adversary
    return {
        "g_trainable": [v.value for v in generator.trainable_variables],
        "g_non_trainable": [v.value for v in generator.non_trainable_variables],
        "d_trainable": [v.value for v in discriminator.trainable_variables],
        "d_non_trainable": [v.value for v in discriminator.non_trainable_variables],
        "d_optimizer": [v.value for v in model.d_optimizer.variables],
        "g_optimizer": [v.value for v in model.g_optimizer.variables],
        "seed": model.random.seed_generator.state.value,
    }


def trainer_state(model):
    """The values Keras' JAX trainer passes the model's own ``train_step(state, data)``: its
    trainable, non-trainable, optimizer and metric variables', in that order."""
    return tuple([v.value for v in group] for group in (
        model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
        model.metrics_variables))


def handwritten_step(model):
    """``step(state, real) → (losses, state)``, pure, for ``jax.jit``: one update of the
    discriminator on ``real``, one on fakes, one of the generator; ``losses`` are
    ``[d_loss_real, d_loss_fake, g_loss]``."""
    import jax
    import jax.numpy as jnp
    import keras

    if not supports(model):
        raise ValueError("handwritten_step writes the book's GAN step only (binary cross-entropy, "
                         "n_critic 1, float32, no hacks or recipe).")
    generator, discriminator = model.generator, model.adversary
    d_optimizer, g_optimizer = model.d_optimizer, model.g_optimizer
    latent = int(generator.inputs[0].shape[-1])
    # Frozen means its weights and batch statistics stay; its dropout seeds move on, as in the
    # model's step (they are the non-trainable variables that are not weights).
    weights = {id(w) for w in discriminator.non_trainable_weights}
    moves_on = [id(v) not in weights for v in discriminator.non_trainable_variables]

    def cross_entropy(label, scores):
        return jnp.mean(keras.losses.binary_crossentropy(jnp.full(scores.shape, label), scores))

    def draw_noise(seed, n):
        return jax.random.normal(seed, (n, latent)), seed + jnp.array([0, 1], dtype=seed.dtype)

    def discriminator_update(state, images, label):
        def loss_of(trainable):
            scores, non_trainable = discriminator.stateless_call(
                trainable, state["d_non_trainable"], images, training=True)
            return cross_entropy(label, scores), non_trainable

        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(state["d_trainable"])
        trainable, slots = d_optimizer.stateless_apply(state["d_optimizer"], grads, state["d_trainable"])
        return loss, dict(state, d_trainable=trainable, d_non_trainable=non_trainable, d_optimizer=slots)

    def generator_update(state, noise):
        def loss_of(trainable):
            images, g_non_trainable = generator.stateless_call(
                trainable, state["g_non_trainable"], noise, training=True)
            scores, d_non_trainable = discriminator.stateless_call(
                state["d_trainable"], state["d_non_trainable"], images, training=True)
            return cross_entropy(1.0, scores), (g_non_trainable, d_non_trainable)

        gradient = jax.value_and_grad(loss_of, has_aux=True)
        (loss, (non_trainable, d_new)), grads = gradient(state["g_trainable"])
        trainable, slots = g_optimizer.stateless_apply(state["g_optimizer"], grads, state["g_trainable"])
        d_non_trainable = [new if moves else old
                           for new, old, moves in zip(d_new, state["d_non_trainable"], moves_on)]
        return loss, dict(state, g_trainable=trainable, g_non_trainable=non_trainable, g_optimizer=slots,
                          d_non_trainable=d_non_trainable)

    def step(state, real):
        n = real.shape[0]
        noise, seed = draw_noise(state["seed"], n)
        fakes, _ = generator.stateless_call(state["g_trainable"], state["g_non_trainable"], noise,
                                            training=False)
        d_loss_real, state = discriminator_update(state, real, 1.0)
        d_loss_fake, state = discriminator_update(state, fakes, 0.0)
        noise, seed = draw_noise(seed, n)
        g_loss, state = generator_update(dict(state, seed=seed), noise)
        return jnp.stack([d_loss_real, d_loss_fake, g_loss]), state

    return step


def step_seconds(chapter, warmup=2, steps=3, rounds=ROUNDS):
    """Seconds per step on JAX of the chapter preset's model: ``{"ours": …, "handwritten": …}``,
    each jitted (compilation and ``warmup`` steps excluded), timed ``steps`` at a time in
    turns for ``rounds`` rounds; the median of the rounds.  ``{"note": why}`` for a preset
    the hand-written step does not cover."""
    import statistics

    import jax
    import keras

    from utils.chapters import CHAPTERS

    if keras.backend.backend() != "jax":
        raise RuntimeError("step_seconds times JAX steps: run it with KERAS_BACKEND=jax.")
    preset = CHAPTERS[chapter].preset
    keras.utils.set_random_seed(0)
    model = CHAPTERS[chapter].model_class(**preset.model)
    if not supports(model, preset.train_options.get("n_critic", 1)):
        return {"note": "no hand-written step: it is written for the book's GAN only"}
    real = jax.numpy.asarray(np.random.uniform(-1, 1, (preset.batch_size, *preset.input_dim)), "float32")

    ours = jax.jit(model.train_step, donate_argnums=0)
    handwritten = jax.jit(handwritten_step(model), donate_argnums=0)
    # Copies: each step donates its state's buffers, as Keras' JAX trainer does.
    states = {"ours": jax.tree.map(jax.numpy.copy, trainer_state(model)),
              "handwritten": jax.tree.map(jax.numpy.copy, initial_state(model))}
    steps_of = {"ours": ours, "handwritten": handwritten}

    def run(name, n):
        for _ in range(n):
            result, states[name] = steps_of[name](states[name], real)
        jax.block_until_ready(result)

    for name in steps_of:
        run(name, warmup)
    readings = {name: [] for name in steps_of}
    for _ in range(rounds):
        for name in steps_of:
            start = time.perf_counter()
            run(name, steps)
            readings[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(values) for name, values in readings.items()}
