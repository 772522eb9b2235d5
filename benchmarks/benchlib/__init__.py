"""Parts of ``benchmarks/bench.py``: the local site, the helper processes, the variants, reports."""
