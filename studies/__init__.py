"""Experiment drivers' shared helpers: not part of the installed ``segmenter3d`` package.

They run the repository's own tools as subprocesses, so they find the repository from their
own location (``experiments.ROOT``), never from the installed package.
"""
