"""Shared fixtures: the repository's rules and fixtures, the CLI's verdicts, Spark."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
AS_OF = "2026-11-27"  # the golden files' date (tests/golden.rs)


def cli_binary() -> Path:
    """The leadscore binary: $LEADSCORE_BIN, or the debug build `cargo test` leaves."""
    path = Path(os.environ.get("LEADSCORE_BIN", ROOT / "target" / "debug" / "leadscore"))
    if not path.exists():
        pytest.fail(f"no leadscore binary at {path}: run `cargo build` or set LEADSCORE_BIN")
    return path


def cli_verdicts(fixture: str, rules: Path = RULES, as_of: str = AS_OF):
    """`leadscore score` on a fixture, id-less leads renamed from `file:line` to
    `row:N`, the name the Python API gives the N-th lead of a table or iterable."""
    out = subprocess.run(
        [str(cli_binary()), "score", "--rules", str(rules), "--as-of", as_of, fixture],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    header = 1 if fixture.endswith(".csv") else 0
    verdicts = [json.loads(line) for line in out.stdout.splitlines()]
    for v in verdicts:
        if isinstance(v["id"], str) and v["id"].startswith(fixture + ":"):
            line = int(v["id"].rsplit(":", 1)[1])
            v["id"] = f"row:{line - header}"
    return verdicts


def as_row(verdict):
    """A verdict dict in the shape of a `score_arrow` row."""
    nxt = verdict["next"]
    row = {
        "id": None if verdict["id"] is None else str(verdict["id"]),
        "score": verdict["score"],
    }
    # The keys rules opt into (score dimensions, a grade, the CRM's stage) are columns
    # only when the verdicts carry them.
    for key in ("scores", "grade"):
        if key in verdict:
            row[key] = verdict[key]
    row["stage"] = verdict["stage"]
    if "transition" in verdict:
        row["transition"] = verdict["transition"]
    return row | {
        "signals": verdict["signals"],
        "next_stage": nxt["stage"] if nxt else None,
        "missing": nxt["missing"] if nxt else None,
        "points_needed": nxt["points_needed"] if nxt else None,
        "disqualified": verdict["disqualified"],
        "matched": [
            {"rule": m["rule"], "points": m["points"], "reason": m.get("reason")}
            for m in verdict["matched"]
        ],
        "errors": [{"rule": e["rule"], "message": e["message"]} for e in verdict["errors"]],
    }


def jsonl_leads():
    with open(ROOT / "fixtures" / "leads.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def scorer():
    import leadscore

    return leadscore.Scorer.load(RULES)


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole run, bound to loopback, its Python workers
    running this interpreter."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("leadscore-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


def jsonl_table():
    """fixtures/leads.jsonl as a pyarrow Table, columns typed over every row; the
    dates as dates (the JSON reader would make them midnight timestamps, which score
    the same but read `2026-11-20T00:00:00` in reasons)."""
    import pyarrow as pa
    import pyarrow.json

    table = pyarrow.json.read_json(ROOT / "fixtures" / "leads.jsonl")
    i = table.schema.get_field_index("last_activity_at")
    return table.set_column(i, "last_activity_at", table.column(i).cast(pa.date32()))


def csv_table():
    """fixtures/leads.csv as a pyarrow Table; empty cells are nulls, as in the CLI's CSV
    reading (pyarrow keeps them as empty strings in text columns unless told)."""
    import pyarrow.csv

    options = pyarrow.csv.ConvertOptions(strings_can_be_null=True)
    return pyarrow.csv.read_csv(ROOT / "fixtures" / "leads.csv", convert_options=options)
