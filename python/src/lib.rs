//! The `leadscore` Python package's native module (`leadscore._leadscore`): types in,
//! library call, types out. Rules, verdicts and errors are the library's; verdict dicts
//! are its verdict JSON read by Python's `json`, verdict tables its `Verdict` fields as
//! Arrow columns.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use leadscore::{Date, Error, Lead, Rules, Value};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDate, PyDateTime, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3_arrow::input::AnyRecordBatch;
use pyo3_arrow::{PySchema, PyTable};

mod table;
mod verdicts;

use table::OnMisfit;

create_exception!(
    leadscore,
    RulesError,
    PyValueError,
    "The rules could not be loaded. `diagnostics` lists every problem (file, line, column), warnings included."
);
create_exception!(
    leadscore,
    LeadError,
    PyValueError,
    "A lead was refused: a value does not fit its field's declared type, or the lead is not a mapping. `row` is its 0-based row in a table or iterable (None for a single lead)."
);

/// Runs `f`, turning a panic into a Python `RuntimeError`: no panic reaches Python.
fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_string());
        Err(PyRuntimeError::new_err(format!(
            "internal error in leadscore (please report it): {what}"
        )))
    })
}

/// One problem in a rule file: where it is, what is wrong and, when likely, how to fix
/// it. `rendered` is the caret display `leadscore check` prints.
#[pyclass(frozen, get_all, module = "leadscore")]
struct Diagnostic {
    file: String,
    line: u32,
    column: u32,
    severity: String,
    message: String,
    help: Option<String>,
    rendered: String,
}

#[pymethods]
impl Diagnostic {
    fn __repr__(&self) -> String {
        format!(
            "Diagnostic({}:{}:{}: {}: {})",
            self.file, self.line, self.column, self.severity, self.message
        )
    }

    fn __str__(&self) -> String {
        self.rendered.clone()
    }
}

impl From<&leadscore::Diagnostic> for Diagnostic {
    fn from(d: &leadscore::Diagnostic) -> Diagnostic {
        Diagnostic {
            file: d.path.display().to_string(),
            line: d.span.line,
            column: d.span.col,
            severity: d.severity.to_string(),
            message: d.message.clone(),
            help: d.help.clone(),
            rendered: d.render(),
        }
    }
}

/// The library's load error as a Python exception: `RulesError` with `.diagnostics`,
/// or `OSError` for a folder or file that cannot be read.
fn load_error(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Rules(diags) => {
            let rendered: Vec<String> = diags.iter().map(|d| d.render()).collect();
            let err = RulesError::new_err(rendered.join("\n"));
            let list: Vec<Diagnostic> = diags.iter().map(Diagnostic::from).collect();
            let attached = list
                .into_pyobject(py)
                .and_then(|l| err.value(py).setattr("diagnostics", l));
            match attached {
                Ok(()) => err,
                Err(e) => e,
            }
        }
        other => PyOSError::new_err(other.to_string()),
    }
}

