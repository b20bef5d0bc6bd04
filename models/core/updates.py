"""The two updates of a training step, one path for every model: the adversary's and the generator's.

``update_adversary`` draws fakes, shows both batches to the adversary, scores them,
and descends the objective's loss of the scores plus every penalty that reads
them — in one step, or, where the objective's loss is a real term plus a fake
term and no penalty reads both batches, in the book's two steps, real then fake.
``update_generator`` scores the generator's images through the frozen adversary
and descends the objective's generator loss.  What differs between models plugs
in through what the updates ask of the model (``generator_inputs``,
``adversary_outputs``, ``negatives``, ``extra_adversary_terms``...), never by
overriding an update.
"""

import dataclasses

from keras import ops

from models.core import backends
from models.core.combined import keep_statistics

REAL, FAKE = "real", "fake"


@dataclasses.dataclass(frozen=True)
class Side:
    """One batch as the adversary is shown it in an update.

    ``images`` are what it sees (after the hacks' noise and any augmentation),
    ``conditions`` a conditional model's labels (None otherwise), ``labels`` the
    batch's true labels and ``targets`` what the adversary is trained towards (the
    label hacks' targets).  Once scored: ``scores``, ``extras`` (what else the
    adversary's pass gives, such as InfoGAN's reading of the codes) and ``gradient``
    (the input gradient of the logit, where a penalty asked for it).
    """

    images: object
    conditions: object = None
    labels: object = None
    targets: object = None
    scores: object = None
    extras: object = None
    gradient: object = None

    @property
    def inputs(self):
        """What the adversary is called on: the images, or ``[images, labels]``."""
        return self.images if self.conditions is None else [self.images, self.conditions]


@dataclasses.dataclass(frozen=True)
class Scored:
    """What one step of the adversary's update scored: the adversary and each ``Side`` by name."""

    adversary: object
    sides: dict

    @property
    def real(self):
        return self.sides.get(REAL)

    @property
    def fake(self):
        return self.sides.get(FAKE)


