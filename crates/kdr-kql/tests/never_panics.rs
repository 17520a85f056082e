//! Arbitrary query text never panics the lexer, parser or compiler.

use kdr_kql::{compile, Dialect, Limits, Schema};
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "CloudProcessEvents",
    "CloudAuditEvents",
    "|",
    "where",
    "project",
    "extend",
    "summarize",
    "by",
    "count()",
    "bin(Timestamp, 1h)",
    "sort",
    "order",
    "top",
    "take",
    "10",
    "distinct",
    "join",
    "kind=inner",
    "kind=leftouter",
    "on",
    "$left.",
    "$right.",
    "==",
    "=~",
    "!=",
    "has",
    "!has",
    "contains",
    "in",
    "in~",
    "!in",
    "between",
    "(",
    ")",
    "..",
    ",",
    ";",
    "let",
    "x",
    "=",
    "\"curl\"",
    "'a'",
    "RawEventData",
    ".",
    "[",
    "]",
    "0",
    "-1",
    "ago(1d)",
    "now()",
    "datetime(2024-01-01)",
    "arg_max(Timestamp, *)",
    "make_set(ProcessName)",
    "mv-expand",
    "union",
    "and",
    "or",
    "not(",
    "tolower(",
    "ProcessName",
    "ProcessId",
    "Timestamp",
    "+",
    "-",
    "*",
    "/",
    "%",
    "matches regex",
    "1.5",
    "5m",
    "asc",
    "desc",
    "nulls first",
    "project-away",
    "toint(",
    "tostring(",
    "parse_json(",
    "isempty(",
];

fn check(text: &str) {
    let schema = Schema::hunting();
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let _ = compile(text, &schema, dialect, 0, &Limits::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn arbitrary_token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..30)) {
        check(&parts.join(" "));
    }
}
