"""What an objective is: the losses a GAN is trained with, as pure functions of the adversary's scores.

An objective says how the adversary (the discriminator or critic) scores images
and is scored, how the generator is scored through it, and what each update
reports.  It never calls the model: the adversary update (``models.core.updates``)
scores the batches and asks it for the loss of those scores.  Terms that are
not a loss of scores (a gradient penalty, weight clipping) are penalties
(``models.penalties``); a named loss may come with some (``penalties()``: the
book's WGAN clips, its WGAN-GP penalises the gradient).
"""

from keras import ops


class Objective:
    """A loss of the adversary's scores, and what it needs of the update.

    Attributes:
        name: what ``loss=`` and ``--loss`` call it.
        summary: one line for the commands' help (``utils.chapters`` reads it from the source,
            so that ``--help`` answers without starting TensorFlow).
        output_activation: the adversary's last activation ('sigmoid' or None for a score).
        binary_targets: trained on 0/1 targets, so the label hacks (smoothing, flips) apply.
        real_label, fake_label: the targets of a real and of a generated batch.
        paired: its loss reads the real and the generated scores together (a relativistic
            loss), so the adversary's update is one step; otherwise the loss is a real term
            plus a fake term, and the update keeps the book's two steps, real then fake.
        estimates_distance: the adversary's loss estimates a distance between the real and
            the generated images (the chapter's claim for the Wasserstein critic), so its
            curve should follow sample quality.
        fakes_in_training_mode: the adversary's update draws its fakes with the generator in
            training mode (its batch-norm statistics kept), as the book's WGAN-GP critic model
            did; otherwise as ``generator.predict``.
        d_loss_names, g_loss_names: what the adversary's and the generator's updates report,
            in order (the book's ``d_losses`` and ``g_losses`` columns; penalties add theirs).
        default_n_critic: adversary updates per generator update where none is given.
    """

    name = ""
    summary = ""
    output_activation = None
    binary_targets = False
    real_label, fake_label = 1.0, -1.0
    paired = False
    estimates_distance = False
    fakes_in_training_mode = False
    d_loss_names = ("d_loss", "d_loss_real", "d_loss_fake")
    g_loss_names = ("g_loss",)
    default_n_critic = 1
    signal_description = "discriminator loss d_loss"

    # -- the losses ----------------------------------------------------------------------

    def adversary_loss(self, labels, scores):
        """Per-sample loss of the adversary on a batch labelled ``labels`` (a Keras loss)."""
        raise NotImplementedError

    def generator_loss(self, labels, scores):
        """Per-sample loss of the generator, through the frozen adversary, on its images'
        ``scores``; ``labels`` hold ``real_label`` (the combined model's targets, a Keras loss)."""
        return self.adversary_loss(labels, scores)

    def adversary_losses(self, real=None, fake=None):
        """The adversary's loss terms on the sides one step scores (each a ``Side`` with
        ``targets`` and ``scores``): ``{"d_loss_real": …, "d_loss_fake": …}`` for those given."""
        losses = {}
        for key, side in (("d_loss_real", real), ("d_loss_fake", fake)):
            if side is not None:
                losses[key] = ops.mean(self.adversary_loss(side.targets, side.scores))
        return losses

    def generator_losses(self, labels, fake_scores, real_scores=None):
        """The generator's loss of its images' scores (``real_scores``: the real batch's, which a
        paired loss reads) → ``{"g_loss": …}``."""
        return {"g_loss": ops.mean(self.generator_loss(labels, fake_scores))}

    def logits(self, scores):
        """The adversary's scores as logits, the quantity whose input gradient R1 and R2 measure:
        the scores themselves here (no output activation)."""
        return scores

    def adversary_metrics(self):
        """Keras metrics of the adversary's and combined model's ``train_on_batch``."""
        return None

    def penalties(self):
        """The penalties that come with this named loss (``models.penalties``); none here."""
        return ()

    # -- what each update reports ----------------------------------------------------------

    def adversary_report(self, losses, real, fake):
        """The ``d_loss_names`` values of one adversary update: ``losses`` holds ``d_loss`` (what
        the update descended) and the terms of ``adversary_losses``; ``real`` and ``fake`` are
        the ``Side``s it scored (true labels and scores, for accuracies)."""
        return [losses[name] for name in self.d_loss_names]

    def generator_report(self, losses, labels, scores):
        """The ``g_loss_names`` values of one generator update."""
        return [losses[name] for name in self.g_loss_names]

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

    # -- checks ---------------------------------------------------------------------------

    def check_hacks(self, model_name, hacks):
        """Refuse GAN hacks that mean nothing for this loss."""
        if not self.binary_targets and (hacks.label_smoothing or hacks.label_flip):
            raise ValueError(
                f"{model_name} with loss={self.name!r} trains its adversary on scores, not 0/1 "
                "targets, so label_smoothing and label_flip do not apply to it; use instance_noise, "
                "or loss='gan'.")
