"""Times SQL files on the served DuckDB file (views over Parquet) and on a copy of the
same marts as native DuckDB tables (what a publish wrote before the views), in one
DuckDB process per form, warm (each query run once before it is timed), alternating
the two forms, and prints the medians.

Usage: serving_queries.py SERVED_FILE NATIVE_FILE REPEATS SQL_FILE...
"""

import statistics
import sys
import time

import duckdb

served, native, repeats, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]

# The native copy: every view of the served file as a table.
with duckdb.connect(native) as con:
    con.execute(f"ATTACH '{served}' AS served (READ_ONLY)")
    views = [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = 'served' AND NOT internal"
    ).fetchall()]
    for view in views:
        con.execute(f'CREATE OR REPLACE TABLE "{view}" AS SELECT * FROM served."{view}"')
    con.execute("DETACH served")
    con.execute("CHECKPOINT")

forms = {"views over Parquet": served, "native tables": native}
connections = {}
for name, path in forms.items():
    con = duckdb.connect(path, read_only=True)
    con.execute("SET enable_progress_bar = false")
    connections[name] = con

queries = []
for file in files:
    with open(file) as f:
        queries.append((file.rsplit("/", 1)[-1].removesuffix(".sql"), f.read()))

print(f"DuckDB {duckdb.__version__}, {repeats} timed runs each, medians in ms")
print(f"{'query':<42} {'views':>9} {'native':>9} {'ratio':>7}  first run (views / native)")
for label, sql in queries:
    first = {}
    times = {name: [] for name in forms}
    for name, con in connections.items():
        started = time.perf_counter()
        con.execute(sql).fetchall()
        first[name] = (time.perf_counter() - started) * 1000
    for _ in range(repeats):
        for name, con in connections.items():
            started = time.perf_counter()
            con.execute(sql).fetchall()
            times[name].append((time.perf_counter() - started) * 1000)
    v = statistics.median(times["views over Parquet"])
    n = statistics.median(times["native tables"])
    print(f"{label:<42} {v:>9.1f} {n:>9.1f} {v / n:>6.2f}x  "
          f"{first['views over Parquet']:.1f} / {first['native tables']:.1f}")
