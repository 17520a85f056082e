//! Bad queries get an error at the right line and column that says what was expected.

use kdr_kql::{compile, Dialect, ErrorKind, Limits, Schema};

fn error_of(query: &str) -> kdr_kql::KqlError {
    match compile(
        query,
        &Schema::hunting(),
        Dialect::Sqlite,
        0,
        &Limits::default(),
    ) {
        Ok(compiled) => panic!("expected an error for {query}, got SQL {}", compiled.sql),
        Err(error) => error,
    }
}

#[test]
fn errors_have_positions_and_expectations() {
    let cases: &[(&str, ErrorKind, u32, u32, &str)] = &[
        (
            "CloudProcessEvents | where",
            ErrorKind::Syntax,
            1,
            27,
            "expected an expression after 'where', found the end of the query",
        ),
        (
            "CloudProcessEvents\n| where ProcessName ==",
            ErrorKind::Syntax,
            2,
            23,
            "expected an expression after '=='",
        ),
        (
            "CloudProcessEvents | frobnicate",
            ErrorKind::Unsupported,
            1,
            22,
            "expected an operator after '|'",
        ),
        (
            "CloudProcessEvents | 42",
            ErrorKind::Syntax,
            1,
            22,
            "expected an operator after '|'",
        ),
        (
            "CloudProcessEvents\n  | where ProcessName == \"x\"\n  | project Nope",
            ErrorKind::UnknownColumn,
            3,
            13,
            "unknown column or name 'Nope'",
        ),
        (
            "Processes | take 1",
            ErrorKind::UnknownTable,
            1,
            1,
            "unknown table 'Processes'",
        ),
        (
            "CloudProcessEvents | where frob(ProcessName)",
            ErrorKind::UnknownFunction,
            1,
            28,
            "unknown function 'frob'",
        ),
        (
            "CloudProcessEvents | where ProcessId == \"x\"",
            ErrorKind::Type,
            1,
            38,
            "cannot compare long with string",
        ),
        (
            "CloudProcessEvents | where ProcessName",
            ErrorKind::Type,
            1,
            28,
            "expected a bool expression after 'where'",
        ),
        (
            "CloudProcessEvents | where ProcessName has ProcessName",
            ErrorKind::Type,
            1,
            44,
            "expected a constant string after 'has'",
        ),
        (
            "CloudProcessEvents | where ProcessName matches regex \"(\"",
            ErrorKind::Syntax,
            1,
            54,
            "invalid regular expression",
        ),
        (
            "CloudProcessEvents | where ProcessName == \"unterminated",
            ErrorKind::Syntax,
            1,
            43,
            "expected \" to close the string",
        ),
        (
            "CloudProcessEvents | sort Timestamp",
            ErrorKind::Syntax,
            1,
            27,
            "expected 'by' after 'sort'",
        ),
        (
            "CloudProcessEvents | where Timestamp > ago(1x)",
            ErrorKind::Syntax,
            1,
            44,
            "expected a timespan unit",
        ),
        (
            "CloudProcessEvents | where Timestamp > datetime(yesterday)",
            ErrorKind::Syntax,
            1,
            40,
            "expected a datetime",
        ),
        (
            "CloudProcessEvents | summarize strlen(ProcessName)",
            ErrorKind::Syntax,
            1,
            32,
            "expected an aggregation function",
        ),
        (
            "CloudProcessEvents | where count() > 1",
            ErrorKind::Syntax,
            1,
            28,
            "only allowed in summarize",
        ),
        (
            "CloudProcessEvents | summarize sum(strlen(ProcessName))",
            ErrorKind::Syntax,
            1,
            32,
            "expected a name for this aggregation",
        ),
        (
            "CloudProcessEvents | join kind=fullouter CloudAuditEvents on ClusterName",
            ErrorKind::Unsupported,
            1,
            32,
            "expected a join kind",
        ),
        (
            "CloudProcessEvents | join kind=inner CloudAuditEvents on Timestamp, ProcessId",
            ErrorKind::UnknownColumn,
            1,
            69,
            "unknown column or name 'ProcessId'",
        ),
        (
            "CloudProcessEvents | mv-expand RawEventData.x",
            ErrorKind::UnknownColumn,
            1,
            32,
            "unknown column or name 'RawEventData'",
        ),
        (
            "CloudAuditEvents | mv-expand RawEventData.x",
            ErrorKind::Unsupported,
            1,
            42,
            "expected a name for the expanded value",
        ),
        (
            "CloudProcessEvents | where ProcessName.x == 1",
            ErrorKind::Type,
            1,
            39,
            "property access needs a dynamic value",
        ),
        (
            "CloudProcessEvents | where ProcessName has_cs \"x\"",
            ErrorKind::Unsupported,
            1,
            40,
            "has_cs",
        ),
        (
            "CloudProcessEvents | take ProcessId",
            ErrorKind::Type,
            1,
            27,
            "expected a constant number of rows",
        ),
        (
            "CloudProcessEvents | summarize count() by bin(Timestamp, 0s)",
            ErrorKind::Type,
            1,
            58,
            "expected a bin size > 0",
        ),
        (
            "CloudProcessEvents | union CloudAuditEvents | where IsAnonymousProxy",
            ErrorKind::Syntax,
            0,
            0,
            "",
        ),
        (
            "let x = 5m\nCloudProcessEvents",
            ErrorKind::Syntax,
            2,
            1,
            "expected ';' after the let statement",
        ),
        ("", ErrorKind::Syntax, 1, 1, "expected a tabular expression"),
        (
            "CloudProcessEvents | where ProcessName == 'a' )",
            ErrorKind::Syntax,
            1,
            47,
            "expected '|' or the end of the query",
        ),
        (
            "CloudProcessEvents | project ProcessName, ProcessName",
            ErrorKind::Syntax,
            1,
            43,
            "projected twice",
        ),
        (
            "CloudProcessEvents | where ProcessName == \"a\" ; DROP TABLE x",
            ErrorKind::Syntax,
            1,
            49,
            "expected '|' or the end of the query",
        ),
    ];
    for (query, kind, line, column, message) in cases {
        if *line == 0 {
            // A valid query listed to make sure the neighbours above are errors for their own reason.
            compile(
                query,
                &Schema::hunting(),
                Dialect::Sqlite,
                0,
                &Limits::default(),
            )
            .unwrap();
            continue;
        }
        let error = error_of(query);
        assert_eq!(
            (error.kind, error.line(), error.column()),
            (*kind, *line, *column),
            "{query}: {error}"
        );
        assert!(
            error.message.contains(message),
            "{query}: message {:?} lacks {message:?}",
            error.message
        );
    }
}

#[test]
fn error_display_names_line_and_column() {
    let error = error_of("CloudProcessEvents\n| where ProcessName ==");
    assert_eq!(
        error.to_string(),
        "line 2, column 23: expected an expression after '==', found the end of the query"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let query = format!(
        "CloudProcessEvents | where {}true{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert_eq!(error_of(&query).kind, ErrorKind::Unsupported);
    let negations = format!(
        "CloudProcessEvents | where ProcessId == {}1",
        "-".repeat(10_000)
    );
    assert_eq!(error_of(&negations).kind, ErrorKind::Unsupported);
}
