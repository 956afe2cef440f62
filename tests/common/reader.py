"""A long-running reader of the served DuckDB file, as Metabase is one.

Configured with one path, it keeps one connection open for its whole life (a pool's
idle connection) and runs every query on a new connection to the same path, which
DuckDB's instance cache serves from the instance the kept connection holds (as
duckdb_jdbc's does). Commands, one per line on stdin:

  look     prints `look <json>`: the sync table's versions and publish, and per mart
           its row count and a digest of its rows, and whether one query saw every
           mart's row count equal to the sync table's
  hammer   starts a thread that runs that one-query consistency check on new
           connections until `stop`, which prints `hammered <json>`: how many
           queries saw one publish, how many saw two, and the errors
Usage: reader.py FILE MART,MART,...
"""

import json
import sys
import threading
import time

import duckdb

path = sys.argv[1]
marts = sys.argv[2].split(",")


def connect():
    con = duckdb.connect(path, read_only=True)
    # Its progress bar would print on stdout, among the answers.
    con.execute("SET enable_progress_bar = false")
    return con


counts = " UNION ALL ".join(f"SELECT '{m}' AS mart, count(*) AS n FROM {m}" for m in marts)
# One statement, so one binding of every view: the marts it reads and the sync table
# that says what they should hold.
one_publish = (
    "SELECT count(DISTINCT s.publish_id) = 1 AND bool_and(s.row_count = c.n) "
    f"AND count(*) = {len(marts)} FROM _stride_sync s JOIN ({counts}) c USING (mart)"
)


def look():
    con = connect()
    try:
        versions = dict(con.execute("SELECT mart, delta_version FROM _stride_sync").fetchall())
        publish = con.execute("SELECT DISTINCT publish_id FROM _stride_sync").fetchall()
        digests = {}
        for mart in marts:
            n, digest = con.execute(
                "SELECT count(*), md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) "
                f"ORDER BY CAST(t AS VARCHAR)), '')) FROM {mart} AS t"
            ).fetchone()
            digests[mart] = [n, digest]
        consistent = con.execute(one_publish).fetchone()[0]
        return {
            "versions": versions,
            "publishes": [p[0] for p in publish],
            "marts": digests,
            "one_publish": consistent,
        }
    finally:
        con.close()


class Hammer(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.result = {"one_publish": 0, "mixed": 0, "errors": []}

    def run(self):
        while not self.stopping.is_set():
            con = connect()
            try:
                if con.execute(one_publish).fetchone()[0]:
                    self.result["one_publish"] += 1
                else:
                    self.result["mixed"] += 1
            except duckdb.Error as e:
                self.result["errors"].append(str(e).splitlines()[0])
            finally:
                con.close()
            time.sleep(0.01)


kept = connect()
kept.execute("SELECT count(*) FROM _stride_sync").fetchone()
print("ready", flush=True)
hammer = None
for line in sys.stdin:
    command = line.strip()
    if command == "look":
        print("look", json.dumps(look()), flush=True)
    elif command == "hammer":
        hammer = Hammer()
        hammer.start()
        print("hammering", flush=True)
    elif command == "stop" and hammer is not None:
        hammer.stopping.set()
        hammer.join()
        print("hammered", json.dumps(hammer.result), flush=True)
        hammer = None
kept.close()
