"""Spark: leadscore.spark.score on local[2] gives the CLI's verdicts."""

import pytest

import leadscore
import leadscore.spark
from conftest import AS_OF, ROOT, as_row, cli_verdicts

# The starter rules declare score dimensions, a grade and the CRM's stage.
VERDICT_COLUMNS = [
    "score", "scores", "grade", "stage", "transition", "signals", "next_stage", "missing",
    "points_needed", "disqualified", "matched", "errors",
]


def spark_rows(df):
    rows = []
    for row in df.collect():
        d = row.asDict(recursive=True)
        rows.append(d)
    return rows


def test_spark_on_leads_csv_gives_the_cli_verdicts(spark):
    df = spark.read.csv(str(ROOT / "fixtures" / "leads.csv"), header=True, inferSchema=True)
    scored = leadscore.spark.score(df.repartition(2), rules=ROOT / "rules", as_of=AS_OF)
    assert scored.columns == df.columns + VERDICT_COLUMNS
    expected = {v["id"]: as_row(v) for v in cli_verdicts("fixtures/leads.csv")}
    got = spark_rows(scored)
    assert len(got) == len(expected)
    for row in got:
        # Spark keeps the input row; the lead's id is its own `Id` column.
        key = row["Id"] if row["Id"] is not None else next(
            k for k in expected if k.startswith("row:")
        )
        want = {k: v for k, v in expected[key].items() if k != "id"}
        assert {k: row[k] for k in VERDICT_COLUMNS} == want, key


def test_spark_on_leads_jsonl_gives_the_cli_verdicts(spark):
    df = spark.read.json(str(ROOT / "fixtures" / "leads.jsonl"))
    scored = leadscore.spark.score(df, rules=ROOT / "rules", as_of=AS_OF)
    expected = {v["id"]: as_row(v) for v in cli_verdicts("fixtures/leads.jsonl")}
    for row in spark_rows(scored):
        key = row["id"] if row["id"] is not None else "row:15"
        want = {k: v for k, v in expected[key].items() if k != "id"}
        assert {k: row[k] for k in VERDICT_COLUMNS} == want, key


def test_broken_rules_fail_on_the_driver_before_any_job(spark):
    df = spark.createDataFrame([("L-1",)], ["id"])
    with pytest.raises(leadscore.RulesError) as caught:
        leadscore.spark.score(df, rules=ROOT / "fixtures" / "bad_rules")
    assert caught.value.diagnostics[0].line == 3


def test_a_column_named_like_a_verdict_column_is_refused(spark):
    df = spark.createDataFrame([("L-1", 5)], ["id", "score"])
    with pytest.raises(ValueError, match="score"):
        leadscore.spark.score(df, rules=ROOT / "rules", as_of=AS_OF)


def test_rules_given_as_text_need_no_folder_on_the_workers(spark):
    sources = {"mine.yaml": "rules:\n  - { id: big, when: { field: budget, gte: 100 }, points: 7 }\n"}
    df = spark.createDataFrame([("a", 500), ("b", 5)], ["id", "budget"])
    rows = leadscore.spark.score(df, rules=sources, as_of=AS_OF).orderBy("id").collect()
    assert [r["score"] for r in rows] == [7, 0]
