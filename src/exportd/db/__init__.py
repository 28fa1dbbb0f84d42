"""Database access: the engine, the tables and the migrations."""

from exportd.db.engine import Database, create_database

__all__ = ["Database", "create_database"]
