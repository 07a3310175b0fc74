"""DuckDB's side of scripts/bench-analytics: the same transitions (consecutive events
of one person within the 30-minute session gap) and exits (the last event of each
session) over the same CSV, timed with one thread (per core) and with all threads.
Prints one JSON line."""

import json
import resource
import sys
import time

import duckdb

GAP_MS = 30 * 60 * 1000
QUERY = f"""
WITH o AS (
  SELECT person, t, type,
         LAG(t) OVER w AS prev_t, LEAD(t) OVER w AS next_t, LAG(type) OVER w AS prev_type
  FROM read_csv('{{path}}', header = true,
                columns = {{{{'person': 'VARCHAR', 't': 'BIGINT', 'type': 'VARCHAR'}}}})
  WINDOW w AS (PARTITION BY person ORDER BY t)
),
transitions AS (
  SELECT prev_type, type, count(*) AS n FROM o
  WHERE prev_t IS NOT NULL AND t - prev_t <= {GAP_MS} GROUP BY ALL
),
exits AS (
  SELECT type, count(*) AS n FROM o
  WHERE next_t IS NULL OR next_t - t > {GAP_MS} GROUP BY ALL
)
SELECT (SELECT sum(n) FROM transitions), (SELECT count(*) FROM transitions),
       (SELECT sum(n) FROM exits), (SELECT count(*) FROM o)
"""


def run(path, threads):
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    used = con.execute("SELECT current_setting('threads')").fetchone()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    row = con.execute(QUERY.format(path=path)).fetchone()
    return row, time.process_time() - cpu, time.perf_counter() - wall, used


def main():
    path = sys.argv[1]
    (transitions, edges, exits, events), cpu, _, _ = run(path, 1)
    _, _, wall_all, threads = run(path, None)
    print(json.dumps({
        "side": "duckdb", "version": duckdb.__version__, "events": events,
        "transitions": int(transitions), "edges": edges, "exits": int(exits),
        "cpu_s_1_thread": cpu, "events_per_cpu_s_1_thread": events / cpu,
        "wall_s_all_threads": wall_all, "threads": threads,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


main()
