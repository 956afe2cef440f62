"""Whether one DuckDB statement over the served file can see two publishes.

The served file's views read `read_parquet('<publishes>/current/<table>/*.parquet')`.
DuckDB binds each of a statement's scans in turn (listing its glob, opening its
first file) and reopens the files by path when it executes them. This script
switches `current` from publish A to publish B at every point between two of those
binds, and between the last bind and execution, and says what the statement saw.

How: the views are made again in a scratch database from the served file's own
SQL, with each path wrapped in a function `tap(label, path)`. DuckDB evaluates a
table function's arguments just before it binds that function, so `tap` runs after
the previous scan was bound and before this one is; when its label is the armed
one it switches `current` as a publish does (a new link renamed over it). A last
`tap('post', '')` in the statement switches after every bind, before execution.

Each statement's answer must be publish A's, publish B's (each computed with
`current` left alone), or an error that a file is gone (the reader retries): never
another answer.

Usage: cut_points.py FILE PUBLISH_A PUBLISH_B   prints one JSON line:
  {"cuts": N, "A": n, "B": n, "error": n, "mixed": [...], "labels": [...]}
"""

import json
import os
import re
import sys

import duckdb

file, pub_a, pub_b = sys.argv[1:4]
publishes = file + ".publishes"
current = os.path.join(publishes, "current")


def switch(target):
    link = os.path.join(publishes, ".current.cut-points.tmp")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(target, link)
    os.rename(link, current)


served = duckdb.connect(file, read_only=True)
views = served.execute(
    "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
).fetchall()
marts = [name for name, _ in views if name != "_stride_sync"]
served.close()

labels = []


def tapped(sql):
    def wrap(match):
        label = f"scan{len(labels)}"
        labels.append(label)
        return f"read_parquet(tap('{label}', {match.group(1)}))"

    return re.sub(r"read_parquet\(('(?:[^']|'')*')\)", wrap, sql)


tapped_views = [tapped(sql) for _, sql in views]
state = {"arm": None}


def tap(label, path):
    if state["arm"] == label:
        state["arm"] = None
        switch(pub_b)
    return path


def connect():
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.create_function("tap", tap, ["VARCHAR", "VARCHAR"], "VARCHAR")
    for sql in tapped_views:
        con.execute(sql)
    return con


POST = " UNION ALL SELECT 'post', NULL FROM range(length(tap('post', '')))"
counts = " UNION ALL ".join(f"SELECT '{m}' AS mart, count(*) AS n FROM {m}" for m in marts)
statements = {
    # The reader's check: every mart's count against the sync table, one statement.
    "counts": "SELECT s.mart, s.row_count, s.publish_id, c.n FROM _stride_sync s "
    f"JOIN ({counts}) c USING (mart)" + POST.replace("'post', NULL", "'post', NULL, NULL, NULL"),
    # Every mart's rows, digested, beside the sync table.
    "rows": " UNION ALL ".join(
        f"SELECT '{m}', md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) "
        f"ORDER BY CAST(t AS VARCHAR)), '')) FROM {m} AS t"
        for m in marts
    )
    + " UNION ALL SELECT 'sync', string_agg(mart || '=' || row_count || '/' || publish_id, ',' "
    "ORDER BY mart) FROM _stride_sync"
    + POST,
}

tally = {"cuts": 0, "A": 0, "B": 0, "error": 0, "mixed": [], "labels": labels}
reference = {}
for name, sql in statements.items():
    for publish in (pub_a, pub_b):
        switch(publish)
        reference[(name, publish)] = sorted(map(str, connect().execute(sql).fetchall()))
    if reference[(name, pub_a)] == reference[(name, pub_b)]:
        print(json.dumps({"problem": f"{name}: the two publishes answer alike"}))
        sys.exit(1)
    for arm in labels + ["post"]:
        switch(pub_a)
        con = connect()
        state["arm"] = arm
        tally["cuts"] += 1
        try:
            got = sorted(map(str, con.execute(sql).fetchall()))
        except duckdb.Error as e:
            text = str(e)
            if "No such file" in text or "No files found" in text:
                tally["error"] += 1
            else:
                tally["mixed"].append({"statement": name, "switch_before": arm, "error": text})
            continue
        finally:
            state["arm"] = None
        if got == reference[(name, pub_a)]:
            tally["A"] += 1
        elif got == reference[(name, pub_b)]:
            tally["B"] += 1
        else:
            tally["mixed"].append({"statement": name, "switch_before": arm, "got": got[:12]})
switch(pub_b)
print(json.dumps(tally))
