"""Commissioners' stress tests: demand scenarios, options (block contracts, new provision),
running them locally or on Dask, and summaries."""
