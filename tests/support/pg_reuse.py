"""Reusing PostgreSQL test databases: creating one from the template and dropping it
costs 0.5-3 s a test (both write the whole database through the WAL); emptying a used
one costs tens of milliseconds.

A database goes back to the pool only when it is again exactly what the template is:
the same relations, types and functions, every table empty but for the rows the
migrations seed. Anything a reset cannot explain (a schema change, a dropped database)
sends it to be dropped instead, so a test never sees another test's leftovers.
"""

from __future__ import annotations

from functools import cache

import psycopg
from psycopg import sql

# What a database holds besides rows: relations (tables, views, sequences, indexes),
# types and functions of the public schema, and any schema a test added.
SHAPE = """
SELECT 'rel:' || c.relkind::text || ':' || c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
UNION ALL
SELECT 'col:' || table_name || '.' || column_name || ':' || data_type
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'type:' || t.typname FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
UNION ALL
SELECT 'func:' || p.proname FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
UNION ALL
SELECT 'schema:' || nspname FROM pg_namespace
  WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('public', 'information_schema')
"""

SEQUENCES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'S'
"""

TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""


def _shape(conn: psycopg.Connection) -> frozenset[str]:
    return frozenset(row[0] for row in conn.execute(SHAPE))


def _tables(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(TABLES)}


@cache
def template_state(url: str) -> tuple[frozenset[str], frozenset[str], dict[str, list[str]]]:
    """The template's shape, its tables, and the rows the migrations seed (the plans), as
    JSON to put back after emptying."""
    with psycopg.connect(url) as conn:
        tables = _tables(conn) - {"alembic_version"}
        seeds = {
            table: [
                row[0]
                for row in conn.execute(
                    sql.SQL("SELECT to_jsonb(t)::text FROM {} t").format(sql.Identifier(table))
                )
            ]
            for table in sorted(tables)
        }
        return _shape(conn), frozenset(tables), {t: rows for t, rows in seeds.items() if rows}


def reset(url: str, template_url: str) -> bool:
    """Empty the database at ``url`` back to the template's state; False if it can't be."""
    shape, tables, seeds = template_state(template_url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            conn.execute("SET lock_timeout = '5s'")
            with conn.transaction():
                for extra in sorted(
                    _tables(conn) - tables - {"alembic_version"}
                ):  # e.g. demo tables a test seeded
                    conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(extra)))
                if _shape(conn) != shape:
                    return False
                # DELETE, not TRUNCATE: a handful of rows, and TRUNCATE makes new files
                # for every table and index. Foreign keys off while emptying (any order).
                conn.execute("SET LOCAL session_replication_role = replica")
                for table in sorted(tables):
                    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
                for (sequence,) in conn.execute(SEQUENCES).fetchall():
                    conn.execute(
                        sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(sequence))
                    )
                for table, rows in seeds.items():
                    for row in rows:
                        conn.execute(
                            sql.SQL(
                                "INSERT INTO {} SELECT * FROM jsonb_populate_record(NULL::{}, %s)"
                            ).format(sql.Identifier(table), sql.Identifier(table)),
                            (row,),
                        )
    except psycopg.Error:
        return False
    return True
