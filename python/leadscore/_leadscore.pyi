"""Type stubs for leadscore's native module (re-exported by ``leadscore``)."""

import datetime
import os
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Union

import pyarrow

__version__: str

AsOf = Union[None, str, datetime.date]
Errors = Literal["raise", "verdict"]

class RulesError(ValueError):
    """The rules could not be loaded; ``diagnostics`` lists every problem."""

    diagnostics: List["Diagnostic"]

class LeadError(ValueError):
    """A lead was refused (a value does not fit its field's declared type)."""

    row: Optional[int]

class Diagnostic:
    """One problem in a rule file: where it is, what is wrong, how to fix it."""

    file: str
    line: int
    column: int
    severity: Literal["error", "warning"]
    message: str
    help: Optional[str]
    rendered: str

class Scorer:
    """Compiled rules, ready to score leads; safe to share between threads."""

    @staticmethod
    def load(rules_dir: Union[str, "os.PathLike[str]"]) -> "Scorer":
        """Loads and compiles a rules folder; raises ``RulesError`` or ``OSError``."""
    @staticmethod
    def from_sources(sources: Mapping[str, str]) -> "Scorer":
        """Compiles rules given as ``{file name: text}``; raises ``RulesError``."""
    @property
    def warnings(self) -> List[Diagnostic]:
        """Warnings found while loading."""
    @property
    def id_field(self) -> str:
        """The field that names a lead (``settings.id_field``)."""
    def score(
        self, lead: Mapping[str, Any], as_of: AsOf = None, errors: Errors = "raise"
    ) -> Dict[str, Any]:
        """Scores one lead; returns the verdict JSON as a dict."""
    def score_many(
        self,
        leads: Iterable[Mapping[str, Any]],
        as_of: AsOf = None,
        errors: Errors = "raise",
    ) -> List[Dict[str, Any]]:
        """Scores leads in order; an id-less lead is named ``row:N``."""
    def explain(self, lead: Mapping[str, Any], as_of: AsOf = None) -> Dict[str, Any]:
        """The verdict plus every rule and stage, matched or not, and why."""
    def score_arrow(
        self, data: Any, as_of: AsOf = None, errors: Errors = "raise"
    ) -> pyarrow.Table:
        """Scores every row of an Arrow table, batch or PyCapsule-exporting object."""
    def score_pandas(self, df: Any, as_of: AsOf = None, errors: Errors = "raise") -> Any:
        """Scores a pandas DataFrame; returns a DataFrame of verdicts, same index."""
    def verdict_schema(self) -> pyarrow.Schema:
        """The schema of the tables ``score_arrow`` returns."""

def check(rules_dir: Union[str, "os.PathLike[str]"]) -> List[Diagnostic]:
    """Every problem in a rules folder (errors and warnings); empty when clean."""
