"""Errors: broken rules with file:line:col, a bad value, a Rhai rule that loops."""

import pytest

import leadscore
from conftest import AS_OF, ROOT, cli_verdicts

BAD = ROOT / "fixtures" / "bad_rules"
LOOPING = ROOT / "fixtures" / "looping_rules"


def test_broken_rules_raise_rules_error_listing_every_problem():
    with pytest.raises(leadscore.RulesError) as caught:
        leadscore.Scorer.load(BAD)
    diags = caught.value.diagnostics
    errors = [d for d in diags if d.severity == "error"]
    warnings = [d for d in diags if d.severity == "warning"]
    assert (len(errors), len(warnings)) == (8, 1)  # as `leadscore check` counts them
    first = diags[0]
    assert (first.file, first.line, first.column) == (f"{BAD}/a_fields.yaml", 3, 18)
    assert first.message == "unknown field type `strng`"
    assert first.help == "did you mean `string`?"
    assert f"--> {BAD}/a_fields.yaml:3:18" in first.rendered
    assert f"{BAD}/a_fields.yaml:3:18" in str(caught.value)


def test_check_renders_what_the_cli_prints():
    import os

    here = os.getcwd()
    os.chdir(ROOT)
    try:
        rendered = "\n".join(d.rendered for d in leadscore.check("fixtures/bad_rules"))
    finally:
        os.chdir(here)
    expected = (ROOT / "fixtures" / "expected" / "bad_rules.txt").read_text()
    # The golden file is `leadscore check` output: every diagnostic, then a summary.
    for block in rendered.split("\n\n"):
        assert block.strip() in expected


def test_check_of_clean_rules_is_empty_and_a_missing_folder_is_an_os_error():
    assert [d for d in leadscore.check(ROOT / "rules") if d.severity == "error"] == []
    with pytest.raises(OSError):
        leadscore.check(ROOT / "no-such-folder")
    with pytest.raises(OSError):
        leadscore.Scorer.load(ROOT / "no-such-folder")


def test_rules_from_text_report_the_given_file_name():
    with pytest.raises(leadscore.RulesError) as caught:
        leadscore.Scorer.from_sources(
            {"team/bant.yaml": "rules:\n  - id: x\n    when: { field: budget, gte: }\n"}
        )
    d = caught.value.diagnostics[0]
    assert d.file == "team/bant.yaml" and d.line >= 1 and d.column >= 1


def test_a_bad_value_raises_lead_error_naming_the_field(scorer):
    with pytest.raises(leadscore.LeadError, match="budget") as caught:
        scorer.score({"id": "L-1", "budget": "lots"}, as_of=AS_OF)
    assert caught.value.row is None
    with pytest.raises(leadscore.LeadError, match="row 1: .*budget") as caught:
        scorer.score_many([{"id": "a"}, {"id": "b", "budget": "lots"}], as_of=AS_OF)
    assert caught.value.row == 1


def test_a_bad_value_becomes_an_errors_entry_on_request(scorer):
    verdict = scorer.score({"id": "L-1", "budget": "lots"}, as_of=AS_OF, errors="verdict")
    assert [e["rule"] for e in verdict["errors"]] == ["field:budget"]
    assert "lots" in verdict["errors"][0]["message"]
    with pytest.raises(ValueError, match="errors must be"):
        scorer.score({"id": "L-1"}, errors="ignore")


def test_not_a_mapping_is_a_lead_error(scorer):
    with pytest.raises(leadscore.LeadError, match="mapping"):
        scorer.score(["budget", 1])
    with pytest.raises(leadscore.LeadError, match="field `budget`"):
        scorer.score({"budget": object()})


def test_a_rhai_rule_that_loops_is_an_error_entry_and_the_lead_is_scored():
    looping = leadscore.Scorer.load(LOOPING)
    got = looping.score_many([{"id": "L-1", "email": "a@b.co"}], as_of=AS_OF)[0]
    assert got["score"] == 10
    assert "spins_forever" in [e["rule"] for e in got["errors"]]
    table = looping.score_arrow(
        __import__("pyarrow").table({"id": ["L-1"], "email": ["a@b.co"]}), as_of=AS_OF
    )
    assert "spins_forever" in [e["rule"] for e in table.column("errors")[0].as_py()]


def test_looping_rules_give_the_cli_verdicts():
    looping = leadscore.Scorer.load(LOOPING)
    from conftest import jsonl_leads

    expected = cli_verdicts("fixtures/leads.jsonl", rules=LOOPING)
    assert looping.score_many(jsonl_leads(), as_of=AS_OF) == expected
