"""Plain helpers shared by the test packages (no fixtures: those live in the conftest.py files).

``builders`` (tiny checkpoints, generated images), ``imagegen`` (gradients, encodings, unprivileged runs),
``data_helpers`` (a miniature hub dataset and server), ``serve_helpers``, ``scale_helpers``, ``train`` (a labelled
manifest of generated images) and ``paths`` (the repository, its configs and the shared data).
"""
