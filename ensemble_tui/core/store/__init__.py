"""The team's state on disk: one SQLite file per repository (WAL), written first."""
