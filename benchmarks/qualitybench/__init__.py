"""The pieces of `benchmarks/quality.py`: the protocol's systems and settings
(`setting`), its stored results (`store`), how each system trains (`systems`),
and its report and plot (`report`, `plot`)."""
