"""The Arrow path: score_arrow gives the CLI's verdicts; every Arrow type is read."""

import datetime
import decimal

import pyarrow as pa
import pytest

import leadscore
from conftest import AS_OF, ROOT, as_row, cli_verdicts, csv_table, jsonl_table

# The starter rules declare score dimensions, a grade and the CRM's stage: their
# columns sit where their keys sit in the verdict JSON.
COLUMNS = [
    "id", "score", "scores", "grade", "stage", "transition", "signals", "next_stage",
    "missing", "points_needed", "disqualified", "matched", "errors",
]
OPT_IN = ("scores", "grade", "transition")


def test_a_table_of_leads_jsonl_gives_the_cli_verdicts(scorer):
    table = jsonl_table()
    got = scorer.score_arrow(table, as_of=AS_OF)
    assert isinstance(got, pa.Table)
    assert got.column_names == COLUMNS
    assert got.to_pylist() == [as_row(v) for v in cli_verdicts("fixtures/leads.jsonl")]


def test_scores_grade_and_transition_columns_are_typed_and_absent_without_their_keys():
    classic_rules = ROOT / "fixtures" / "classic_rules"
    classic = leadscore.Scorer.load(classic_rules)
    got = classic.score_arrow(jsonl_table(), as_of=AS_OF)
    assert got.column_names == [c for c in COLUMNS if c not in OPT_IN]
    want = cli_verdicts("fixtures/leads.jsonl", rules=classic_rules)
    assert got.to_pylist() == [as_row(v) for v in want]

    schema = leadscore.Scorer.load(ROOT / "rules").verdict_schema()
    assert schema.field("scores").type == pa.struct(
        [pa.field("fit", pa.int64(), nullable=False), pa.field("engagement", pa.int64(), nullable=False)]
    )
    assert schema.field("grade").type == pa.string()
    assert [f.name for f in schema.field("transition").type] == ["from", "to", "direction"]
    first = leadscore.Scorer.load(ROOT / "rules").score_arrow(jsonl_table(), as_of=AS_OF).slice(0, 1)
    assert first.column("transition").to_pylist() == [
        {"from": "prospect", "to": "ready_to_convert", "direction": "up"}
    ]


def test_leads_csv_read_as_a_table_gives_the_cli_verdicts(scorer):
    table = csv_table()
    got = scorer.score_arrow(table, as_of=AS_OF).to_pylist()
    assert got == [as_row(v) for v in cli_verdicts("fixtures/leads.csv")]


def test_a_record_batch_and_a_many_batch_stream_give_the_same_rows(scorer):
    table = jsonl_table()
    whole = scorer.score_arrow(table, as_of=AS_OF).to_pylist()
    batches = table.to_batches(max_chunksize=4)
    assert len(batches) > 1
    assert scorer.score_arrow(pa.Table.from_batches(batches), as_of=AS_OF).to_pylist() == whole
    reader = pa.RecordBatchReader.from_batches(table.schema, batches)
    assert scorer.score_arrow(reader, as_of=AS_OF).to_pylist() == whole
    assert scorer.score_arrow(batches[0], as_of=AS_OF).to_pylist() == whole[:4]


