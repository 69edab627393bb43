//! Arrow in: the columns of a record batch the rules read, turned cell by cell into
//! leadscore [`Value`]s straight from the Arrow buffers (no Python object per value),
//! and the rows scored on every core.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float64Type, Int64Type, TimestampMicrosecondType, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use leadscore::{Date, Lead, Scorer, Value, Verdict};

use crate::verdicts::VerdictColumns;

/// What to do with a lead whose value does not fit its field's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMisfit {
    /// Refuse the lead (the command line rejects such a record): the call fails.
    Raise,
    /// Score it anyway, the misfit listed in the verdict's `errors`.
    Verdict,
}

/// A lead refused under [`OnMisfit::Raise`]: its row (0-based over the whole input) and
/// the library's reason.
#[derive(Debug)]
pub struct Refused {
    pub row: usize,
    pub reason: String,
}

/// A column the rules read, cast once to one of a few physical types.
struct Column {
    name: String,
    array: ArrayRef,
}

/// Why a column cannot be read.
#[derive(Debug)]
pub struct Unsupported {
    pub column: String,
    pub data_type: DataType,
}

/// The columns of `batch` that `scorer` reads, each cast to the type its cells are read
/// as: integers to Int64 (UInt64 kept), floats and decimals to Float64, text to Utf8,
/// dates to Date32, timestamps to microseconds in UTC, dictionaries to their values.
fn read_columns(scorer: &Scorer, batch: &RecordBatch) -> Result<Vec<Column>, Unsupported> {
    let schema = batch.schema();
    let mut columns = Vec::new();
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        if !scorer.reads_column(field.name()) {
            continue;
        }
        let unsupported = || Unsupported {
            column: field.name().clone(),
            data_type: field.data_type().clone(),
        };
        let array = normalise(array).ok_or_else(unsupported)?;
        columns.push(Column {
            name: field.name().clone(),
            array,
        });
    }
    Ok(columns)
}

/// The physical type a column is read as, or `None` when leadscore has no value for it.
fn target_type(data_type: &DataType) -> Option<DataType> {
    Some(match data_type {
        DataType::Null | DataType::Boolean | DataType::Int64 | DataType::UInt64 => {
            data_type.clone()
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => DataType::Int64,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => DataType::Float64,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Date32 | DataType::Date64 => DataType::Date32,
        DataType::Timestamp(_, tz) => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.as_ref().map(|_| "UTC".into()))
        }
        DataType::Dictionary(_, values) => return target_type(values),
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::Struct(_) => data_type.clone(),
        _ => return None,
    })
}

/// Casts an array to the type its cells are read as; nested arrays keep their shape and
/// have their children checked.
fn normalise(array: &ArrayRef) -> Option<ArrayRef> {
    let target = target_type(array.data_type())?;
    match &target {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            target_type(f.data_type())?;
        }
        DataType::Struct(fields) => {
            for f in fields {
                target_type(f.data_type())?;
            }
        }
        _ => {}
    }
    if &target == array.data_type() {
        return Some(array.clone());
    }
    arrow_cast::cast(array, &target).ok()
}

/// The value of one cell. Nulls and NaN (how pandas writes a missing number) are missing.
fn cell(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => {
            let n = array.as_primitive::<UInt64Type>().value(row);
            i64::try_from(n).map_or(Value::Float(n as f64), Value::Int)
        }
        DataType::Float64 => {
            let x = array.as_primitive::<Float64Type>().value(row);
            if x.is_finite() {
                Value::Float(x)
            } else {
                Value::Null
            }
        }
        DataType::Utf8 => Value::Text(array.as_string::<i32>().value(row).to_string()),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            Date::from_unix_days(i64::from(days))
                .map_or(Value::Null, |d| Value::Text(d.to_string()))
        }
        DataType::Timestamp(..) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            timestamp_text(micros).map_or(Value::Null, Value::Text)
        }
        DataType::List(_) => list(array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(array.as_list::<i64>().value(row)),
        DataType::FixedSizeList(..) => list(array.as_fixed_size_list().value(row)),
        DataType::Struct(fields) => {
            let s = array.as_struct();
            Value::Map(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, child)| (f.name().clone(), nested(child, row)))
                    .collect(),
            )
        }
        // `read_columns` casts every column it keeps to one of the types above.
        _ => Value::Null,
    }
}

/// A cell inside a list or struct: cast like a column, then read.
fn nested(array: &ArrayRef, row: usize) -> Value {
    match normalise(array) {
        Some(a) => cell(a.as_ref(), row),
        None => Value::Null,
    }
}

