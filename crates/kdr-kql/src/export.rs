//! A result set as people and other tools read it: datetimes in RFC 3339, CSV, JSON objects.

use serde_json::Value as Json;

use crate::schema::ColumnType;
use crate::sqlite::ResultSet;
use crate::time::format_datetime;

impl ResultSet {
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// The rows with datetimes (stored as nanoseconds) written as RFC 3339 strings.
    pub fn display_rows(&self) -> Vec<Vec<Json>> {
        self.rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&self.columns)
                    .map(|(value, column)| match (column.ty, value.as_i64()) {
                        (ColumnType::DateTime, Some(ns)) => Json::String(format_datetime(ns)),
                        _ => value.clone(),
                    })
                    .collect()
            })
            .collect()
    }

    /// One JSON object per row, keyed by column name.
    pub fn json_objects(&self) -> Vec<serde_json::Map<String, Json>> {
        let names = self.column_names();
        self.display_rows()
            .into_iter()
            .map(|row| {
                names
                    .iter()
                    .zip(row)
                    .map(|(name, value)| ((*name).to_owned(), value))
                    .collect()
            })
            .collect()
    }

    /// RFC 4180 CSV with a header row.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.column_names().iter().map(|n| csv_field(n)).collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        for row in self.display_rows() {
            let fields: Vec<String> = row.iter().map(|v| csv_field(&cell_text(v))).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

/// A cell as plain text: strings as they are, null as empty, the rest as JSON.
pub fn cell_text(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(field: &str) -> String {
    // A leading =, +, - or @ makes spreadsheets evaluate the cell: quote it with a ' so an
    // attacker's command line cannot become a formula in an analyst's spreadsheet.
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let result = ResultSet {
            columns: vec![
                Column {
                    name: "Timestamp".into(),
                    ty: ColumnType::DateTime,
                },
                Column {
                    name: "ProcessCommandLine".into(),
                    ty: ColumnType::String,
                },
            ],
            rows: vec![
                vec![Json::from(0), Json::from("sh -c \"id\", x")],
                vec![Json::from(1_000_000_000), Json::from("=HYPERLINK(\"x\")")],
            ],
            truncated: false,
        };
        assert_eq!(
            result.to_csv(),
            "Timestamp,ProcessCommandLine\r\n\
             1970-01-01T00:00:00Z,\"sh -c \"\"id\"\", x\"\r\n\
             1970-01-01T00:00:01Z,\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
        assert_eq!(
            result.json_objects()[0]["Timestamp"],
            Json::from("1970-01-01T00:00:00Z")
        );
    }
}
