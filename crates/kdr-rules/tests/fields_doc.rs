//! docs/fields.md lists every field the registry knows (and nothing it does not).

#[test]
fn fields_doc_matches_the_registry() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/fields.md"))
        .expect("docs/fields.md");
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let registry: Vec<&str> = kdr_rules::FIELDS.iter().map(|f| f.name).collect();
    let missing: Vec<_> = registry
        .iter()
        .filter(|f| !documented.contains(f))
        .collect();
    let stale: Vec<_> = documented
        .iter()
        .filter(|f| !registry.contains(f))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/fields.md is out of date (regenerate it with scripts/gen-fields-doc): missing {missing:?}, stale {stale:?}"
    );
}