def test_a_large_table_scored_on_every_core_keeps_row_order(scorer):
    table = pa.concat_tables([jsonl_table()] * 700)  # > 4096 rows per core: threads
    ids = [None if v is None else f"{v}-{i}" for i, v in enumerate(table.column("id").to_pylist())]
    table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids))
    got = scorer.score_arrow(table, as_of=AS_OF).to_pylist()
    leads = [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
    expected = [as_row(v) for v in scorer.score_many(leads, as_of=AS_OF)]
    assert len(got) == len(leads)
    assert got == expected
    # The threads after the first score with copies of the rules made by the first call
    # and kept by the scorer; a second call uses them again.
    assert scorer.score_arrow(table, as_of=AS_OF).to_pylist() == expected


def test_any_arrow_pycapsule_object_is_accepted(scorer):
    table = jsonl_table()

    class Capsule:
        def __init__(self, t):
            self.t = t

        def __arrow_c_stream__(self, requested_schema=None):
            return self.t.__arrow_c_stream__(requested_schema)

    assert scorer.score_arrow(Capsule(table), as_of=AS_OF) == scorer.score_arrow(
        table, as_of=AS_OF
    )
    with pytest.raises(TypeError, match="pyarrow Table"):
        scorer.score_arrow([{"id": 1}])


def test_an_empty_table_gives_an_empty_table_with_the_verdict_schema(scorer):
    got = scorer.score_arrow(pa.table({"id": pa.array([], pa.string())}), as_of=AS_OF)
    assert got.num_rows == 0
    assert got.schema == scorer.verdict_schema()


# --- type mapping --------------------------------------------------------------------

TYPED_RULES = {
    "fields.yaml": """
fields:
  id:     { type: string, aliases: [Id] }
  n:      { type: number }
  i:      { type: integer }
  b:      { type: bool }
  s:      { type: string }
  d:      { type: date }
  tags:   { type: list }
""",
    "rules.yaml": """
rules:
  - { id: n,    when: { field: n, exists: true },    points: 1, reason: "n={n}" }
  - { id: i,    when: { field: i, exists: true },    points: 1, reason: "i={i}" }
  - { id: b,    when: { field: b, eq: true },        points: 1, reason: "b={b}" }
  - { id: s,    when: { field: s, exists: true },    points: 1, reason: "s={s}" }
  - { id: d,    when: { field: d, within_days: 30 }, points: 1, reason: "d={d}" }
  - { id: tags, when: { field: tags, contains: vip }, points: 1, reason: "tags={tags}" }
  - { id: obj,  when: { field: obj, exists: true },  points: 1, reason: "obj={obj}" }
""",
}


@pytest.fixture(scope="module")
def typed():
    return leadscore.Scorer.from_sources(TYPED_RULES)


def one_row(typed, table):
    return typed.score_arrow(table, as_of=AS_OF).to_pylist()[0]


@pytest.mark.parametrize(
    "array, field, reason",
    [
        (pa.array([7], pa.int8()), "i", "i=7"),
        (pa.array([7], pa.int16()), "i", "i=7"),
        (pa.array([7], pa.int32()), "i", "i=7"),
        (pa.array([7], pa.int64()), "i", "i=7"),
        (pa.array([7], pa.uint8()), "i", "i=7"),
        (pa.array([7], pa.uint32()), "i", "i=7"),
        (pa.array([2**63 + 1], pa.uint64()), "n", "n=9223372036854776000"),
        (pa.array([7], pa.uint64()), "i", "i=7"),
        (pa.array([1.5], pa.float32()), "n", "n=1.5"),
        (pa.array([1.5], pa.float64()), "n", "n=1.5"),
        (pa.array([12000.0], pa.float64()), "i", "i=12000"),
        (pa.array([decimal.Decimal("12.50")], pa.decimal128(10, 2)), "n", "n=12.5"),
        (pa.array(["12000"], pa.string()), "n", "n=12000"),
        (pa.array(["12000"], pa.large_string()), "i", "i=12000"),
        (pa.array(["yes"], pa.string()), "b", "b=true"),
        (pa.array([True], pa.bool_()), "b", "b=true"),
        (pa.array([3], pa.int64()), "s", "s=3"),
        (pa.array(["Acme"], pa.string()), "s", "s=Acme"),
        (pa.array(["Acme"], pa.large_string()), "s", "s=Acme"),
        (pa.array(["Acme"]).dictionary_encode(), "s", "s=Acme"),
        (pa.array([datetime.date(2026, 11, 20)], pa.date32()), "d", "d=2026-11-20"),
        (pa.array([datetime.date(2026, 11, 20)], pa.date64()), "d", "d=2026-11-20"),
        (
            pa.array([datetime.datetime(2026, 11, 20, 9, 30)], pa.timestamp("s")),
            "d",
            "d=2026-11-20T09:30:00",
        ),
        (
            pa.array([datetime.datetime(2026, 11, 20, 9, 30, 0, 250)], pa.timestamp("us")),
            "d",
            "d=2026-11-20T09:30:00.000250",
        ),
        (
            pa.array(
                [datetime.datetime(2026, 11, 20, 23, 30, tzinfo=datetime.timezone.utc)],
                pa.timestamp("ns", tz="UTC"),
            ),
            "d",
            "d=2026-11-20T23:30:00",
        ),
        (pa.array([["x", "vip"]], pa.list_(pa.string())), "tags", "tags=x, vip"),
        (pa.array([["vip"]], pa.large_list(pa.large_string())), "tags", "tags=vip"),
        (pa.array(["x;vip"], pa.string()), "tags", "tags=x, vip"),
    ],
)
def test_each_arrow_type_is_read_as_its_value(typed, array, field, reason):
    row = one_row(typed, pa.table({"id": ["r1"], field: array}))
    assert row["errors"] == []
    assert row["matched"] == [{"rule": field, "points": 1, "reason": reason}]


def test_nulls_and_nan_are_missing_values(typed):
    table = pa.table(
        {
            "id": ["r1", None],
            "n": pa.array([None, float("nan")], pa.float64()),
            "s": pa.array([None, None], pa.string()),
            "b": pa.array([None, None], pa.bool_()),
            "tags": pa.array([None, ["x"]], pa.list_(pa.string())),
            "nothing": pa.nulls(2),
        }
    )
    rows = typed.score_arrow(table, as_of=AS_OF).to_pylist()
    assert [r["matched"] for r in rows] == [[], []]
    assert [r["id"] for r in rows] == ["r1", "row:2"]


def test_a_struct_column_is_read_as_a_map(typed):
    obj = pa.array([{"plan": "pro", "seats": 5}])
    row = one_row(typed, pa.table({"id": ["r1"], "obj": obj}))
    assert [m["rule"] for m in row["matched"]] == ["obj"]
    assert row["matched"][0]["reason"].startswith("obj=")
    dict_path = typed.score({"id": "r1", "obj": {"plan": "pro", "seats": 5}}, as_of=AS_OF)
    assert row["matched"][0]["reason"] == dict_path["matched"][0]["reason"]


def test_an_aliased_column_is_read_as_its_field(typed):
    row = one_row(typed, pa.table({"Id": ["from-alias"], "s": ["x"]}))
    assert row["id"] == "from-alias"


def test_an_unknown_column_is_not_read_whatever_its_type(typed):
    table = pa.table({"id": ["r1"], "blob": pa.array([b"\x00"], pa.binary()), "n": [2]})
    assert one_row(typed, table)["matched"] == [{"rule": "n", "points": 1, "reason": "n=2"}]


def test_a_known_column_of_an_unreadable_type_is_a_type_error(typed):
    table = pa.table({"id": ["r1"], "n": pa.array([b"\x00"], pa.binary())})
    with pytest.raises(TypeError, match="column `n` has Arrow type Binary"):
        typed.score_arrow(table)


def test_a_value_that_does_not_fit_raises_or_becomes_an_errors_entry(typed):
    table = pa.table({"id": ["r1", "r2"], "n": ["12", "lots"]})
    with pytest.raises(leadscore.LeadError, match="row 1: .*`n`") as caught:
        typed.score_arrow(table, as_of=AS_OF)
    assert caught.value.row == 1
    rows = typed.score_arrow(table, as_of=AS_OF, errors="verdict").to_pylist()
    assert rows[0]["errors"] == []
    assert [e["rule"] for e in rows[1]["errors"]] == ["field:n"]
    assert "lots" in rows[1]["errors"][0]["message"]
