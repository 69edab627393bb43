"""pandas and Polars go through score_arrow and give the CLI's verdicts."""

import pandas as pd
import polars as pl

from conftest import AS_OF, ROOT, as_row, cli_verdicts, jsonl_leads


def rows_of(frame):
    return [
        {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def normalised(rows):
    """pandas gives NaN/None for missing and numpy arrays for lists: make them plain."""
    out = []
    for row in rows:
        clean = {}
        for k, v in row.items():
            if isinstance(v, float) and v != v:
                v = None
            if k in ("matched", "errors") and v is not None:
                v = [dict(x) for x in v]
            clean[k] = v
        out.append(clean)
    return out


def test_pandas_from_leads_jsonl_gives_the_cli_verdicts(scorer):
    df = pd.DataFrame(jsonl_leads())
    got = scorer.score_pandas(df, as_of=AS_OF)
    assert list(got.index) == list(df.index)
    expected = [as_row(v) for v in cli_verdicts("fixtures/leads.jsonl")]
    assert normalised(rows_of(got)) == normalised(expected)


def test_pandas_from_leads_csv_gives_the_cli_verdicts_and_keeps_the_index(scorer):
    df = pd.read_csv(ROOT / "fixtures" / "leads.csv", dtype_backend="pyarrow")
    df.index = [f"r{i}" for i in range(len(df))]
    got = scorer.score_pandas(df, as_of=AS_OF)
    assert list(got.index) == list(df.index)
    expected = [as_row(v) for v in cli_verdicts("fixtures/leads.csv")]
    assert normalised(rows_of(got)) == normalised(expected)


def test_polars_frames_go_through_the_arrow_c_interface(scorer):
    df = pl.read_csv(ROOT / "fixtures" / "leads.csv", infer_schema_length=None)
    got = scorer.score_arrow(df, as_of=AS_OF)  # a polars DataFrame, no pyarrow in between
    assert got.to_pylist() == [as_row(v) for v in cli_verdicts("fixtures/leads.csv")]
    # The Polars example from the README: verdict columns beside the leads.
    both = pl.concat([df, pl.from_arrow(got).drop("id")], how="horizontal")
    assert both.height == df.height and "stage" in both.columns


def test_polars_from_leads_jsonl(scorer):
    df = pl.read_ndjson(ROOT / "fixtures" / "leads.jsonl")
    got = scorer.score_arrow(df, as_of=AS_OF)
    assert got.to_pylist() == [as_row(v) for v in cli_verdicts("fixtures/leads.jsonl")]
