"""The dict path: score, score_many, explain give exactly the CLI's verdicts."""

import datetime
import json
import subprocess

import pytest

import leadscore
from conftest import AS_OF, ROOT, RULES, cli_binary, cli_verdicts, jsonl_leads


def test_score_many_gives_the_cli_verdicts_on_leads_jsonl(scorer):
    got = scorer.score_many(jsonl_leads(), as_of=AS_OF)
    assert got == cli_verdicts("fixtures/leads.jsonl")


def test_score_gives_the_verdict_json_key_for_key(scorer):
    lead = jsonl_leads()[0]
    verdict = scorer.score(lead, as_of=AS_OF)
    expected = cli_verdicts("fixtures/leads.jsonl")[0]
    # Same keys in the same order: the verdict JSON, not a rebuilt dict.
    assert json.dumps(verdict) == json.dumps(expected)


def test_as_of_takes_a_date_or_text(scorer):
    lead = jsonl_leads()[1]
    assert scorer.score(lead, as_of=datetime.date(2026, 11, 27)) == scorer.score(
        lead, as_of="2026-11-27"
    )
    with pytest.raises(ValueError, match="as_of"):
        scorer.score(lead, as_of="27/11/2026")


def test_a_lead_without_an_id_keeps_a_null_id_in_score(scorer):
    assert scorer.score({"budget": 5}, as_of=AS_OF)["id"] is None


def test_explain_gives_the_cli_explanation(scorer):
    lead = jsonl_leads()[2]
    out = subprocess.run(
        [str(cli_binary()), "explain", "--rules", str(RULES), "--as-of", AS_OF,
         "--format", "json"],
        input=json.dumps(lead),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert scorer.explain(lead, as_of=AS_OF) == json.loads(out.stdout)


def test_python_values_are_read_as_their_json_counterparts(scorer):
    lead = {
        "id": "L-9",
        "pain_points": "slow reports",
        "budget": 15000.0,
        "employees": 250,
        "demo_requested": True,
        "pricing_discussed": "yes",
        "last_activity_at": datetime.datetime(2026, 11, 20, 9, 30),
        "tags": ("a", "b"),
        "extra": {"nested": [1, 2.5, None]},
    }
    as_json = dict(lead, last_activity_at="2026-11-20T09:30:00", tags=["a", "b"])
    assert scorer.score(lead, as_of=AS_OF) == scorer.score(as_json, as_of=AS_OF)


def test_load_from_sources_matches_load(scorer):
    sources = leadscore.rule_sources(RULES)
    assert all(name.startswith(str(RULES)) for name in sources)
    from_text = leadscore.Scorer.from_sources(sources)
    leads = jsonl_leads()
    assert from_text.score_many(leads, as_of=AS_OF) == scorer.score_many(leads, as_of=AS_OF)
