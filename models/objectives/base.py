"""What an objective is: everything that differs between the losses a GAN can be trained with.

An objective says how the adversary (the discriminator or critic) scores images
and is scored, how the generator is scored through it, and what each update
reports.  The models (``models.GAN`` and the rest) hold one and ask it; they
never branch on which loss they train with.
"""

from keras import ops


class Objective:
    """The book's two-update recipe, parametrised by a loss.

    Attributes:
        name: what ``loss=`` and ``--loss`` call it.
        output_activation: the adversary's last activation ('sigmoid' or None for a score).
        binary_targets: trained on 0/1 targets, so the label hacks (smoothing, flips) apply.
        real_label, fake_label: the targets of a real and of a generated batch.
        estimates_distance: the adversary's loss estimates a distance between the real and
            the generated images (the chapter's claim for the Wasserstein critic), so its
            curve should follow sample quality.
        fakes_in_training_mode: the adversary's update draws its fakes with the generator in
            training mode (its batch-norm statistics kept), as the book's WGAN-GP critic model
            did; otherwise as ``generator.predict``.
        d_loss_names, g_loss_names: what the adversary's and the generator's updates report,
            in order (the book's ``d_losses`` and ``g_losses`` columns).
        default_n_critic: adversary updates per generator update where none is given.
    """

    name = ""
    output_activation = None
    binary_targets = False
    real_label, fake_label = 1.0, -1.0
    estimates_distance = False
    fakes_in_training_mode = False
    d_loss_names = ("d_loss", "d_loss_real", "d_loss_fake")
    g_loss_names = ("g_loss",)
    default_n_critic = 1  # adversary updates per generator update, where the caller says none
    penalises_gradient = False  # the adversary's loss holds its input gradient (a double backward)
    layers = ()  # Keras layers the objective draws with (their random state is the model's to carry)

    # -- the losses ----------------------------------------------------------------------

    def adversary_loss(self, labels, scores):
        """Per-sample loss of the adversary on a batch labelled ``labels`` (a Keras loss)."""
        raise NotImplementedError

    def generator_loss(self, labels, scores):
        """Per-sample loss of the generator, through the frozen adversary, on its images'
        ``scores``; ``labels`` hold ``real_label`` (the combined model's targets, a Keras loss)."""
        return self.adversary_loss(labels, scores)

    def logits(self, scores):
        """The adversary's scores as logits, the quantity whose input gradient the R1 penalty
        measures: the scores themselves here (no output activation)."""
        return scores

    def adversary_metrics(self):
        """Keras metrics of the adversary's and combined model's ``train_on_batch``."""
        return None

    # -- the updates ---------------------------------------------------------------------

    def critic_update(self, model, real, fake, mismatched=None):
        """The adversary's step on a real and a fake batch → its losses (``d_loss_names``).

        As the book: one update on the real batch, one on the fake batch, then
        ``after_critic_update``.  ``real`` and ``fake`` are images, or a conditional model's
        ``[images, labels]``; ``mismatched`` (real images with wrong labels) joins the fakes.
        """
        if mismatched is not None:
            fake = [ops.concatenate([fake[0], mismatched[0]], 0), ops.concatenate([fake[1], mismatched[1]], 0)]
        real_update = model.fit_critic(real, self.real_label)
        fake_update = model.fit_critic(fake, self.fake_label)
        self.after_critic_update(model)
        return self.critic_report(real_update, fake_update)

    def after_critic_update(self, model):
        """What follows each of the adversary's steps (the WGAN's weight clipping)."""

    def critic_report(self, real_update, fake_update):
        """``(loss, labels, scores)`` of the real and fake updates → the ``d_loss_names`` values."""
        loss_real, loss_fake = real_update[0], fake_update[0]
        return ops.stack([0.5 * (loss_real + loss_fake), loss_real, loss_fake])

    def generator_report(self, loss, labels, scores):
        """The generator update's loss (and what goes with it) → the ``g_loss_names`` values."""
        return ops.reshape(loss, (1,))

    # -- what the losses say -------------------------------------------------------------

    def training_signal(self, d_losses):
        """The loss series whose curve the chapter compares with sample quality, per step, from a
        ``d_losses`` table (one row per step, ``d_loss_names`` columns): where the loss estimates
        a distance, that estimate, −(d_loss_real + d_loss_fake), which should fall as the samples
        improve; otherwise the adversary's loss."""
        if self.estimates_distance:
            column = self.d_loss_names.index
            return -(d_losses[:, column("d_loss_real")] + d_losses[:, column("d_loss_fake")])
        return d_losses[:, 0]

    signal_description = "discriminator loss d_loss"

    # -- checks ---------------------------------------------------------------------------

    def check_arguments(self, model_name, params, adversary):
        """Refuse book arguments this loss cannot train with (``adversary``: their prefix)."""

    def check_hacks(self, model_name, hacks):
        """Refuse GAN hacks that mean nothing for this loss."""
        if not self.binary_targets and (hacks.label_smoothing or hacks.label_flip):
            raise ValueError(
                f"{model_name} with loss={self.name!r} trains its adversary on scores, not 0/1 "
                "targets, so label_smoothing and label_flip do not apply to it; use instance_noise, "
                "or loss='gan'.")
