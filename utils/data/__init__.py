"""The data sets: Quick, Draw! bitmaps and their download, CIFAR, the CelebA stream, the silhouettes.

``utils.loaders`` is the book's front door to them.
"""
