"""Value normalisation shared by the engine comparisons (duckdb_report.py, interop.py): times to
epoch milliseconds, numbers to floats, dates to ISO text, lists to tuples, so that hsmtrail's
JSON output and another engine's Python values compare equal when they mean the same."""
import datetime
import decimal
import re

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def norm(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float, decimal.Decimal)):
        return round(float(v), 6)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return ("time", round(v.timestamp() * 1000))
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, str) and TIME.match(v):
        t = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return ("time", round(t.timestamp() * 1000))
    if isinstance(v, (list, tuple)):
        return tuple(norm(x) for x in v)
    return v
