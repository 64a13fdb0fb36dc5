"""The store (contract 3): table definitions, engines for DuckDB and SQLAlchemy URLs, checkpoints."""
