"""The command lines of ``ml``, one module per tool (README.md, "Machine learning").

==============================  ====================  ===================================================
run as                          module                does
==============================  ====================  ===================================================
``python -m ml.train``          ``ml.cli.train``      train a model bundle on a phantom-layout dataset
``python -m ml.infer``          ``ml.cli.infer``      per-slice and case probabilities of one series
``python -m ml.explain``        ``ml.cli.explain``    attention maps and the atlas prediction basis
``python -m ml.atlas``          ``ml.cli.atlas``      build the atlas of a bundle's net
``python -m ml.weights``        ``ml.cli.weights``    fetch or verify ImageNet weights
==============================  ====================  ===================================================

``python -m ml.<tool>`` runs the library module, whose ``__main__`` block hands over to ``ml.cli.<tool>``;
``python -m ml.cli.<tool>`` is the same. What they share (``ml.cli.common``): a bad input ends the run with
one ``error: <file>: <what is wrong; what to do>`` line and status 2, and ``--device`` defaults to CUDA
when torch sees it, else the CPU. ``python -m ml.phantom`` (``ml.phantom.__main__``) stays with its package.
"""
