"""Benchmarks of the ``stream`` transport against the SDK and bare HTTP: ``python -m bench [--quick]``.

Each simulator (:mod:`bench.simproc`) and each client under test
(:mod:`bench.clients`) runs in its own process; :mod:`bench.runner` runs every
comparison in one go and :mod:`bench.report` writes the JSON, the Markdown
table and the plot (docs/benchmarks.md).
"""
