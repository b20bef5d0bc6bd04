"""The Keras model every chapter model shares: the adversarial step ``fit()`` runs
(``adversarial``, its updates in ``updates``), the book's surface (``book``), the frozen combined
model, and beside them the execution on each backend (``backends``, ``replicas``), the guards and
the draws inside a step."""
