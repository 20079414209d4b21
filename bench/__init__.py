"""Benchmarks: the repository against plain SQLAlchemy Core and the raw driver, same run."""
