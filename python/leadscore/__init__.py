"""leadscore: rule-based lead qualification from Python.

Load a rules folder once, then score leads as dicts, Arrow tables (pyarrow, Polars,
DuckDB), pandas DataFrames or Spark DataFrames (``leadscore.spark``). Every verdict is
exactly what ``leadscore score`` prints for the same rules, lead and as-of date.

>>> import leadscore
>>> scorer = leadscore.Scorer.load("rules")                      # doctest: +SKIP
>>> scorer.score({"id": "L-1", "budget": 25000}, as_of="2026-01-15")["stage"]  # doctest: +SKIP
'lead'
"""

from leadscore._leadscore import (
    Diagnostic,
    LeadError,
    RulesError,
    Scorer,
    __version__,
    check,
)

__all__ = [
    "Diagnostic",
    "LeadError",
    "RulesError",
    "Scorer",
    "__version__",
    "check",
    "rule_sources",
]


def rule_sources(rules_dir):
    """The rule files of a folder as ``{path: text}``, ready for ``Scorer.from_sources``.

    Reads the files ``Scorer.load`` reads: ``*.yaml``, ``*.yml`` and ``*.rhai`` directly
    in the folder, hidden files left out. Paths keep the folder name, so diagnostics name the same files.
    """
    import os

    sources = {}
    for name in sorted(os.listdir(rules_dir)):
        path = os.path.join(rules_dir, name)
        rule_file = name.endswith((".yaml", ".yml", ".rhai")) and not name.startswith(".")
        if rule_file and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                sources[path] = f.read()
    return sources
