//! The tables a query can read: names and typed columns. The store owns the physical tables;
//! this describes them to the compiler (see docs/hunting.md for the storage contract).

/// A KQL scalar type. `Timespan` never appears in a stored table but is the type of
/// expressions such as `Timestamp - ProcessCreationTime` and of timespan literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    String,
    Long,
    Real,
    Bool,
    DateTime,
    Timespan,
    Dynamic,
}

impl ColumnType {
    /// The KQL name of the type, used in error messages.
    pub fn kql_name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Long => "long",
            ColumnType::Real => "real",
            ColumnType::Bool => "bool",
            ColumnType::DateTime => "datetime",
            ColumnType::Timespan => "timespan",
            ColumnType::Dynamic => "dynamic",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Long | ColumnType::Real)
    }

    /// Physical column type in SQLite.
    pub fn sqlite_type(self) -> &'static str {
        match self {
            ColumnType::String | ColumnType::Dynamic => "TEXT",
            ColumnType::Real => "REAL",
            ColumnType::Long | ColumnType::Bool | ColumnType::DateTime | ColumnType::Timespan => {
                "INTEGER"
            }
        }
    }

    /// Physical column type in PostgreSQL.
    pub fn postgres_type(self) -> &'static str {
        match self {
            ColumnType::String => "text",
            ColumnType::Dynamic => "jsonb",
            ColumnType::Real => "double precision",
            ColumnType::Bool => "boolean",
            ColumnType::Long | ColumnType::DateTime | ColumnType::Timespan => "bigint",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// The store never writes NULL into this table's string columns (a missing string is
    /// ''), so they are read as they are: plain column references keep indexes and join
    /// keys usable. Otherwise they are read as `COALESCE(col, '')`.
    pub strings_never_null: bool,
}

impl Table {
    pub fn new(name: &str, columns: &[(&str, ColumnType)]) -> Table {
        Table {
            name: name.to_string(),
            columns: columns
                .iter()
                .map(|(name, ty)| Column {
                    name: name.to_string(),
                    ty: *ty,
                })
                .collect(),
            strings_never_null: false,
        }
    }

    /// Declares that the store writes '' rather than NULL for missing strings.
    pub fn with_strings_never_null(mut self) -> Table {
        self.strings_never_null = true;
        self
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }
}

/// The set of queryable tables. Names are case-sensitive, as in KQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    pub tables: Vec<Table>,
}

pub const PROCESS_EVENTS_TABLE: &str = "CloudProcessEvents";
pub const AUDIT_EVENTS_TABLE: &str = "CloudAuditEvents";

impl Schema {
    pub fn new(tables: Vec<Table>) -> Schema {
        Schema { tables }
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|table| table.name == name)
    }

    /// `CloudProcessEvents` and `CloudAuditEvents` with the columns of the commercial
    /// hunting schema plus kdr's `NodeName`/`ClusterName`.
    pub fn hunting() -> Schema {
        use ColumnType::*;
        Schema::new(vec![
            Table::new(
                PROCESS_EVENTS_TABLE,
                &[
                    ("Timestamp", DateTime),
                    ("ClusterName", String),
                    ("NodeName", String),
                    ("ContainerImageName", String),
                    ("KubernetesNamespace", String),
                    ("KubernetesPodName", String),
                    ("KubernetesResource", String),
                    ("ContainerName", String),
                    ("ContainerId", String),
                    ("ActionType", String),
                    ("FileName", String),
                    ("FolderPath", String),
                    ("ProcessId", Long),
                    ("ProcessName", String),
                    ("ParentProcessName", String),
                    ("ParentProcessId", Long),
                    ("ProcessCommandLine", String),
                    ("ProcessCreationTime", DateTime),
                    ("ProcessCurrentWorkingDirectory", String),
                    ("AccountName", String),
                    ("LogonId", String),
                    ("InitiatingProcessId", Long),
                    ("AdditionalFields", Dynamic),
                ],
            ),
            Table::new(
                AUDIT_EVENTS_TABLE,
                &[
                    ("Timestamp", DateTime),
                    ("ClusterName", String),
                    ("ReportId", String),
                    ("DataSource", String),
                    ("ActionType", String),
                    ("OperationName", String),
                    ("ResourceId", String),
                    ("IPAddress", String),
                    ("IsAnonymousProxy", Bool),
                    ("CountryCode", String),
                    ("City", String),
                    ("Isp", String),
                    ("UserAgent", String),
                    ("RawEventData", Dynamic),
                    ("AdditionalFields", Dynamic),
                ],
            ),
        ])
    }

    /// `CREATE TABLE` statements for SQLite that follow the storage contract. The store may
    /// add columns and indexes; the compiler reads only the columns named here.
    pub fn sqlite_ddl(&self) -> Vec<String> {
        self.ddl(ColumnType::sqlite_type)
    }

    /// `CREATE TABLE` statements for PostgreSQL that follow the storage contract.
    pub fn postgres_ddl(&self) -> Vec<String> {
        self.ddl(ColumnType::postgres_type)
    }

    fn ddl(&self, physical: fn(ColumnType) -> &'static str) -> Vec<String> {
        self.tables
            .iter()
            .map(|table| {
                let columns: Vec<String> = table
                    .columns
                    .iter()
                    .map(|c| format!("{} {}", quote_identifier(&c.name), physical(c.ty)))
                    .collect();
                format!(
                    "CREATE TABLE IF NOT EXISTS {} ({})",
                    quote_identifier(&table.name),
                    columns.join(", ")
                )
            })
            .collect()
    }
}

impl Default for Schema {
    fn default() -> Schema {
        Schema::hunting()
    }
}

/// Quotes an identifier for SQLite and PostgreSQL alike (both follow the SQL standard here).
/// Identifiers reach SQL only after being checked against the schema or the lexer's
/// identifier rule; quoting is the second line of defence.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
