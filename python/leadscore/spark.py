"""Scoring Spark DataFrames with leadscore.

``score(df, rules="rules")`` appends the verdict columns to a DataFrame. The rules are
read once on the driver, checked there (a broken folder raises ``RulesError`` before any
job runs) and shipped to the executors as text, so no shared filesystem is needed: the
same call runs on a laptop's ``local[*]`` and on a cluster. Each executor compiles the
rules once per Python worker and scores Arrow batches through ``mapInArrow``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from typing import TYPE_CHECKING, Dict, Iterator, Mapping, Optional, Union

import pyarrow as pa

import leadscore

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

__all__ = ["score"]

# Compiled rules per Python worker, keyed by a digest of their text: Spark reuses its
# Python workers across tasks, so the rules compile once per worker, not once per task.
_SCORERS: Dict[str, leadscore.Scorer] = {}


def _scorer(sources: Mapping[str, str], key: str) -> leadscore.Scorer:
    scorer = _SCORERS.get(key)
    if scorer is None:
        scorer = leadscore.Scorer.from_sources(sources)
        _SCORERS[key] = scorer
    return scorer


def score(
    df: "DataFrame",
    rules: Union[str, "os.PathLike[str]", Mapping[str, str]] = "rules",
    as_of: Union[None, str, datetime.date] = None,
    errors: str = "raise",
) -> "DataFrame":
    """Returns ``df`` with the verdict columns appended.

    The columns are those of ``Scorer.score_arrow`` except ``id`` (the rows keep their
    own columns): ``score``, ``stage``, ``signals``, ``next_stage``, ``missing``,
    ``points_needed``, ``disqualified``, ``matched``, ``errors``.

    Args:
        df: a Spark DataFrame; its columns are read by the rules' field names and aliases.
        rules: a rules folder on the driver, or ``{file name: text}``.
        as_of: the as-of date; None is today in UTC, fixed once on the driver so every
            executor uses the same date.
        errors: ``"raise"`` fails the job on a value that does not fit its field's type
            (naming it); ``"verdict"`` scores such a lead with an ``errors`` entry.

    Raises:
        RulesError: the rules do not load (checked on the driver).
        ValueError: ``df`` already has a column named like a verdict column.
    """
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructType

    if isinstance(rules, Mapping):
        sources = dict(rules)
    else:
        sources = leadscore.rule_sources(os.fspath(rules))
    # Compile on the driver first: broken rules fail here, with every diagnostic.
    checked = leadscore.Scorer.from_sources(sources)
    if as_of is None:
        as_of = datetime.datetime.now(datetime.timezone.utc).date()
    as_of = as_of.isoformat() if isinstance(as_of, datetime.date) else str(as_of)
    if errors not in ("raise", "verdict"):
        raise ValueError(f'errors must be "raise" or "verdict", not {errors!r}')

    verdict_schema = checked.verdict_schema()
    appended = [f for f in verdict_schema if f.name != "id"]
    clash = [f.name for f in appended if f.name in df.columns]
    if clash:
        raise ValueError(
            f"the DataFrame already has columns named {clash}; rename them first "
            "(e.g. df.withColumnRenamed('score', 'crm_score'))"
        )
    out_schema = StructType(
        list(df.schema.fields) + list(from_arrow_schema(pa.schema(appended)).fields)
    )
    names = [f.name for f in appended]
    key = hashlib.sha256(repr(sorted(sources.items())).encode()).hexdigest()

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = _scorer(sources, key)
        for batch in batches:
            verdicts = scorer.score_arrow(batch, as_of=as_of, errors=errors)
            table = pa.Table.from_batches([batch])
            for name in names:
                table = table.append_column(
                    verdicts.schema.field(name), verdicts.column(name)
                )
            yield from table.to_batches()

    return df.mapInArrow(score_batches, out_schema)