fn lead_error(py: Python<'_>, reason: String, row: Option<usize>) -> PyErr {
    let message = match row {
        Some(r) => format!("row {r}: {reason}"),
        None => reason,
    };
    let err = LeadError::new_err(message);
    match err.value(py).setattr("row", row) {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn on_misfit(errors: &str) -> PyResult<OnMisfit> {
    match errors {
        "raise" => Ok(OnMisfit::Raise),
        "verdict" => Ok(OnMisfit::Verdict),
        other => Err(PyValueError::new_err(format!(
            "errors must be \"raise\" or \"verdict\", not {other:?}"
        ))),
    }
}

/// The as-of date: a `datetime.date` (or `datetime`), `YYYY-MM-DD` text, or None for
/// today in UTC (what the command line uses).
fn as_of_date(as_of: Option<&Bound<'_, PyAny>>) -> PyResult<Date> {
    let Some(obj) = as_of.filter(|o| !o.is_none()) else {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return Ok(Date::from_unix_days((secs / 86_400) as i64).unwrap_or(Date::UNIX_EPOCH));
    };
    let text: String = if obj.is_instance_of::<PyDate>() {
        obj.call_method0("isoformat")?.extract()?
    } else if let Ok(s) = obj.extract::<String>() {
        s
    } else {
        return Err(PyTypeError::new_err(
            "as_of must be a datetime.date, a YYYY-MM-DD string or None",
        ));
    };
    Date::parse(&text)
        .ok_or_else(|| PyValueError::new_err(format!("as_of: not a date (YYYY-MM-DD): {text:?}")))
}

/// A Python value as a lead value: None, bool, int, float, str, date and datetime
/// (ISO text), lists and tuples, mappings.
fn value(obj: &Bound<'_, PyAny>, field: &str) -> Result<Value, String> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if obj.is_instance_of::<PyInt>() {
        match obj.extract::<i64>() {
            Ok(n) => Ok(Value::Int(n)),
            Err(_) => obj
                .extract::<f64>()
                .map(Value::Float)
                .map_err(|e| e.to_string()),
        }
    } else if obj.is_instance_of::<PyFloat>() {
        let x = obj.extract::<f64>().map_err(|e| e.to_string())?;
        Ok(if x.is_finite() {
            Value::Float(x)
        } else {
            Value::Null
        })
    } else if obj.is_instance_of::<PyString>() {
        Ok(Value::Text(
            obj.extract::<String>().map_err(|e| e.to_string())?,
        ))
    } else if obj.is_instance_of::<PyDateTime>() || obj.is_instance_of::<PyDate>() {
        let text: String = obj
            .call_method0("isoformat")
            .and_then(|t| t.extract())
            .map_err(|e| e.to_string())?;
        Ok(Value::Text(text))
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in obj.try_iter().map_err(|e| e.to_string())? {
            items.push(value(&item.map_err(|e| e.to_string())?, field)?);
        }
        Ok(Value::List(items))
    } else if obj.hasattr("items").unwrap_or(false) {
        Ok(Value::Map(entries(obj)?))
    } else {
        let kind = obj
            .get_type()
            .name()
            .map_or_else(|_| "unknown".to_string(), |n| n.to_string());
        Err(format!(
            "field `{field}`: cannot read a value of type {kind}"
        ))
    }
}

fn entries(mapping: &Bound<'_, PyAny>) -> Result<Vec<(String, Value)>, String> {
    let items = mapping.call_method0("items").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for item in items.try_iter().map_err(|e| e.to_string())? {
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
            item.and_then(|i| i.extract()).map_err(|e| e.to_string())?;
        let key: String = k.extract().map_err(|_| {
            format!(
                "field names must be text, found {}",
                k.repr().map_or_else(|_| "?".into(), |r| r.to_string())
            )
        })?;
        let v = value(&v, &key)?;
        out.push((key, v));
    }
    Ok(out)
}

/// A Python mapping as a lead.
fn lead(obj: &Bound<'_, PyAny>) -> Result<Lead, String> {
    if !obj.is_instance_of::<PyDict>() && !obj.hasattr("items").unwrap_or(false) {
        return Err("a lead must be a mapping of field names to values".to_string());
    }
    Ok(entries(obj)?.into_iter().collect())
}

/// Parses JSON written by the library with Python's `json` module: the verdict dict is
/// exactly the verdict JSON.
fn from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// Compiled rules, ready to score leads. Load once and share: scoring releases the GIL
/// and is safe from any number of threads.
#[pyclass(frozen, module = "leadscore")]
struct Scorer {
    inner: leadscore::Scorer,
    /// Copies of the rules for `score_arrow`'s other threads, compiled at its first
    /// call that uses them (see `leadscore::Scorer::replica`).
    replicas: std::sync::OnceLock<Vec<leadscore::Scorer>>,
}

impl Scorer {
    fn new(inner: leadscore::Scorer) -> Scorer {
        Scorer {
            inner,
            replicas: std::sync::OnceLock::new(),
        }
    }
}

#[pymethods]
impl Scorer {
    /// Loads and compiles a rules folder (`*.yaml`, `*.yml`, `*.rhai`, in name order).
    ///
    /// Raises `RulesError` listing every problem, or `OSError` when the folder cannot
    /// be read.
    #[staticmethod]
    fn load(py: Python<'_>, rules_dir: PathBuf) -> PyResult<Scorer> {
        guard(|| {
            let loaded = py.detach(|| Rules::load_dir(&rules_dir));
            loaded
                .map(|rules| Scorer::new(leadscore::Scorer::new(rules)))
                .map_err(|e| load_error(py, e))
        })
    }

    /// Compiles rules given as text: `{file name: contents}` (for workers that do not
    /// have the folder). File names decide the order and appear in diagnostics.
    #[staticmethod]
    fn from_sources(py: Python<'_>, sources: &Bound<'_, PyAny>) -> PyResult<Scorer> {
        let items = sources.call_method0("items").map_err(|_| {
            PyTypeError::new_err("sources must be a mapping of file names to rule text")
        })?;
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        for item in items.try_iter()? {
            let (name, text): (PathBuf, String) = item?.extract()?;
            files.push((name, text));
        }
        guard(|| {
            py.detach(|| Rules::from_sources(files))
                .map(|rules| Scorer::new(leadscore::Scorer::new(rules)))
                .map_err(|e| load_error(py, e))
        })
    }

    /// Warnings found while loading (problems that do not stop scoring).
    #[getter]
    fn warnings(&self) -> Vec<Diagnostic> {
        self.inner
            .rules()
            .warnings()
            .iter()
            .map(Diagnostic::from)
            .collect()
    }

    /// Scores one lead (a mapping) and returns the verdict JSON as a dict.
    ///
    /// `errors="raise"` (the default) raises `LeadError` when a value does not fit its
    /// field's type, as the command line rejects such a record; `errors="verdict"`
    /// scores the lead with the misfit listed in the verdict's `errors`.
    #[pyo3(signature = (lead, as_of=None, errors="raise"))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        lead: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let as_of = as_of_date(as_of)?;
        let on_misfit = on_misfit(errors)?;
        let lead = self::lead(lead).map_err(|r| lead_error(py, r, None))?;
        let json = guard(|| {
            py.detach(|| self.verdict_json(&lead, as_of, on_misfit, None))
                .map_err(|r| lead_error(py, r, None))
        })?;
        from_json(py, &json)
    }

    /// Scores every lead of an iterable of mappings; returns the verdict dicts in order.
    /// A lead without an id is named by its 1-based position (`row:3`). `errors` as in
    /// `score`; a refused lead's `LeadError` gives its 0-based `row`.
    #[pyo3(signature = (leads, as_of=None, errors="raise"))]
    fn score_many<'py>(
        &self,
        py: Python<'py>,
        leads: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
        errors: &str,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let as_of = as_of_date(as_of)?;
        let on_misfit = on_misfit(errors)?;
        let mut parsed = Vec::new();
        for (row, item) in leads.try_iter()?.enumerate() {
            parsed.push(self::lead(&item?).map_err(|r| lead_error(py, r, Some(row)))?);
        }
        let lines = guard(|| {
            py.detach(|| {
                parsed
                    .iter()
                    .enumerate()
                    .map(|(row, lead)| {
                        self.verdict_json(lead, as_of, on_misfit, Some(row))
                            .map_err(|r| (row, r))
                    })
                    .collect::<Result<Vec<String>, _>>()
            })
            .map_err(|(row, r)| lead_error(py, r, Some(row)))
        })?;
        lines.iter().map(|l| from_json(py, l)).collect()
    }

    /// Explains one lead: its verdict plus every rule and stage, matched or not, and why.
    /// The same JSON as `leadscore explain --format json`, as a dict.
    #[pyo3(signature = (lead, as_of=None))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        lead: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let as_of = as_of_date(as_of)?;
        let lead = self::lead(lead).map_err(|r| lead_error(py, r, None))?;
        let json = guard(|| {
            py.detach(|| serde_json::to_string(&self.inner.explain(&lead, as_of)))
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })?;
        from_json(py, &json)
    }

    /// Scores every row of an Arrow table or record batch: a `pyarrow.Table` or
    /// `RecordBatch`, or any object with the Arrow PyCapsule interface (Polars, DuckDB,
    /// pandas 2.2+). Returns a `pyarrow.Table` of verdict columns, one row per input row.
    ///
    /// Columns are read by the rules' field names and aliases (other columns are not
    /// read), typed by their Arrow type; nulls and NaN are missing values. The GIL is
    /// released while scoring and the rows are scored on every core. `errors` as in
    /// `score`.
    #[pyo3(signature = (data, as_of=None, errors="raise"))]
    fn score_arrow<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let as_of = as_of_date(as_of)?;
        let on_misfit = on_misfit(errors)?;
        let input: AnyRecordBatch = data.extract().map_err(|_| {
            PyTypeError::new_err(
                "score_arrow takes a pyarrow Table or RecordBatch, or an object with \
                 __arrow_c_stream__ or __arrow_c_array__ (Polars, DuckDB)",
            )
        })?;
        // Read the stream with the GIL held: a producer may call back into Python.
        let reader = input.into_reader()?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let scored = guard(|| {
            let replicas = |n: usize| -> &[leadscore::Scorer] {
                self.replicas
                    .get_or_init(|| (0..n).map(|_| self.inner.replica()).collect())
            };
            Ok(py
                .detach(|| table::score_batches(&self.inner, replicas, &batches, as_of, on_misfit)))
        })?;
        let verdicts = match scored {
            Ok(Ok(v)) => v,
            Ok(Err(refused)) => return Err(lead_error(py, refused.reason, Some(refused.row))),
            Err(u) => {
                return Err(PyTypeError::new_err(format!(
                    "column `{}` has Arrow type {}, which leadscore cannot read \
                     (it reads integers, floats, decimals, booleans, strings, dates, \
                     timestamps, lists and structs)",
                    u.column, u.data_type
                )));
            }
        };
        PyTable::try_new(verdicts, table::verdict_schema(self.inner.rules()))?.into_pyarrow(py)
    }

    /// Scores a pandas DataFrame through `score_arrow`; returns a DataFrame of verdict
    /// columns with the input's index.
    #[pyo3(signature = (df, as_of=None, errors="raise"))]
    fn score_pandas<'py>(
        &self,
        py: Python<'py>,
        df: &Bound<'py, PyAny>,
        as_of: Option<&Bound<'py, PyAny>>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pa = py.import("pyarrow")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("preserve_index", false)?;
        let table = pa
            .getattr("Table")?
            .call_method("from_pandas", (df,), Some(&kwargs))?;
        let verdicts = self.score_arrow(py, &table, as_of, errors)?;
        let out = verdicts.call_method0("to_pandas")?;
        out.setattr("index", df.getattr("index")?)?;
        Ok(out)
    }

    /// The schema of the tables `score_arrow` returns (a `pyarrow.Schema`).
    fn verdict_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PySchema::new(table::verdict_schema(self.inner.rules())).into_pyarrow(py)
    }

    /// The field that names a lead (`settings.id_field`, default `id`).
    #[getter]
    fn id_field(&self) -> String {
        self.inner.rules().id_field().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Scorer({} rules, stages {:?})",
            self.inner.rules().rule_ids().count(),
            self.inner.rules().stage_ids().collect::<Vec<_>>()
        )
    }
}

