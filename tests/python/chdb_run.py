"""An embedded ClickHouse (chDB) answering SQL over stdin/stdout, for
tests/clickhouse_modern.rs.

Usage: chdb_run.py DATA_DIR
Reads one JSON object a line: {"sql": "...", "data": "file or null"}; with
data the file's contents follow the SQL (an INSERT ... FORMAT JSONEachRow and
its rows, as the exporter sends them over HTTP). Writes one JSON line back:
{"ok": true, "out": "<TabSeparated>"} or {"ok": false, "error": "..."}.
"""
import json
import sys

from chdb import session


def main():
    db = session.Session(sys.argv[1])
    for line in sys.stdin:
        step = json.loads(line)
        sql = step["sql"]
        if step.get("data"):
            with open(step["data"], encoding="utf-8") as f:
                sql = sql + "\n" + f.read()
        try:
            res = db.query(sql, "TabSeparated")
            out = res.bytes().decode("utf-8") if res is not None else ""
            answer = {"ok": True, "out": out}
        except Exception as e:  # ClickHouse's message names the error
            answer = {"ok": False, "error": str(e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
