"""IU Core benchmarks: the worker against the database's own limit and against its Python peers.

Run ``python -m bench`` (``--quick`` for a smoke run, ``--large`` for N = 1 000 000);
``python -m bench report`` renders ``BENCHMARKS.md`` from the newest results file.
"""
