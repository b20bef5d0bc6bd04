"""The Keras core of every model: the adversarial step ``fit()`` runs (``adversarial``), the book's
surface as its subclass (``book``), the frozen combined model, the book's networks, the batches
and the checks of what enters."""
