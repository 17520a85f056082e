//! The rule parser and loader never panic, whatever text they are given.

use proptest::prelude::*;

use kdr_rules::parser::parse_condition;
use kdr_rules::{RuleSet, Rules};

/// Condition-like text: tokens of the language in random order, so the parser goes deep
/// instead of failing on the first character.
fn condition_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("and".to_string()),
        Just("or".to_string()),
        Just("not".to_string()),
        Just("all".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(",".to_string()),
        Just("=".to_string()),
        Just("!=".to_string()),
        Just("<=".to_string()),
        Just("in".to_string()),
        Just("exists".to_string()),
        Just("contains".to_string()),
        Just("pmatch".to_string()),
        Just("glob".to_string()),
        Just("regex".to_string()),
        Just("ka.verb".to_string()),
        Just("ka.req.pod.containers.env[A]".to_string()),
        Just("proc.aname[2]".to_string()),
        Just("some_macro".to_string()),
        Just("\"quoted ) value\"".to_string()),
        Just("'x".to_string()),
        "[a-z0-9_./*\\[\\]-]{1,12}",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse_condition(&text);
    }

    #[test]
    fn parser_never_panics_on_token_soup(text in condition_text()) {
        let _ = parse_condition(&text);
    }

    #[test]
    fn compiling_token_soup_never_panics(text in condition_text()) {
        let mut set = RuleSet::default();
        let file = format!(
            "- alert: T_X\n  display_name: x\n  plane: audit\n  severity: Low\n  tactics: [Execution]\n  techniques: []\n  description: d\n  remediation: r\n- macro: some_macro\n  condition: ka.verb = get\n- rule: r\n  alert: T_X\n  source: k8s_audit\n  condition: {}\n",
            serde_json::to_string(&text).unwrap()
        );
        let errors = set.load_str("p.yaml", &file);
        if errors.is_empty() {
            let _ = Rules::compile(&set);
        }
    }

    #[test]
    fn loader_never_panics_on_arbitrary_yaml(text in "\\PC{0,400}") {
        let mut set = RuleSet::default();
        let _ = set.load_str("fuzz.yaml", &text);
        let _ = Rules::compile(&set);
    }

    #[test]
    fn loader_never_panics_on_item_shaped_yaml(
        key in prop_oneof![Just("rule"), Just("macro"), Just("list"), Just("alert"), Just("bogus")],
        body in proptest::collection::vec("[a-z_]{1,10}: [\\PC&&[^\\n]]{0,30}", 0..8),
    ) {
        let text = format!("- {key}: x\n{}", body.iter().map(|l| format!("  {l}\n")).collect::<String>());
        let mut set = RuleSet::default();
        let _ = set.load_str("fuzz.yaml", &text);
        let _ = Rules::compile(&set);
    }
}