fn list(items: ArrayRef) -> Value {
    let Some(items) = normalise(&items) else {
        return Value::Null;
    };
    Value::List((0..items.len()).map(|i| cell(items.as_ref(), i)).collect())
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`: what a `date` field reads its day from.
fn timestamp_text(micros: i64) -> Option<String> {
    const DAY: i64 = 86_400 * 1_000_000;
    let date = Date::from_unix_days(micros.div_euclid(DAY))?;
    let of_day = micros.rem_euclid(DAY);
    let secs = of_day / 1_000_000;
    let frac = of_day % 1_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    Some(if frac == 0 {
        format!("{date}T{h:02}:{m:02}:{s:02}")
    } else {
        format!("{date}T{h:02}:{m:02}:{s:02}.{frac:06}")
    })
}

/// One row as a lead: the read columns, nulls left out.
fn lead_at(columns: &[Column], row: usize) -> Lead {
    columns
        .iter()
        .filter_map(|c| match cell(c.array.as_ref(), row) {
            Value::Null => None,
            v => Some((c.name.clone(), v)),
        })
        .collect()
}

/// Scores rows `range` of the columns, naming an id-less lead by its row in the whole
/// input (`row:N`, 1-based, like a file's `path:line`).
fn score_range(
    scorer: &Scorer,
    columns: &[Column],
    range: std::ops::Range<usize>,
    first_row: usize,
    as_of: Date,
    on_misfit: OnMisfit,
) -> Result<RecordBatch, Refused> {
    let mut out = VerdictColumns::new(scorer.rules(), range.len());
    for row in range {
        let lead = lead_at(columns, row);
        let mut verdict: Verdict = match on_misfit {
            OnMisfit::Verdict => scorer.score(&lead, as_of),
            OnMisfit::Raise => scorer.try_score(&lead, as_of).map_err(|e| Refused {
                row: first_row + row,
                reason: e.reason,
            })?,
        };
        verdict.name_by(format_args!("row:{}", first_row + row + 1));
        out.push(&verdict);
    }
    Ok(out.finish())
}

/// Scores every row of `batches`, in runs of rows shared out to one thread per core
/// (a stream of small batches is spread as well as one large batch). Returns verdict
/// batches in row order; a refusal names the first refused row. The first thread
/// scores with `scorer`, each other with its own copy from `replicas(threads - 1)`
/// (asked only when more than one thread runs), so the threads share no reference
/// counts or regex caches.
pub fn score_batches<'s>(
    scorer: &'s Scorer,
    replicas: impl FnOnce(usize) -> &'s [Scorer],
    batches: &[RecordBatch],
    as_of: Date,
    on_misfit: OnMisfit,
) -> Result<Result<Vec<RecordBatch>, Refused>, Unsupported> {
    let columns = batches
        .iter()
        .map(|b| read_columns(scorer, b))
        .collect::<Result<Vec<_>, _>>()?;
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // A few runs per thread evens out uneven rows; runs are not too small to be worth it.
    let run = (total / (threads * 4)).clamp(1024, 65_536);
    let mut units = Vec::new();
    let mut first_row = 0;
    for (b, batch) in batches.iter().enumerate() {
        let rows = batch.num_rows();
        for start in (0..rows).step_by(run) {
            units.push((b, start..(start + run).min(rows), first_row));
        }
        first_row += rows;
    }
    let score_unit =
        |scorer: &Scorer, (b, range, first_row): &(usize, std::ops::Range<usize>, usize)| {
            score_range(
                scorer,
                &columns[*b],
                range.clone(),
                *first_row,
                as_of,
                on_misfit,
            )
        };
    let threads = threads.min(units.len());
    if threads <= 1 {
        return Ok(units.iter().map(|unit| score_unit(scorer, unit)).collect());
    }
    let replicas = replicas(threads - 1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<RecordBatch, Refused>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let mine = worker
                    .checked_sub(1)
                    .and_then(|i| replicas.get(i))
                    .unwrap_or(scorer);
                let (next, units, score_unit) = (&next, &units, &score_unit);
                s.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        out.push((i, score_unit(mine, unit)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![(
                        0,
                        Err(Refused {
                            row: 0,
                            reason: "internal error: a scoring thread panicked".to_string(),
                        }),
                    )]
                })
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// The schema of verdict columns for these rules (no rows scored).
pub fn verdict_schema(rules: &leadscore::Rules) -> Arc<arrow_schema::Schema> {
    VerdictColumns::new(rules, 0).finish().schema()
}
