//! The benchmark rule folders under `benches/models/` load, lint clean and pass their
//! rule tests, so `benches/e2e.sh` and `benches/instructions.sh` measure working models.

mod common;

use common::{assert_code, leadscore, stderr, stdout};

fn check_and_test(dir: &str, rules: usize, cases: usize) {
    let check = leadscore(&["check", "--rules", dir]);
    assert_code(&check, 0);
    assert_eq!(
        stderr(&check),
        format!("ok {dir}: {rules} rules, 4 stages (0 errors and 0 warnings)\n")
    );
    let test = leadscore(&["test", "--rules", dir]);
    assert_code(&test, 0);
    assert_eq!(stdout(&test), format!("{cases} passed, 0 failed\n"));
}

#[test]
fn twelve_rule_model_loads_and_passes_its_tests() {
    check_and_test("benches/models/twelve", 12, 4);
}

#[test]
fn heavy_model_loads_and_passes_its_tests() {
    check_and_test("benches/models/heavy", 23, 8);
}
