#!/usr/bin/env python3
"""An independent implementation of the vigil indicators in DuckDB.

It reads a vigil store (catalog.json and the Parquet files it names), the
reference data and the calendar, and prints every indicator's numerator and
denominator per province for one period, as CSV:

    period,province_code,indicator,numerator,denominator

It shares no code with vigil: the calendar functions are joins on a table
of days with a running working-day ordinal (no per-row functions), the
current view of each table is a QUALIFY over the versions, and every
indicator is written from METHODOLOGY.md directly. Limits are the
methodology's defaults (the rules file is not read).

    pip install duckdb
    python3 bench/duckdb_indicators.py --store STORE --period 2026-Q3 [--as-of 2026-10-31]
"""

import argparse
import calendar as pycal
import csv
import datetime as dt
import json
import os
import re
import sys
import time

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COVERAGE_FROM = dt.date(2022, 1, 1)
INDICATORS = [
    "r1_head_reception", "r2_head_share",
    "d1_acceptance_on_time", "d2_settlement_on_time", "d3_vssid_response", "d4_backlog_health",
    "e1_entry_coverage", "e2_entry_timeliness", "e3_record_completeness",
    "e4_account_coverage", "e5_account_hygiene",
    "x1_repeat_requests", "x2_recovery_rate",
]
KEYS = {
    "units": "unit_code", "reception_sessions": "session_id", "cases": "case_id",
    "case_events": "event_id", "officials": "assignment_id", "inspections": "inspection_id",
}
DAY = 8 * 3600  # working seconds in a day: 08:00-12:00 and 13:00-17:00


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_period(s):
    m = re.fullmatch(r"(\d{4})-Q([1-4])", s)
    if m:
        y, q = int(m[1]), int(m[2])
        first = 3 * (q - 1) + 1
        return dt.date(y, first, 1), dt.date(y, first + 2, pycal.monthrange(y, first + 2)[1])
    m = re.fullmatch(r"(\d{4})-(\d{2})", s)
    if m and 1 <= int(m[2]) <= 12:
        y, mo = int(m[1]), int(m[2])
        return dt.date(y, mo, 1), dt.date(y, mo, pycal.monthrange(y, mo)[1])
    m = re.fullmatch(r"(\d{4})", s)
    if m:
        return dt.date(int(m[1]), 1, 1), dt.date(int(m[1]), 12, 31)
    fail(f"'{s}' is not a period (2026-03, 2026-Q1 or 2026)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--period", required=True)
    ap.add_argument("--as-of")
    ap.add_argument("--reference", default=os.path.join(ROOT, "reference"))
    ap.add_argument("--timing", action="store_true", help="print the wall time to stderr")
    a = ap.parse_args()
    started = time.time()

    ps, pe = parse_period(a.period)
    with open(os.path.join(a.store, "catalog.json")) as f:
        catalog = json.load(f)
    wanted = dt.date.fromisoformat(a.as_of) if a.as_of else None
    extracts = [e for e in catalog["extracts"]
                if wanted is None or dt.date.fromisoformat(e["extract_date"]) <= wanted]
    if not extracts:
        fail("no extract on or before the as-of date")
    as_of = max(dt.date.fromisoformat(e["extract_date"]) for e in extracts)
    if ps < COVERAGE_FROM:
        fail(f"period {a.period} starts before {COVERAGE_FROM}")
    if ps > as_of:
        fail(f"period {a.period} starts after the as-of date {as_of}")
    pe2 = min(pe, as_of)

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    for table, key in KEYS.items():
        files = [os.path.join(a.store, "extracts", e["dir"], f"{table}.parquet") for e in extracts]
        files = [f for f in files if os.path.exists(f)]
        if not files:
            fail(f"the store has no {table}")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r}, union_by_name = true) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY extract_date DESC) = 1")

    cal_csv = os.path.join(a.reference, "calendar.csv")
    con.execute(f"""CREATE TABLE cal AS
        WITH listed AS (SELECT CAST(date AS DATE) AS d, kind FROM read_csv('{cal_csv}', header = true, all_varchar = true)),
        days AS (SELECT CAST(t AS DATE) AS d FROM range(TIMESTAMP '2000-01-01', TIMESTAMP '2041-01-01', INTERVAL 1 DAY) r(t)),
        flags AS (SELECT days.d, CASE WHEN listed.kind = 'working_day' THEN true
                                      WHEN listed.kind = 'holiday' THEN false
                                      ELSE isodow(days.d) <= 5 END AS wd
                  FROM days LEFT JOIN listed USING (d))
        SELECT d, wd, CAST(sum(wd::INTEGER) OVER (ORDER BY d) AS INTEGER) AS ord FROM flags""")
    con.execute("CREATE TABLE wdays AS SELECT ord, d FROM cal WHERE wd")
    con.execute(f"""CREATE TABLE lineage AS SELECT * FROM read_csv('{os.path.join(a.reference, "province_lineage.csv")}',
                    header = true, all_varchar = true)""")
    con.execute(f"""CREATE TABLE provinces AS SELECT * FROM read_csv('{os.path.join(a.reference, "provinces.csv")}',
                    header = true, all_varchar = true)""")
    con.execute(f"CREATE TABLE p AS SELECT DATE '{ps}' AS ps, DATE '{pe2}' AS pe")

    # Units with their current province.
    con.execute("""CREATE TABLE up AS
        SELECT u.unit_code, u.level, u.valid_from, u.valid_to,
               CASE WHEN u.level = 'central' THEN NULL
                    WHEN u.valid_from < DATE '2025-07-01' THEN l.new_code
                    ELSE u.province_code END AS prov
        FROM units u LEFT JOIN lineage l ON l.old_code = u.province_code""")

    # Per case: completions and the first acceptance (reopened ignored).
    con.execute("""CREATE TABLE cs AS
        WITH ev AS (SELECT * FROM case_events WHERE event_type <> 'reopened'),
        agg AS (
            SELECT case_id,
                min(occurred_at) FILTER (WHERE event_type IN ('accepted','transferred','withdrawn')) AS acc_done,
                min(occurred_at) FILTER (WHERE event_type IN ('responded','settled','transferred','withdrawn')) AS resp_done,
                min(occurred_at) FILTER (WHERE event_type IN ('settled','withdrawn')) AS set_done,
                min(occurred_at) FILTER (WHERE event_type IN ('responded','settled','withdrawn')) AS vss_done,
                min(occurred_at) FILTER (WHERE event_type = 'accepted') AS first_acc
            FROM ev GROUP BY case_id),
        ext AS (
            SELECT e.case_id, count(*) AS n FROM ev e JOIN agg g USING (case_id)
            WHERE e.event_type = 'extended'
              AND (g.set_done IS NULL OR e.occurred_at::DATE <= g.set_done::DATE)
            GROUP BY e.case_id)
        SELECT c.*, up.prov, agg.acc_done, agg.resp_done, agg.set_done, agg.vss_done,
               agg.first_acc::DATE AS acc_date, coalesce(ext.n, 0) AS n_ext
        FROM cases c JOIN up USING (unit_code)
        LEFT JOIN agg USING (case_id) LEFT JOIN ext USING (case_id)""")

    # Day stages: (case, prov, kind, start, deadline, done).
    con.execute("""CREATE TABLE st AS
        WITH base AS (
            SELECT case_id, prov, 'acc' AS kind, received_at::DATE AS start,
                   CASE WHEN case_type = 'complaint' THEN 10 WHEN case_type = 'denunciation' THEN 7 ELSE 10 END AS wd_n,
                   NULL::INTEGER AS cal_n,
                   CASE WHEN case_type IN ('complaint','denunciation') THEN acc_done ELSE resp_done END AS done
            FROM cs
            UNION ALL
            SELECT case_id, prov, 'set', acc_date, NULL,
                   CASE WHEN case_type = 'denunciation'
                        THEN 30 + 30 * least(n_ext, CASE complexity WHEN 'normal' THEN 0 WHEN 'complex' THEN 1 ELSE 2 END)
                        ELSE CASE
                            WHEN "round" = 1 AND remote_area AND complexity <> 'normal' THEN 60
                            WHEN "round" = 1 AND (remote_area OR complexity <> 'normal') THEN 45
                            WHEN "round" = 1 THEN 30
                            WHEN remote_area AND complexity <> 'normal' THEN 70
                            WHEN remote_area OR complexity <> 'normal' THEN 60
                            ELSE 45 END
                   END,
                   set_done
            FROM cs WHERE case_type IN ('complaint','denunciation') AND acc_date IS NOT NULL),
        wd_deadline AS (
            SELECT b.*, w.d AS deadline FROM base b
            JOIN cal c ON c.d = b.start
            JOIN wdays w ON w.ord = c.ord + b.wd_n
            WHERE b.wd_n IS NOT NULL),
        cal_deadline AS (
            SELECT b.*, CASE WHEN c.wd THEN c.d ELSE w.d END AS deadline FROM base b
            JOIN cal c ON c.d = b.start + b.cal_n::INTEGER
            JOIN wdays w ON w.ord = c.ord + 1
            WHERE b.cal_n IS NOT NULL)
        SELECT case_id, prov, kind, start, deadline, done,
               coalesce(done::DATE <= deadline, false) AS ok
        FROM (SELECT * FROM wd_deadline UNION ALL SELECT * FROM cal_deadline)""")

    # VssID: position of received_at in working seconds, plus one hour.
    con.execute(f"""CREATE TABLE vs AS
        WITH pos AS (
            SELECT cs.case_id, cs.prov, cs.vss_done,
                   (c.ord - c.wd::INTEGER) * {DAY}
                   + CASE WHEN c.wd THEN
                        least(greatest(sec - 8 * 3600, 0), 4 * 3600)
                      + least(greatest(sec - 13 * 3600, 0), 4 * 3600)
                     ELSE 0 END + 3600 AS target
            FROM (SELECT *, hour(received_at) * 3600 + minute(received_at) * 60 + second(received_at) AS sec
                  FROM cs WHERE channel = 'vssid') cs
            JOIN cal c ON c.d = cs.received_at::DATE),
        split AS (
            SELECT *, CAST(ceil(target / {DAY}) AS INTEGER) AS j,
                   target - (CAST(ceil(target / {DAY}) AS INTEGER) - 1) * {DAY} AS r FROM pos)
        SELECT s.case_id, s.prov, s.vss_done,
               w.d + CASE WHEN s.r <= 4 * 3600 THEN INTERVAL 8 HOUR + to_seconds(s.r::BIGINT)
                          ELSE INTERVAL 13 HOUR + to_seconds((s.r - 4 * 3600)::BIGINT) END AS deadline_at
        FROM split s JOIN wdays w ON w.ord = s.j""")

    # Records to enter in the national database.
    con.execute("""CREATE TABLE rec AS
        SELECT s.unit_code, s.session_date AS d, s.db_entered_at AS entered FROM reception_sessions s
        UNION ALL
        SELECT c.unit_code, e.occurred_at::DATE, e.db_entered_at
        FROM case_events e JOIN cases c USING (case_id)
        WHERE e.event_type IN ('accepted','extended','transferred','settled')""")

    counts = {}

    def collect(name, sql):
        for prov, num, den in con.execute(sql).fetchall():
            if prov is not None:
                counts[(prov, name)] = (int(num or 0), int(den or 0))

    collect("r1_head_reception", """
        WITH months AS (
            SELECT m::DATE AS ms, (m + INTERVAL 1 MONTH - INTERVAL 1 DAY)::DATE AS me
            FROM p, range(p.ps::TIMESTAMP, p.pe::TIMESTAMP + INTERVAL 1 DAY, INTERVAL 1 MONTH) t(m)),
        um AS (
            SELECT up.unit_code, up.prov, months.ms FROM up, months, p
            WHERE up.level IN ('province','local') AND months.me <= p.pe
              AND up.valid_from <= months.ms AND (up.valid_to IS NULL OR up.valid_to >= months.me)),
        hit AS (SELECT DISTINCT unit_code, date_trunc('month', session_date)::DATE AS ms
                FROM reception_sessions WHERE kind = 'periodic' AND host_role = 'head')
        SELECT um.prov, count(hit.unit_code), count(*) FROM um LEFT JOIN hit USING (unit_code, ms)
        GROUP BY um.prov""")
    collect("r2_head_share", """
        SELECT up.prov, count(*) FILTER (WHERE host_role = 'head'), count(*)
        FROM reception_sessions s JOIN up USING (unit_code), p
        WHERE s.session_date BETWEEN p.ps AND p.pe GROUP BY up.prov""")
    collect("d1_acceptance_on_time", """
        SELECT prov, count(*) FILTER (WHERE ok), count(*) FROM st, p
        WHERE kind = 'acc' AND deadline BETWEEN p.ps AND p.pe GROUP BY prov""")
    collect("d2_settlement_on_time", """
        SELECT prov, count(*) FILTER (WHERE ok), count(*) FROM st, p
        WHERE kind = 'set' AND deadline BETWEEN p.ps AND p.pe GROUP BY prov""")
    collect("d3_vssid_response", """
        SELECT prov, count(*) FILTER (WHERE vss_done IS NOT NULL AND vss_done <= deadline_at), count(*)
        FROM vs, p WHERE deadline_at::DATE BETWEEN p.ps AND p.pe GROUP BY prov""")
    collect("d4_backlog_health", """
        SELECT prov, count(*) FILTER (WHERE deadline >= p.pe), count(*) FROM st, p
        WHERE kind = 'set' AND start <= p.pe AND (done IS NULL OR done::DATE > p.pe) GROUP BY prov""")
    collect("e1_entry_coverage", """
        SELECT up.prov, count(entered), count(*) FROM rec JOIN up USING (unit_code), p
        WHERE rec.d BETWEEN p.ps AND p.pe GROUP BY up.prov""")
    collect("e2_entry_timeliness", """
        SELECT up.prov,
               count(*) FILTER (WHERE rec.entered IS NOT NULL AND greatest(c2.ord - c1.ord, 0) <= 1), count(*)
        FROM rec JOIN up USING (unit_code) JOIN cal c1 ON c1.d = rec.d
        LEFT JOIN cal c2 ON c2.d = rec.entered::DATE, p
        WHERE rec.d BETWEEN p.ps AND p.pe GROUP BY up.prov""")
    collect("e3_record_completeness", """
        WITH fs AS (SELECT case_id, min(occurred_at)::DATE AS d FROM case_events
                    WHERE event_type = 'settled' GROUP BY case_id)
        SELECT cs.prov,
               count(*) FILTER (WHERE coalesce(trim(content_summary, ' \t\n\r'), '') <> ''
                                  AND coalesce(trim(result_summary, ' \t\n\r'), '') <> ''
                                  AND attachments_count >= 1),
               count(*)
        FROM fs JOIN cs USING (case_id), p WHERE fs.d BETWEEN p.ps AND p.pe GROUP BY cs.prov""")
    collect("e4_account_coverage", """
        SELECT up.prov,
               count(*) FILTER (WHERE account_id IS NOT NULL AND account_granted_at::DATE <= p.pe
                                  AND (account_revoked_at IS NULL OR account_revoked_at::DATE > p.pe)),
               count(*)
        FROM officials o JOIN up USING (unit_code), p
        WHERE o.assigned_from <= p.pe AND (o.assigned_to IS NULL OR o.assigned_to >= p.pe)
        GROUP BY up.prov""")
    collect("e5_account_hygiene", """
        WITH rows_ AS (SELECT o.* FROM officials o, p WHERE account_id IS NOT NULL AND assigned_from <= p.pe),
        last_ AS (SELECT * FROM rows_ QUALIFY row_number() OVER (
                    PARTITION BY account_id
                    ORDER BY coalesce(assigned_to, DATE '9999-12-31') DESC, assigned_from DESC, assignment_id DESC) = 1),
        busy AS (SELECT DISTINCT official_ref FROM officials, p
                 WHERE assigned_from <= p.pe AND (assigned_to IS NULL OR assigned_to >= p.pe)),
        held AS (SELECT DISTINCT account_id FROM rows_ WHERE official_ref IN (SELECT official_ref FROM busy))
        SELECT up.prov,
               count(*) FILTER (WHERE NOT (account_granted_at::DATE <= p.pe
                                 AND (account_revoked_at IS NULL OR account_revoked_at::DATE > p.pe))),
               count(*)
        FROM last_ l JOIN up USING (unit_code), p
        WHERE account_id NOT IN (SELECT account_id FROM held)
          AND l.assigned_to BETWEEN p.pe - INTERVAL 395 DAY AND p.pe - INTERVAL 30 DAY
        GROUP BY up.prov""")
    collect("x1_repeat_requests", """
        WITH r AS (SELECT case_id, requester_ref, received_at, prov FROM cs
                   WHERE requester_ref IS NOT NULL AND prov IS NOT NULL),
        cur AS (SELECT r.* FROM r, p WHERE received_at::DATE BETWEEN p.ps AND p.pe),
        rep AS (SELECT DISTINCT a.case_id FROM cur a JOIN r b
                ON a.requester_ref = b.requester_ref AND a.prov = b.prov AND a.case_id <> b.case_id
                AND b.received_at >= a.received_at - INTERVAL 365 DAY AND b.received_at < a.received_at)
        SELECT prov, count(rep.case_id), count(*) FROM cur LEFT JOIN rep USING (case_id) GROUP BY prov""")
    collect("x2_recovery_rate", """
        WITH fs AS (SELECT case_id, min(occurred_at)::DATE AS d FROM case_events
                    WHERE event_type = 'settled' GROUP BY case_id)
        SELECT cs.prov, sum(coalesce(amount_recovered_vnd, 0)), sum(amount_to_recover_vnd)
        FROM fs JOIN cs USING (case_id), p
        WHERE fs.d BETWEEN p.ps AND p.pe AND amount_to_recover_vnd > 0 GROUP BY cs.prov""")

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["period", "province_code", "indicator", "numerator", "denominator"])
    for (code,) in con.execute("SELECT province_code FROM provinces ORDER BY province_code").fetchall():
        for ind in INDICATORS:
            num, den = counts.get((code, ind), (0, 0))
            out.writerow([a.period, code, ind, num, den])
    if a.timing:
        print(f"duckdb: {time.time() - started:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