class AdversarialUpdates:
    """The updates of ``models.core.adversarial.AdversarialModel`` (a mixin of it)."""

    # -- the adversary -------------------------------------------------------------------

    def update_adversary(self, real, conditions=None):
        """One update of the adversary on the batch ``real`` (and, for a conditional model, its
        labels ``conditions``) and as many fakes → the ``d_loss_names`` values."""
        latent = self.latent_batch(ops.shape(real)[0])
        negatives = self.negatives(real, conditions)
        fake = self.draw_fakes(latent, conditions)
        batches = {REAL: (real, conditions, self.objective.real_label),
                   FAKE: (*self.with_negatives(fake, conditions, negatives), self.objective.fake_label)}
        shown, losses = {}, {}
        for sides in self.adversary_steps():
            for side in sides:
                shown[side] = self.show_adversary(*batches[side])
            penalties = [penalty for penalty in self.penalties
                         if penalty.joins(sides) and (penalty.every == 1 or self.lazy_due is not False)]
            prepared = [penalty.prepare(shown) for penalty in penalties]

            def compute():
                scored = self.score(shown, sides, penalties)
                terms = {**self.objective.adversary_losses(**scored.sides),
                         **self.extra_adversary_terms(scored, latent)}
                values = [penalty.value(scored, ready) for penalty, ready in zip(penalties, prepared)]
                loss = sum(terms.values()) + sum(p.weight * self.lazy_scale(p) * v for p, v in zip(penalties, values))
                return loss, (terms, values, {side: (s.scores, s.extras) for side, s in scored.sides.items()})

            loss, (terms, values, outputs) = self.descend(compute, self.adversary_groups(sides))
            losses.update(terms, d_loss=loss)
            losses.update({p.reported_as: v for p, v in zip(penalties, values) if p.reported_as})
            for side, (scores, extras) in outputs.items():
                shown[side] = dataclasses.replace(shown[side], scores=scores, extras=extras)
            for penalty in penalties:
                penalty.observe(shown)
            if REAL in sides:
                self.observe_real_scores(shown[REAL].scores)
        for penalty in self.penalties:
            penalty.after_update(self.adversary)
        if len(self.adversary_steps()) > 1:  # the book's two steps: d_loss is their mean
            losses["d_loss"] = 0.5 * (losses["d_loss_real"] + losses["d_loss_fake"])
        report = self.objective.adversary_report(losses, shown[REAL], shown[FAKE])
        return ops.stack([*report, *(losses[name] for name in self.d_loss_names[len(report):])])

    def lazy_scale(self, penalty):
        """A lazy penalty's factor in a step where it is due (``fit`` on the schedule): ``every``."""
        return penalty.every if self.lazy_due and penalty.every > 1 else 1

    def adversary_steps(self):
        """The sides each gradient step of the adversary's update scores: the book's two steps,
        real then fake, unless the objective pairs them or a penalty reads both (one step)."""
        together = self.objective.paired or any(len(p.reads) > 1 for p in self.penalties)
        return ((REAL, FAKE),) if together else ((REAL,), (FAKE,))

    def show_adversary(self, images, conditions, label):
        """A batch all labelled ``label`` as the adversary is shown it (a ``Side``): its true labels,
        the targets the GAN hacks make of them, the images with any instance noise and augmentation."""
        n = ops.shape(images)[0]
        labels = ops.full((n, 1), label, dtype="float32")
        targets = self.hacks.targets(label, n, self.random) if self.hacks.active else labels
        return Side(self.adversary_view(images), conditions, labels, targets)

    def score(self, shown, sides, penalties):
        """The adversary's outputs on each of ``sides`` (a ``Scored``); a side whose input gradient a
        penalty reads is scored through ``backends.input_gradient`` (one pass for both)."""
        wanted = {penalty.gradient_of for penalty in penalties}
        scored = {}
        for side in sides:
            shown_side = shown[side]
            if side in wanted:
                def logits_of(images, conditions=shown_side.conditions):
                    scores, extras = self.adversary_outputs(
                        images if conditions is None else [images, conditions])
                    return self.objective.logits(scores), (scores, extras)

                (scores, extras), gradient = backends.input_gradient(logits_of, shown_side.images)
            else:
                (scores, extras), gradient = self.adversary_outputs(shown_side.inputs), None
            scored[side] = dataclasses.replace(shown_side, scores=scores, extras=extras, gradient=gradient)
        return Scored(self.adversary, scored)

    # -- the generator ---------------------------------------------------------------------

    def update_generator(self, latent, conditions=None, real=None):
        """One update of the generator through the frozen adversary, from the latent points
        ``latent`` (and a conditional model's labels) → the ``g_loss_names`` values.  ``real``, a
        real batch, is scored beside the fakes where the objective pairs them."""
        n = ops.shape(latent)[0]
        labels = ops.full((n, 1), self.objective.real_label, dtype="float32")

        def compute():
            images = self.generator(self.generator_inputs(latent, conditions), training=True)
            scores, extras = self.adversary_outputs(self.adversary_input(self.adversary_view(images), conditions))
            real_scores = None
            if self.objective.paired:
                if real is None:
                    raise ValueError(
                        f"loss={self.objective.name!r} trains the generator against a real batch: "
                        "use train() or fit() (train_generator(batch_size) has no real images).")
                real_scores = self.adversary_outputs(self.adversary_input(self.adversary_view(real), conditions))[0]
            terms = {**self.objective.generator_losses(labels, scores, real_scores),
                     **self.extra_generator_terms(latent, extras)}
            return sum(terms.values()), (terms, scores)

        def update():
            return self.descend(compute, [(self.g_optimizer, self.generator.trainable_variables)])[1]

        terms, scores = keep_statistics(self.adversary, update)
        report = self.objective.generator_report(terms, labels, scores)
        return ops.stack([*report, *(terms[name] for name in self.g_loss_names[len(report):])])

    # -- what the updates ask of the model (a subclass says what differs) -------------------

    def latent_batch(self, batch_size):
        """Latent points for ``batch_size`` fakes: N(0, I) of the generator's input size."""
        return self.random.normal((batch_size, self._latent_dim))

    def generator_inputs(self, latent, conditions):
        """What the generator is called on: the latent points, or ``[latent, labels]``."""
        return latent if conditions is None else [latent, conditions]

    def adversary_input(self, images, conditions):
        """What the adversary is called on: the images, or ``[images, labels]``."""
        return images if conditions is None else [images, conditions]

    def adversary_outputs(self, inputs):
        """The adversary's ``(scores, extras)`` on ``inputs`` in training mode: its scores, and what
        else its pass gives (None here)."""
        return self.adversary(inputs, training=True), None

    def negatives(self, real, conditions):
        """Real inputs the adversary must also reject, scored with the fakes (CGAN's mismatched
        pairs, ``(images, labels)``), or None."""
        return None

    def with_negatives(self, fake, conditions, negatives):
        """The fake batch's ``(images, labels)``, with any ``negatives`` after the fakes."""
        if negatives is None:
            return fake, conditions
        images, labels = negatives
        return ops.concatenate([fake, images], 0), ops.concatenate([conditions, labels], 0)

    def extra_adversary_terms(self, scored, latent):
        """Terms beyond the objective's and the penalties' that the adversary's step descends and
        reports (named in ``EXTRA_D_LOSS_NAMES``); none here."""
        return {}

    def extra_generator_terms(self, latent, extras):
        """Terms beyond the objective's that the generator's step descends and reports (named in
        ``EXTRA_G_LOSS_NAMES``); none here."""
        return {}

    def adversary_groups(self, sides):
        """``(optimizer, variables)`` pairs the adversary's step on ``sides`` trains."""
        return [(self.d_optimizer, self.adversary.trainable_variables)]

    def draw_fakes(self, latent, conditions=None):
        """The adversary's fakes: as ``generator.predict``, or, where the objective says so,
        with the generator in training mode (as the book's WGAN-GP critic model) but frozen."""
        inputs = self.generator_inputs(latent, conditions)
        if self.objective.fakes_in_training_mode:
            return keep_statistics(self.generator, lambda: self.generator(inputs, training=True))
        return self.generator(inputs, training=False)

    # -- one optimizer update ------------------------------------------------------------

    def descend(self, compute, groups):
        """Apply the gradient of ``compute()``'s loss to each ``(optimizer, variables)`` group (the
        other networks stay frozen): all gradients first, then the updates, so that no gradient
        sees variables already moved.

        ``compute()`` returns ``(loss, aux)``, the loss to descend and anything else to hand
        back; this returns the same pair.  Each optimizer scales the loss its own way
        (mixed precision).  Keras sums gradients across replicas, so each replica
        contributes its loss divided by the number of replicas: the update is the
        gradient of the global-batch mean.
        """
        replicas = self.replicas

        def scaled():
            loss, aux = compute()
            return [optimizer.scale_loss(loss / replicas) for optimizer, _ in groups], (loss, aux)

        (loss, aux), gradients = backends.gradients(scaled, [variables for _, variables in groups])
        for (optimizer, variables), grads in zip(groups, gradients):
            backends.apply(optimizer, grads, variables)
        # Checked right after the update: later steps (the WGAN's clipping) may hide a NaN.
        self.finite_guard.update_state([loss, *(v for optimizer, variables in groups
                                                for v in (*variables, *optimizer.variables))])
        return loss, aux
