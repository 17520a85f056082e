//! The shipped rule files load, compile, and cover the whole catalog.

#[test]
fn shipped_rules_compile() {
    let rules = kdr_rules::load(&[]).unwrap_or_else(|errors| {
        panic!(
            "{}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(rules.catalog.len() >= 69);
    assert!(!rules.rules.is_empty());
}