impl Scorer {
    /// One lead's verdict JSON, named `row:N` when it has no id and `row` is given.
    fn verdict_json(
        &self,
        lead: &Lead,
        as_of: Date,
        on_misfit: OnMisfit,
        row: Option<usize>,
    ) -> Result<String, String> {
        let mut verdict = match on_misfit {
            OnMisfit::Verdict => self.inner.score(lead, as_of),
            OnMisfit::Raise => self.inner.try_score(lead, as_of).map_err(|e| e.reason)?,
        };
        if let Some(row) = row {
            verdict.name_by(format_args!("row:{}", row + 1));
        }
        Ok(verdict.to_json_line())
    }
}

/// Checks a rules folder without scoring: every problem (errors and warnings) as a list
/// of `Diagnostic`, empty when the folder is clean. Raises `OSError` when the folder
/// cannot be read.
#[pyfunction]
fn check(py: Python<'_>, rules_dir: PathBuf) -> PyResult<Vec<Diagnostic>> {
    guard(|| match py.detach(|| Rules::load_dir(&rules_dir)) {
        Ok(rules) => Ok(rules.warnings().iter().map(Diagnostic::from).collect()),
        Err(Error::Rules(diags)) => Ok(diags.iter().map(Diagnostic::from).collect()),
        Err(e) => Err(PyOSError::new_err(e.to_string())),
    })
}

#[pymodule]
fn _leadscore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Scorer>()?;
    m.add_class::<Diagnostic>()?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add("RulesError", py.get_type::<RulesError>())?;
    m.add("LeadError", py.get_type::<LeadError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
