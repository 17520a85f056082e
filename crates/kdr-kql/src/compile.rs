//! Semantic analysis and SQL generation.
//!
//! Each tabular operator wraps the previous relation as a subquery (`SELECT ... FROM (prev)
//! AS tN`), so every operator sees exactly the columns KQL says it sees. Identifiers come
//! from the schema or from names the query created (which the lexer restricts to
//! `[A-Za-z_][A-Za-z0-9_]*`) and are always quoted. Every value from the query text (strings,
//! numbers, datetimes, JSON paths, regexes) is bound as a parameter.
//!
//! KQL orders rows only after `sort`/`top`; SQL subqueries do not keep order. After a sort
//! the relation carries a hidden `__kql_ord` column (a `ROW_NUMBER()`), which order-keeping
//! operators pass along and the outermost query orders by.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::ast::*;
use crate::error::{ErrorKind, KqlError, Result};
use crate::schema::{quote_identifier, Column, ColumnType, Schema};

/// Which SQL to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite ≥ 3.38 with kdr's functions registered (`register_sqlite_functions`).
    Sqlite,
    /// PostgreSQL ≥ 12.
    Postgres,
}

/// A parameter value. PostgreSQL placeholders carry a cast (`$1::text`) that matches the
/// variant, so the store binds `Text` as a string, `Integer` as i64, `Real` as f64 and `Bool`
/// as bool.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Bool(bool),
}

/// Limits the store enforces on every query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Rows returned at most. The compiled SQL fetches one row more so the runner can tell
    /// that the result was cut.
    pub max_rows: usize,
    /// Wall-clock budget for executing the query. `run_sqlite` enforces it with a progress
    /// handler; on PostgreSQL the store sets `statement_timeout` to it.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_rows: 10_000,
            timeout: Duration::from_secs(30),
        }
    }
}

/// SQL ready to run: placeholders `?1..` (SQLite) or `$1..` (PostgreSQL) refer to `params`
/// in order; `columns` are the result columns with their KQL types.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledQuery {
    pub sql: String,
    pub params: Vec<SqlValue>,
    pub columns: Vec<Column>,
    pub dialect: Dialect,
    /// Rows to keep; the SQL returns up to `max_rows + 1` so that truncation is visible.
    pub max_rows: usize,
    pub timeout: Duration,
}

/// Parses and compiles a query. `now_ns` is the value of `now()` (and the base of `ago()`)
/// for the whole query, in nanoseconds since the Unix epoch.
pub fn compile(
    query: &str,
    schema: &Schema,
    dialect: Dialect,
    now_ns: i64,
    limits: &Limits,
) -> Result<CompiledQuery> {
    let parsed = crate::parser::parse(query)?;
    compile_query(&parsed, schema, dialect, now_ns, limits)
}

/// Compiles an already parsed query.
pub fn compile_query(
    query: &Query,
    schema: &Schema,
    dialect: Dialect,
    now_ns: i64,
    limits: &Limits,
) -> Result<CompiledQuery> {
    let mut compiler = Compiler {
        schema,
        dialect,
        now_ns,
        params: Vec::new(),
        lets: Vec::new(),
        visible_lets: 0,
        alias_counter: 0,
        sqlite_json_accesses: HashMap::new(),
    };
    for binding in &query.lets {
        compiler.lets.push(binding.clone());
    }
    compiler.visible_lets = compiler.lets.len();
    let relation = compiler.tabular(&query.body)?;
    let alias = compiler.new_alias();
    let outputs: Vec<String> = relation
        .columns
        .iter()
        .map(|column| {
            format!(
                "{} AS {}",
                compiler.column_ref(&alias, column),
                quote_identifier(&column.name)
            )
        })
        .collect();
    let order = if relation.ordered {
        format!(" ORDER BY {alias}.{ORDER_COLUMN}")
    } else {
        String::new()
    };
    let fetch = i64::try_from(limits.max_rows.saturating_add(1)).unwrap_or(i64::MAX);
    let limit_placeholder = compiler.bind(SqlValue::Integer(fetch));
    let sql = format!(
        "SELECT {} FROM ({}) AS {alias}{order} LIMIT {limit_placeholder}",
        select_list(&outputs),
        relation.sql
    );
    Ok(CompiledQuery {
        sql,
        params: compiler.params,
        columns: relation.columns,
        dialect,
        max_rows: limits.max_rows,
        timeout: limits.timeout,
    })
}

const ORDER_COLUMN: &str = "\"__kql_ord\"";

fn select_list(items: &[String]) -> String {
    if items.is_empty() {
        // A relation without columns (e.g. `project-away` of everything) still has rows.
        "NULL AS \"__kql_empty\"".to_string()
    } else {
        items.join(", ")
    }
}

/// A compiled tabular expression: a complete SELECT and its visible columns.
struct Relation {
    sql: String,
    columns: Vec<Column>,
    /// Whether the SELECT also returns the hidden order column.
    ordered: bool,
}

/// A compiled scalar expression.
#[derive(Clone, Debug)]
struct Typed {
    sql: String,
    ty: ColumnType,
}

/// One step of a dynamic access chain as written: `.key` or `[expr]`.
enum AccessStep<'e> {
    Key(&'e String),
    Index(&'e Expr),
}

/// One step of a dynamic access chain, resolved: a property name or an array position
/// (negative: from the end).
enum PathStep {
    Key(String),
    Position(i64),
}

/// The columns an expression may reference and the alias that qualifies them.
struct Scope<'a> {
    columns: &'a [Column],
    alias: &'a str,
}

struct Compiler<'a> {
    schema: &'a Schema,
    dialect: Dialect,
    now_ns: i64,
    params: Vec<SqlValue>,
    lets: Vec<Let>,
    /// A `let` may only use the lets before it; this bounds the lookup while one is compiled.
    visible_lets: usize,
    alias_counter: usize,
    /// SQLite dynamic accesses compiled so far: the SQL `(base -> ?n)` of each, with its base
    /// and path, so that converting the value (`tostring`, comparisons) asks the JSON
    /// functions for it by path on the base (one parse of the base, cached between the calls)
    /// instead of writing the value out as JSON text and parsing that again.
    sqlite_json_accesses: HashMap<String, (String, String)>,
}

fn error(kind: ErrorKind, pos: Pos, message: impl Into<String>) -> KqlError {
    KqlError::new(kind, pos, message)
}

fn type_error(pos: Pos, message: impl Into<String>) -> KqlError {
    KqlError::new(ErrorKind::Type, pos, message)
}

impl Compiler<'_> {
    fn new_alias(&mut self) -> String {
        self.alias_counter += 1;
        format!("t{}", self.alias_counter)
    }

    /// Binds a value and returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        let cast = match (&value, self.dialect) {
            (_, Dialect::Sqlite) => "",
            (SqlValue::Integer(_), Dialect::Postgres) => "::bigint",
            (SqlValue::Real(_), Dialect::Postgres) => "::double precision",
            (SqlValue::Text(_), Dialect::Postgres) => "::text",
            (SqlValue::Bool(_), Dialect::Postgres) => "::boolean",
        };
        let value = match (value, self.dialect) {
            (SqlValue::Bool(flag), Dialect::Sqlite) => SqlValue::Integer(i64::from(flag)),
            (value, _) => value,
        };
        self.params.push(value);
        let number = self.params.len();
        match self.dialect {
            Dialect::Sqlite => format!("?{number}"),
            Dialect::Postgres => format!("${number}{cast}"),
        }
    }

    /// A column reference. String columns are never NULL by the time they are referenced:
    /// table scans, outer joins and unions fill in ''.
    fn column_ref(&self, alias: &str, column: &Column) -> String {
        format!("{alias}.{}", quote_identifier(&column.name))
    }

    fn lookup_let(&self, name: &str) -> Option<(usize, &Let)> {
        self.lets[..self.visible_lets]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, binding)| binding.name.name == name)
    }

    // ----- tabular expressions -----

    fn tabular(&mut self, tabular: &Tabular) -> Result<Relation> {
        let mut relation = self.source(&tabular.source)?;
        for operator in &tabular.operators {
            relation = self.operator(relation, operator)?;
        }
        Ok(relation)
    }

    fn source(&mut self, source: &Source) -> Result<Relation> {
        match source {
            Source::Name(name) => self.named_source(name),
            Source::Nested(inner) => self.tabular(inner),
            Source::Union { pos, parts } => {
                let relations = parts
                    .iter()
                    .map(|part| self.tabular(part))
                    .collect::<Result<Vec<_>>>()?;
                self.union(*pos, relations)
            }
        }
    }

    fn named_source(&mut self, name: &Ident) -> Result<Relation> {
        if let Some((index, binding)) = self.lookup_let(&name.name) {
            let binding = binding.clone();
            let saved = self.visible_lets;
            self.visible_lets = index;
            let result = match &binding.value {
                LetValue::Tabular(tabular) => self.tabular(tabular),
                LetValue::Scalar(Expr {
                    kind: ExprKind::Name(table),
                    pos,
                }) => self.named_source(&Ident {
                    name: table.clone(),
                    pos: *pos,
                }),
                LetValue::Scalar(_) => Err(type_error(
                    name.pos,
                    format!("'{}' is a scalar, expected a table", name.name),
                )),
            };
            self.visible_lets = saved;
            return result;
        }
        let Some(table) = self.schema.table(&name.name) else {
            let known: Vec<&str> = self.schema.tables.iter().map(|t| t.name.as_str()).collect();
            return Err(error(
                ErrorKind::UnknownTable,
                name.pos,
                format!(
                    "unknown table '{}', expected one of: {}",
                    name.name,
                    known.join(", ")
                ),
            ));
        };
        let alias = self.new_alias();
        // KQL strings are never null: a store that may hold NULL has it read as '' here,
        // once, so every later reference is a plain column.
        let items: Vec<String> = table
            .columns
            .iter()
            .map(|c| {
                let reference = format!("{alias}.{}", quote_identifier(&c.name));
                if c.ty == ColumnType::String && !table.strings_never_null {
                    format!("COALESCE({reference}, '') AS {}", quote_identifier(&c.name))
                } else {
                    reference
                }
            })
            .collect();
        Ok(Relation {
            sql: format!(
                "SELECT {} FROM {} AS {alias}",
                select_list(&items),
                quote_identifier(&table.name)
            ),
            columns: table.columns.clone(),
            ordered: false,
        })
    }

    /// `SELECT items [, order] FROM (input) AS alias rest`.
    fn wrap(
        &self,
        input: &Relation,
        alias: &str,
        mut items: Vec<String>,
        columns: Vec<Column>,
        keep_order: bool,
        rest: &str,
    ) -> Relation {
        let ordered = keep_order && input.ordered;
        if ordered {
            items.push(format!("{alias}.{ORDER_COLUMN}"));
        }
        Relation {
            sql: format!(
                "SELECT {} FROM ({}) AS {alias}{rest}",
                select_list(&items),
                input.sql
            ),
            columns,
            ordered,
        }
    }

    fn pass_through(&self, alias: &str, columns: &[Column]) -> Vec<String> {
        columns
            .iter()
            .map(|c| format!("{alias}.{}", quote_identifier(&c.name)))
            .collect()
    }

    fn operator(&mut self, input: Relation, operator: &Operator) -> Result<Relation> {
        let pos = operator.pos;
        match &operator.kind {
            OperatorKind::Where(condition) => {
                let alias = self.new_alias();
                let scope = Scope {
                    columns: &input.columns,
                    alias: &alias,
                };
                let compiled = self.expr(condition, &scope)?;
                if compiled.ty != ColumnType::Bool {
                    return Err(type_error(
                        condition.pos,
                        format!(
                            "expected a bool expression after 'where', found a {} expression",
                            compiled.ty.kql_name()
                        ),
                    ));
                }
                let items = self.pass_through(&alias, &input.columns);
                let columns = input.columns.clone();
                Ok(self.wrap(
                    &input,
                    &alias,
                    items,
                    columns,
                    true,
                    &format!(" WHERE {}", compiled.sql),
                ))
            }
            OperatorKind::Project(items) => self.project(input, items),
            OperatorKind::ProjectAway(names) => {
                for name in names {
                    if !input.columns.iter().any(|c| c.name == name.name) {
                        return Err(unknown_column(name, &input.columns));
                    }
                }
                let columns: Vec<Column> = input
                    .columns
                    .iter()
                    .filter(|c| !names.iter().any(|n| n.name == c.name))
                    .cloned()
                    .collect();
                let alias = self.new_alias();
                let items = self.pass_through(&alias, &columns);
                Ok(self.wrap(&input, &alias, items, columns, true, ""))
            }
            OperatorKind::Extend(items) => {
                let mut relation = input;
                let mut unnamed = 0;
                for item in items {
                    relation = self.extend_one(relation, item, &mut unnamed)?;
                }
                Ok(relation)
            }
            OperatorKind::Summarize { aggregates, by } => {
                self.summarize(input, pos, aggregates, by)
            }
            OperatorKind::Sort(keys) => self.sort(input, keys),
            OperatorKind::Top { count, key } => {
                let sorted = self.sort(input, std::slice::from_ref(key))?;
                self.take(sorted, count)
            }
            OperatorKind::Take(count) => self.take(input, count),
            OperatorKind::Distinct(names) => {
                let columns: Vec<Column> = if names.is_empty() {
                    input.columns.clone()
                } else {
                    let mut chosen = Vec::new();
                    for name in names {
                        let Some(column) = input.columns.iter().find(|c| c.name == name.name)
                        else {
                            return Err(unknown_column(name, &input.columns));
                        };
                        chosen.push(column.clone());
                    }
                    chosen
                };
                let alias = self.new_alias();
                let items = self.pass_through(&alias, &columns);
                let mut relation = self.wrap(&input, &alias, items, columns, false, "");
                relation.sql = relation.sql.replacen("SELECT ", "SELECT DISTINCT ", 1);
                Ok(relation)
            }
            OperatorKind::Count => {
                let alias = self.new_alias();
                Ok(self.wrap(
                    &input,
                    &alias,
                    vec!["COUNT(*) AS \"Count\"".to_string()],
                    vec![Column {
                        name: "Count".to_string(),
                        ty: ColumnType::Long,
                    }],
                    false,
                    "",
                ))
            }
            OperatorKind::Join { kind, right, on } => {
                let right_relation = self.tabular(right)?;
                self.join(input, right_relation, *kind, on)
            }
            OperatorKind::Union(parts) => {
                let mut relations = vec![input];
                for part in parts {
                    relations.push(self.tabular(part)?);
                }
                self.union(pos, relations)
            }
            OperatorKind::MvExpand(items) => self.mv_expand(input, pos, items),
        }
    }

    fn project(&mut self, input: Relation, items: &[NamedExpr]) -> Result<Relation> {
        let alias = self.new_alias();
        let scope = Scope {
            columns: &input.columns,
            alias: &alias,
        };
        let mut selected = Vec::new();
        let mut columns: Vec<Column> = Vec::new();
        let mut unnamed = 0;
        for item in items {
            let compiled = self.expr(&item.expr, &scope)?;
            let (name, pos) = output_name(item, &mut unnamed);
            if columns.iter().any(|c| c.name == name) {
                return Err(error(
                    ErrorKind::Syntax,
                    pos,
                    format!("column '{name}' is projected twice"),
                ));
            }
            selected.push(format!("{} AS {}", compiled.sql, quote_identifier(&name)));
            columns.push(Column {
                name,
                ty: compiled.ty,
            });
        }
        Ok(self.wrap(&input, &alias, selected, columns, true, ""))
    }

    fn extend_one(
        &mut self,
        input: Relation,
        item: &NamedExpr,
        unnamed: &mut usize,
    ) -> Result<Relation> {
        let alias = self.new_alias();
        let scope = Scope {
            columns: &input.columns,
            alias: &alias,
        };
        let compiled = self.expr(&item.expr, &scope)?;
        let (name, _) = output_name(item, unnamed);
        let mut items = Vec::new();
        let mut columns = Vec::new();
        let mut replaced = false;
        for column in &input.columns {
            if column.name == name {
                items.push(format!("{} AS {}", compiled.sql, quote_identifier(&name)));
                columns.push(Column {
                    name: name.clone(),
                    ty: compiled.ty,
                });
                replaced = true;
            } else {
                items.push(format!("{alias}.{}", quote_identifier(&column.name)));
                columns.push(column.clone());
            }
        }
        if !replaced {
            items.push(format!("{} AS {}", compiled.sql, quote_identifier(&name)));
            columns.push(Column {
                name,
                ty: compiled.ty,
            });
        }
        Ok(self.wrap(&input, &alias, items, columns, true, ""))
    }

    fn take(&mut self, input: Relation, count: &Expr) -> Result<Relation> {
        let Some(rows) = self.constant_long(count) else {
            return Err(type_error(
                count.pos,
                "expected a constant number of rows (a long literal or let)",
            ));
        };
        if rows < 0 {
            return Err(type_error(count.pos, "expected a number of rows ≥ 0"));
        }
        let alias = self.new_alias();
        let placeholder = self.bind(SqlValue::Integer(rows));
        let order = if input.ordered {
            format!(" ORDER BY {alias}.{ORDER_COLUMN}")
        } else {
            String::new()
        };
        let items = self.pass_through(&alias, &input.columns);
        let columns = input.columns.clone();
        Ok(self.wrap(
            &input,
            &alias,
            items,
            columns,
            true,
            &format!("{order} LIMIT {placeholder}"),
        ))
    }

    fn sort(&mut self, input: Relation, keys: &[SortKey]) -> Result<Relation> {
        let alias = self.new_alias();
        let scope = Scope {
            columns: &input.columns,
            alias: &alias,
        };
        let mut order_terms = Vec::new();
        for key in keys {
            let compiled = self.expr(&key.expr, &scope)?;
            if compiled.ty == ColumnType::Dynamic {
                return Err(type_error(
                    key.expr.pos,
                    "cannot sort by a dynamic value; convert it first (tostring(), tolong())",
                ));
            }
            let collated = self.collate_for_order(&compiled);
            order_terms.push(format!(
                "{collated} {} NULLS {}",
                if key.descending { "DESC" } else { "ASC" },
                if key.effective_nulls_first() {
                    "FIRST"
                } else {
                    "LAST"
                }
            ));
        }
        let mut items = self.pass_through(&alias, &input.columns);
        items.push(format!(
            "ROW_NUMBER() OVER (ORDER BY {}) AS {ORDER_COLUMN}",
            order_terms.join(", ")
        ));
        let columns = input.columns.clone();
        let mut relation = self.wrap(&input, &alias, items, columns, false, "");
        relation.ordered = true;
        Ok(relation)
    }

    /// Strings order by code point in both dialects (SQLite's BINARY; PostgreSQL's "C").
    fn collate_for_order(&self, typed: &Typed) -> String {
        if typed.ty == ColumnType::String && self.dialect == Dialect::Postgres {
            format!("({} COLLATE \"C\")", typed.sql)
        } else {
            typed.sql.clone()
        }
    }

    fn summarize(
        &mut self,
        input: Relation,
        pos: Pos,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
    ) -> Result<Relation> {
        let alias = self.new_alias();
        let scope = Scope {
            columns: &input.columns,
            alias: &alias,
        };
        let mut key_items = Vec::new();
        let mut key_sqls = Vec::new();
        let mut columns: Vec<Column> = Vec::new();
        let mut unnamed = 0;
        for key in by {
            let compiled = self.expr(&key.expr, &scope)?;
            let (name, name_pos) = by_name(key, &mut unnamed);
            push_unique(&mut columns, name.clone(), compiled.ty, name_pos)?;
            key_items.push(format!("{} AS {}", compiled.sql, quote_identifier(&name)));
            key_sqls.push(compiled.sql);
        }
        let arg_extreme = aggregates.iter().any(|a| {
            matches!(&a.expr.kind, ExprKind::Call { name, .. } if name == "arg_max" || name == "arg_min")
        });
        if arg_extreme {
            if aggregates.len() != 1 {
                return Err(error(
                    ErrorKind::Unsupported,
                    pos,
                    "arg_max()/arg_min() must be the only aggregation of its summarize",
                ));
            }
            return self.summarize_arg_extreme(input, &alias, &aggregates[0], key_sqls, columns);
        }
        let mut items = key_items;
        for aggregate in aggregates {
            let (sql, name, ty) = self.aggregate(aggregate, &scope)?;
            let name_pos = aggregate
                .name
                .as_ref()
                .map(|n| n.pos)
                .unwrap_or(aggregate.expr.pos);
            push_unique(&mut columns, name.clone(), ty, name_pos)?;
            items.push(format!("{sql} AS {}", quote_identifier(&name)));
        }
        let group_by = if key_sqls.is_empty() {
            String::new()
        } else {
            let positions: Vec<String> = (1..=key_sqls.len()).map(|i| i.to_string()).collect();
            format!(" GROUP BY {}", positions.join(", "))
        };
        Ok(self.wrap(&input, &alias, items, columns, false, &group_by))
    }

    fn aggregate(
        &mut self,
        aggregate: &NamedExpr,
        scope: &Scope,
    ) -> Result<(String, String, ColumnType)> {
        let ExprKind::Call {
            name: function,
            args,
        } = &aggregate.expr.kind
        else {
            return Err(error(
                ErrorKind::Syntax,
                aggregate.expr.pos,
                "expected an aggregation function (count(), dcount(), sum(), avg(), min(), max(), make_set(), arg_max(), countif()) in summarize",
            ));
        };
        let pos = aggregate.expr.pos;
        let expect_args = |count: usize| -> Result<()> {
            if args.len() == count {
                Ok(())
            } else {
                Err(type_error(
                    pos,
                    format!(
                        "{function}() expects {count} argument(s), found {}",
                        args.len()
                    ),
                ))
            }
        };
        let default_name = |prefix: &str| -> Result<String> {
            match aggregate.name.as_ref() {
                Some(name) => Ok(name.name.clone()),
                None => match args.first().and_then(inferred_name) {
                    Some(column) => Ok(format!("{prefix}_{column}")),
                    None => Err(error(
                        ErrorKind::Syntax,
                        pos,
                        format!("expected a name for this aggregation (Name = {function}(...)): its argument is not a column"),
                    )),
                },
            }
        };
        let postgres = self.dialect == Dialect::Postgres;
        match function.as_str() {
            "count" => {
                expect_args(0)?;
                let name = aggregate
                    .name
                    .as_ref()
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| "count_".to_string());
                Ok(("COUNT(*)".to_string(), name, ColumnType::Long))
            }
            "countif" => {
                expect_args(1)?;
                let condition = self.expr(&args[0], scope)?;
                expect_type(&condition, ColumnType::Bool, args[0].pos, "countif()")?;
                let name = aggregate
                    .name
                    .as_ref()
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| "countif_".to_string());
                let sum = format!(
                    "COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0)",
                    condition.sql
                );
                Ok((
                    if postgres {
                        format!("({sum})::bigint")
                    } else {
                        sum
                    },
                    name,
                    ColumnType::Long,
                ))
            }
            "dcount" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                Ok((
                    format!("COUNT(DISTINCT {})", value.sql),
                    default_name("dcount")?,
                    ColumnType::Long,
                ))
            }
            "sum" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let value = self.numeric_operand(value, args[0].pos, "sum()")?;
                let sql = match (value.ty, postgres) {
                    (ColumnType::Long | ColumnType::Timespan, true) => {
                        format!("(SUM({}))::bigint", value.sql)
                    }
                    _ => format!("SUM({})", value.sql),
                };
                if !matches!(
                    value.ty,
                    ColumnType::Long | ColumnType::Real | ColumnType::Timespan
                ) {
                    return Err(type_error(
                        args[0].pos,
                        format!(
                            "sum() expects a number or timespan, found {}",
                            value.ty.kql_name()
                        ),
                    ));
                }
                Ok((sql, default_name("sum")?, value.ty))
            }
            "avg" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let value = self.numeric_operand(value, args[0].pos, "avg()")?;
                if !value.ty.is_numeric() {
                    return Err(type_error(
                        args[0].pos,
                        format!("avg() expects a number, found {}", value.ty.kql_name()),
                    ));
                }
                let sql = if postgres {
                    format!("(AVG({}))::double precision", value.sql)
                } else {
                    format!("AVG({})", value.sql)
                };
                Ok((sql, default_name("avg")?, ColumnType::Real))
            }
            "min" | "max" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                if matches!(value.ty, ColumnType::Dynamic | ColumnType::Bool) {
                    return Err(type_error(
                        args[0].pos,
                        format!("{function}() does not take a {} value", value.ty.kql_name()),
                    ));
                }
                let operand = self.collate_for_order(&value);
                let sql = format!("{}({operand})", function.to_uppercase());
                Ok((sql, default_name(function)?, value.ty))
            }
            "make_set" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let sql = self.make_set(&value, args[0].pos)?;
                Ok((sql, default_name("set")?, ColumnType::Dynamic))
            }
            other => {
                if is_scalar_function(other) {
                    Err(error(
                        ErrorKind::Syntax,
                        pos,
                        format!("expected an aggregation function in summarize, found the scalar function {other}()"),
                    ))
                } else {
                    Err(error(
                        ErrorKind::UnknownFunction,
                        pos,
                        format!("unknown aggregation function '{other}', expected count, countif, dcount, sum, avg, min, max, make_set, arg_max or arg_min"),
                    ))
                }
            }
        }
    }

    fn make_set(&mut self, value: &Typed, pos: Pos) -> Result<String> {
        let x = &value.sql;
        match (self.dialect, value.ty) {
            (Dialect::Sqlite, ColumnType::Dynamic) => Ok(format!(
                "COALESCE('[' || group_concat(DISTINCT json({x})) FILTER (WHERE {x} IS NOT NULL AND json_type({x}) <> 'null') || ']', '[]')"
            )),
            (Dialect::Sqlite, ColumnType::String | ColumnType::Long | ColumnType::Real) => Ok(format!(
                "COALESCE('[' || group_concat(DISTINCT json_quote({x})) FILTER (WHERE {x} IS NOT NULL) || ']', '[]')"
            )),
            (Dialect::Postgres, ColumnType::Dynamic) => Ok(format!(
                "COALESCE(jsonb_agg(DISTINCT {x}) FILTER (WHERE {x} IS NOT NULL AND jsonb_typeof({x}) <> 'null'), '[]'::jsonb)"
            )),
            (Dialect::Postgres, ColumnType::String | ColumnType::Long | ColumnType::Real) => Ok(format!(
                "COALESCE(jsonb_agg(DISTINCT to_jsonb({x})) FILTER (WHERE {x} IS NOT NULL), '[]'::jsonb)"
            )),
            (_, other) => Err(type_error(pos, format!("make_set() of {} values is not supported", other.kql_name()))),
        }
    }

    /// `summarize arg_max(Expr, cols | *) by keys`: the row with the greatest `Expr` per
    /// group, computed with `ROW_NUMBER()` over the groups.
    fn summarize_arg_extreme(
        &mut self,
        input: Relation,
        alias: &str,
        aggregate: &NamedExpr,
        key_sqls: Vec<String>,
        mut columns: Vec<Column>,
    ) -> Result<Relation> {
        let ExprKind::Call {
            name: function,
            args,
        } = &aggregate.expr.kind
        else {
            return Err(error(
                ErrorKind::Syntax,
                aggregate.expr.pos,
                "expected arg_max(...)",
            ));
        };
        if args.len() < 2 {
            return Err(type_error(
                aggregate.expr.pos,
                format!("{function}() expects the expression to maximize and the columns to return (or *)"),
            ));
        }
        let scope = Scope {
            columns: &input.columns,
            alias,
        };
        let extreme = self.expr(&args[0], &scope)?;
        if extreme.ty == ColumnType::Dynamic {
            return Err(type_error(
                args[0].pos,
                format!("{function}() cannot order by a dynamic value"),
            ));
        }
        let extreme_name = match aggregate.name.as_ref() {
            Some(name) => name.name.clone(),
            None => inferred_name(&args[0]).ok_or_else(|| {
                error(
                    ErrorKind::Syntax,
                    args[0].pos,
                    format!("expected a name for this aggregation (Name = {function}(...)): its first argument is not a column"),
                )
            })?,
        };
        let extreme_pos = aggregate
            .name
            .as_ref()
            .map(|n| n.pos)
            .unwrap_or(args[0].pos);
        push_unique(&mut columns, extreme_name.clone(), extreme.ty, extreme_pos)?;
        let mut inner_items = Vec::new();
        for (index, key) in key_sqls.iter().enumerate() {
            inner_items.push(format!("{key} AS \"__kql_k{index}\""));
        }
        inner_items.push(format!("{} AS \"__kql_arg\"", extreme.sql));
        let mut outer_items: Vec<String> = columns
            .iter()
            .take(key_sqls.len())
            .enumerate()
            .map(|(index, c)| format!("\"__kql_k{index}\" AS {}", quote_identifier(&c.name)))
            .collect();
        outer_items.push(format!(
            "\"__kql_arg\" AS {}",
            quote_identifier(&extreme_name)
        ));
        let mut returned = 0;
        for arg in &args[1..] {
            let wanted: Vec<(String, Typed, Pos)> = match &arg.kind {
                ExprKind::Star => input
                    .columns
                    .iter()
                    .filter(|c| !columns.iter().any(|existing| existing.name == c.name))
                    .map(|c| {
                        (
                            c.name.clone(),
                            Typed {
                                sql: self.column_ref(alias, c),
                                ty: c.ty,
                            },
                            arg.pos,
                        )
                    })
                    .collect(),
                _ => {
                    let compiled = self.expr(arg, &scope)?;
                    let name = inferred_name(arg).ok_or_else(|| {
                        error(ErrorKind::Unsupported, arg.pos, format!("{function}() returns columns or *; name computed values with extend first"))
                    })?;
                    vec![(name, compiled, arg.pos)]
                }
            };
            for (name, compiled, pos) in wanted {
                push_unique(&mut columns, name.clone(), compiled.ty, pos)?;
                inner_items.push(format!("{} AS \"__kql_r{returned}\"", compiled.sql));
                outer_items.push(format!(
                    "\"__kql_r{returned}\" AS {}",
                    quote_identifier(&name)
                ));
                returned += 1;
            }
        }
        let direction = if function == "arg_max" { "DESC" } else { "ASC" };
        let partition = if key_sqls.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {} ", key_sqls.join(", "))
        };
        inner_items.push(format!(
            "ROW_NUMBER() OVER ({partition}ORDER BY {} {direction} NULLS LAST) AS \"__kql_rn\"",
            self.collate_for_order(&extreme)
        ));
        let inner = self.wrap(&input, alias, inner_items, Vec::new(), false, "");
        let outer_alias = self.new_alias();
        Ok(Relation {
            sql: format!(
                "SELECT {} FROM ({}) AS {outer_alias} WHERE {outer_alias}.\"__kql_rn\" = 1",
                outer_items.join(", "),
                inner.sql
            ),
            columns,
            ordered: false,
        })
    }

    fn join(
        &mut self,
        left: Relation,
        right: Relation,
        kind: JoinKind,
        on: &[JoinKey],
    ) -> Result<Relation> {
        let mut pairs: Vec<(Column, Column, Pos)> = Vec::new();
        for key in on {
            let (left_name, right_name) = match key {
                JoinKey::Same(name) => (name, name),
                JoinKey::Pair { left, right } => (left, right),
            };
            let Some(left_column) = left.columns.iter().find(|c| c.name == left_name.name) else {
                return Err(unknown_column(left_name, &left.columns));
            };
            let Some(right_column) = right.columns.iter().find(|c| c.name == right_name.name)
            else {
                return Err(unknown_column(right_name, &right.columns));
            };
            if left_column.ty != right_column.ty {
                return Err(type_error(
                    right_name.pos,
                    format!(
                        "join key types differ: '{}' is {} on the left and '{}' is {} on the right",
                        left_column.name,
                        left_column.ty.kql_name(),
                        right_column.name,
                        right_column.ty.kql_name()
                    ),
                ));
            }
            pairs.push((left_column.clone(), right_column.clone(), left_name.pos));
        }
        let left_alias = self.new_alias();
        let right_alias = self.new_alias();
        let left_sql = if kind == JoinKind::InnerUnique {
            // KQL's default join keeps one (arbitrary) left row per key before joining.
            let dedup_alias = self.new_alias();
            let keys: Vec<String> = pairs
                .iter()
                .map(|(l, _, _)| self.column_ref(&dedup_alias, l))
                .collect();
            let mut items = self.pass_through(&dedup_alias, &left.columns);
            items.push(format!(
                "ROW_NUMBER() OVER (PARTITION BY {}) AS \"__kql_rn\"",
                keys.join(", ")
            ));
            let outer_alias = self.new_alias();
            let outer_items = self.pass_through(&outer_alias, &left.columns);
            format!(
                "SELECT {} FROM (SELECT {} FROM ({}) AS {dedup_alias}) AS {outer_alias} WHERE {outer_alias}.\"__kql_rn\" = 1",
                select_list(&outer_items),
                items.join(", "),
                left.sql
            )
        } else {
            left.sql.clone()
        };
        let conditions: Vec<String> = pairs
            .iter()
            .map(|(l, r, _)| {
                format!(
                    "{} = {}",
                    self.column_ref(&left_alias, l),
                    self.column_ref(&right_alias, r)
                )
            })
            .collect();
        let mut columns = Vec::new();
        let mut items = Vec::new();
        let mut used: HashSet<String> = HashSet::new();
        for column in &left.columns {
            used.insert(column.name.clone());
            items.push(format!("{left_alias}.{}", quote_identifier(&column.name)));
            columns.push(column.clone());
        }
        for column in &right.columns {
            let mut name = column.name.clone();
            let mut suffix = 1;
            while used.contains(&name) {
                name = format!("{}{suffix}", column.name);
                suffix += 1;
            }
            used.insert(name.clone());
            let reference = format!("{right_alias}.{}", quote_identifier(&column.name));
            // A left row without a match has no right side: its strings are ''.
            let value = if kind == JoinKind::LeftOuter && column.ty == ColumnType::String {
                format!("COALESCE({reference}, '')")
            } else {
                reference
            };
            items.push(format!("{value} AS {}", quote_identifier(&name)));
            columns.push(Column {
                name,
                ty: column.ty,
            });
        }
        let join_word = if kind == JoinKind::LeftOuter {
            "LEFT JOIN"
        } else {
            "INNER JOIN"
        };
        // The right side is computed once and then looked up: without this fence SQLite
        // flattens it into the join, and a key computed from JSON can neither be indexed nor
        // hashed, leaving a nested loop over both sides.
        let fence = match self.dialect {
            Dialect::Sqlite => "LIMIT -1 OFFSET 0",
            Dialect::Postgres => "OFFSET 0",
        };
        let right_sql = format!("SELECT * FROM ({}) AS r {fence}", right.sql);
        Ok(Relation {
            sql: format!(
                "SELECT {} FROM ({left_sql}) AS {left_alias} {join_word} ({right_sql}) AS {right_alias} ON {}",
                select_list(&items),
                conditions.join(" AND ")
            ),
            columns,
            ordered: false,
        })
    }

    fn union(&mut self, pos: Pos, parts: Vec<Relation>) -> Result<Relation> {
        let mut columns: Vec<Column> = Vec::new();
        for part in &parts {
            for column in &part.columns {
                match columns.iter().find(|c| c.name == column.name) {
                    Some(existing) if existing.ty != column.ty => {
                        return Err(type_error(
                            pos,
                            format!(
                                "union: column '{}' is {} in one table and {} in another",
                                column.name,
                                existing.ty.kql_name(),
                                column.ty.kql_name()
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => columns.push(column.clone()),
                }
            }
        }
        let mut selects = Vec::new();
        for part in &parts {
            let alias = self.new_alias();
            let items: Vec<String> = columns
                .iter()
                .map(|column| {
                    if part.columns.iter().any(|c| c.name == column.name) {
                        format!("{alias}.{}", quote_identifier(&column.name))
                    } else {
                        format!(
                            "{} AS {}",
                            self.typed_null(column.ty),
                            quote_identifier(&column.name)
                        )
                    }
                })
                .collect();
            selects.push(format!(
                "SELECT {} FROM ({}) AS {alias}",
                select_list(&items),
                part.sql
            ));
        }
        Ok(Relation {
            sql: selects.join(" UNION ALL "),
            columns,
            ordered: false,
        })
    }

    fn typed_null(&self, ty: ColumnType) -> String {
        if ty == ColumnType::String {
            return "''".to_string();
        }
        match self.dialect {
            Dialect::Sqlite => "NULL".to_string(),
            Dialect::Postgres => format!("CAST(NULL AS {})", ty.postgres_type()),
        }
    }

    fn mv_expand(&mut self, input: Relation, pos: Pos, items: &[NamedExpr]) -> Result<Relation> {
        if items.len() != 1 {
            return Err(error(
                ErrorKind::Unsupported,
                pos,
                "mv-expand of several columns at once is not supported; use one mv-expand per column",
            ));
        }
        let item = &items[0];
        let alias = self.new_alias();
        let scope = Scope {
            columns: &input.columns,
            alias: &alias,
        };
        let array = self.expr(&item.expr, &scope)?;
        if array.ty != ColumnType::Dynamic {
            return Err(type_error(
                item.expr.pos,
                format!(
                    "mv-expand expects a dynamic array or property bag, found {}",
                    array.ty.kql_name()
                ),
            ));
        }
        let name = match (&item.name, &item.expr.kind) {
            (Some(name), _) => name.name.clone(),
            (None, ExprKind::Name(column)) => column.clone(),
            (None, _) => {
                return Err(error(
                    ErrorKind::Unsupported,
                    item.expr.pos,
                    "expected a name for the expanded value: mv-expand Name = <expression>",
                ))
            }
        };
        let x = &array.sql;
        let (join, value, keep) = match self.dialect {
            Dialect::Sqlite => (
                format!(" LEFT JOIN json_each({x}) AS je ON 1 = 1"),
                format!(
                    "CASE WHEN je.fullkey IS NULL THEN NULL WHEN json_type({x}) = 'object' THEN json_object(je.key, json({x} -> je.fullkey)) ELSE {x} -> je.fullkey END"
                ),
                format!(" WHERE je.fullkey IS NOT NULL OR {x} IS NULL"),
            ),
            Dialect::Postgres => (
                format!(
                    " LEFT JOIN LATERAL (SELECT e.value AS v FROM jsonb_array_elements(CASE WHEN jsonb_typeof({x}) = 'array' THEN {x} ELSE '[]'::jsonb END) AS e \
                     UNION ALL SELECT jsonb_build_object(b.key, b.value) FROM jsonb_each(CASE WHEN jsonb_typeof({x}) = 'object' THEN {x} ELSE '{{}}'::jsonb END) AS b \
                     UNION ALL SELECT {x} WHERE jsonb_typeof({x}) NOT IN ('array', 'object')) AS je ON TRUE"
                ),
                "je.v".to_string(),
                format!(" WHERE je.v IS NOT NULL OR {x} IS NULL"),
            ),
        };
        let mut items_sql = Vec::new();
        let mut columns = Vec::new();
        let mut replaced = false;
        for column in &input.columns {
            if column.name == name {
                items_sql.push(format!("{value} AS {}", quote_identifier(&name)));
                columns.push(Column {
                    name: name.clone(),
                    ty: ColumnType::Dynamic,
                });
                replaced = true;
            } else {
                items_sql.push(format!("{alias}.{}", quote_identifier(&column.name)));
                columns.push(column.clone());
            }
        }
        if !replaced {
            items_sql.push(format!("{value} AS {}", quote_identifier(&name)));
            columns.push(Column {
                name,
                ty: ColumnType::Dynamic,
            });
        }
        Ok(self.wrap(
            &input,
            &alias,
            items_sql,
            columns,
            true,
            &format!("{join}{keep}"),
        ))
    }

    // ----- scalar expressions -----

    /// The value of a constant long expression (a literal or a let bound to one).
    fn constant_long(&self, expr: &Expr) -> Option<i64> {
        match &expr.kind {
            ExprKind::Long(n) => Some(*n),
            ExprKind::Name(name) => match self.lookup_let(name) {
                Some((
                    _,
                    Let {
                        value: LetValue::Scalar(inner),
                        ..
                    },
                )) => self.constant_long(inner),
                _ => None,
            },
            _ => None,
        }
    }

    fn constant_string(&self, expr: &Expr) -> Option<String> {
        match &expr.kind {
            ExprKind::String(s) => Some(s.clone()),
            ExprKind::Name(name) => match self.lookup_let(name) {
                Some((
                    _,
                    Let {
                        value: LetValue::Scalar(inner),
                        ..
                    },
                )) => self.constant_string(inner),
                _ => None,
            },
            _ => None,
        }
    }

    /// The constant value of a timespan or long size argument (for `bin`).
    fn constant_size(&self, expr: &Expr) -> Option<(i64, ColumnType)> {
        match &expr.kind {
            ExprKind::Long(n) => Some((*n, ColumnType::Long)),
            ExprKind::Timespan(n) => Some((*n, ColumnType::Timespan)),
            ExprKind::Name(name) => match self.lookup_let(name) {
                Some((
                    _,
                    Let {
                        value: LetValue::Scalar(inner),
                        ..
                    },
                )) => self.constant_size(inner),
                _ => None,
            },
            _ => None,
        }
    }

    fn expr(&mut self, expr: &Expr, scope: &Scope) -> Result<Typed> {
        let pos = expr.pos;
        match &expr.kind {
            ExprKind::String(value) => Ok(Typed {
                sql: self.bind(SqlValue::Text(value.clone())),
                ty: ColumnType::String,
            }),
            ExprKind::Long(value) => Ok(Typed {
                sql: self.bind(SqlValue::Integer(*value)),
                ty: ColumnType::Long,
            }),
            ExprKind::Real(value) => Ok(Typed {
                sql: self.bind(SqlValue::Real(*value)),
                ty: ColumnType::Real,
            }),
            ExprKind::Bool(value) => Ok(Typed {
                sql: self.bind(SqlValue::Bool(*value)),
                ty: ColumnType::Bool,
            }),
            ExprKind::Timespan(value) => Ok(Typed {
                sql: self.bind(SqlValue::Integer(*value)),
                ty: ColumnType::Timespan,
            }),
            ExprKind::DateTime(value) => Ok(Typed {
                sql: self.bind(SqlValue::Integer(*value)),
                ty: ColumnType::DateTime,
            }),
            ExprKind::Name(name) => {
                if let Some(column) = scope.columns.iter().find(|c| &c.name == name) {
                    return Ok(Typed {
                        sql: self.column_ref(scope.alias, column),
                        ty: column.ty,
                    });
                }
                if let Some((index, binding)) = self.lookup_let(name) {
                    let LetValue::Scalar(value) = &binding.value else {
                        return Err(type_error(
                            pos,
                            format!("'{name}' is a table, expected a scalar"),
                        ));
                    };
                    let value = value.clone();
                    let saved = self.visible_lets;
                    self.visible_lets = index;
                    // A let's value is a constant expression: it sees no columns.
                    let empty = Scope {
                        columns: &[],
                        alias: scope.alias,
                    };
                    let result = self.expr(&value, &empty);
                    self.visible_lets = saved;
                    return result;
                }
                Err(unknown_column(
                    &Ident {
                        name: name.clone(),
                        pos,
                    },
                    scope.columns,
                ))
            }
            ExprKind::Star => Err(error(
                ErrorKind::Syntax,
                pos,
                "'*' is only allowed as an argument of arg_max()/arg_min()",
            )),
            ExprKind::Member(..) | ExprKind::Index(..) => self.dynamic_access(expr, scope),
            ExprKind::Negate(inner) => {
                let value = self.expr(inner, scope)?;
                let value = self.numeric_operand(value, inner.pos, "-")?;
                if !matches!(
                    value.ty,
                    ColumnType::Long | ColumnType::Real | ColumnType::Timespan
                ) {
                    return Err(type_error(
                        pos,
                        format!("cannot negate a {} value", value.ty.kql_name()),
                    ));
                }
                Ok(Typed {
                    sql: format!("(-{})", value.sql),
                    ty: value.ty,
                })
            }
            ExprKind::Call { name, args } => self.call(name, args, pos, scope),
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right, pos, scope),
            ExprKind::In {
                expr: value,
                list,
                negated,
                case_insensitive,
            } => self.in_list(value, list, *negated, *case_insensitive, pos, scope),
            ExprKind::Between {
                expr: value,
                low,
                high,
                negated,
            } => {
                let value_typed = self.expr(value, scope)?;
                let low_typed = self.expr(low, scope)?;
                let mut high_typed = self.expr(high, scope)?;
                let value_typed = self.coerce_dynamic(value_typed, low_typed.ty, value.pos)?;
                if value_typed.ty == ColumnType::DateTime && high_typed.ty == ColumnType::Timespan {
                    // `between (start .. span)` means up to start + span.
                    high_typed = Typed {
                        sql: format!("({} + {})", low_typed.sql, high_typed.sql),
                        ty: ColumnType::DateTime,
                    };
                }
                for bound in [&low_typed, &high_typed] {
                    if !comparable(value_typed.ty, bound.ty)
                        || value_typed.ty == ColumnType::Bool
                        || value_typed.ty == ColumnType::Dynamic
                    {
                        return Err(type_error(
                            pos,
                            format!("between needs numbers, datetimes or timespans of the same kind, found {} and {}", value_typed.ty.kql_name(), bound.ty.kql_name()),
                        ));
                    }
                }
                let test = format!(
                    "({v} >= {low} AND {v} <= {high})",
                    v = value_typed.sql,
                    low = low_typed.sql,
                    high = high_typed.sql
                );
                Ok(Typed {
                    sql: if *negated {
                        format!("(NOT {test})")
                    } else {
                        test
                    },
                    ty: ColumnType::Bool,
                })
            }
        }
    }

    /// `base.key`, `base["key"]` and `base[n]`, chained. On SQLite a chain is one JSON path
    /// on its base (`base -> '$."a"."b"[0]'`): chained `->` would write each intermediate
    /// value out as JSON text and parse it again. PostgreSQL's `->` on jsonb does not reparse.
    fn dynamic_access(&mut self, expr: &Expr, scope: &Scope) -> Result<Typed> {
        let mut steps = Vec::new();
        let mut base = expr;
        loop {
            match &base.kind {
                ExprKind::Member(inner, key) => {
                    steps.push((AccessStep::Key(key), base.pos));
                    base = inner;
                }
                ExprKind::Index(inner, index) => {
                    steps.push((AccessStep::Index(index), base.pos));
                    base = inner;
                }
                _ => break,
            }
        }
        let mut value = self.expr(base, scope)?;
        let mut sqlite_path = String::from("$");
        for (step, pos) in steps.into_iter().rev() {
            let step = match step {
                AccessStep::Key(key) => PathStep::Key(key.clone()),
                AccessStep::Index(index) => {
                    if let Some(key) = self.constant_string(index) {
                        PathStep::Key(key)
                    } else if let Some(position) = self.constant_long(index) {
                        PathStep::Position(position)
                    } else {
                        return Err(error(
                            ErrorKind::Unsupported,
                            index.pos,
                            "expected a constant string or long inside [ ]",
                        ));
                    }
                }
            };
            if value.ty != ColumnType::Dynamic {
                let what = match step {
                    PathStep::Key(_) => "property access",
                    PathStep::Position(_) => "indexing",
                };
                return Err(type_error(
                    pos,
                    format!(
                        "{what} needs a dynamic value, found {}",
                        value.ty.kql_name()
                    ),
                ));
            }
            match (self.dialect, step) {
                (Dialect::Sqlite, PathStep::Key(key)) => {
                    if key.contains('"') || key.contains('\\') {
                        return Err(error(
                            ErrorKind::Unsupported,
                            pos,
                            "property names containing '\"' or '\\' are not supported",
                        ));
                    }
                    sqlite_path.push_str(&format!(".\"{key}\""));
                }
                (Dialect::Sqlite, PathStep::Position(position)) if position < 0 => {
                    sqlite_path.push_str(&format!("[#{position}]"));
                }
                (Dialect::Sqlite, PathStep::Position(position)) => {
                    sqlite_path.push_str(&format!("[{position}]"));
                }
                (Dialect::Postgres, PathStep::Key(key)) => {
                    let key = self.bind(SqlValue::Text(key));
                    value.sql = format!("({} -> {key})", value.sql);
                }
                (Dialect::Postgres, PathStep::Position(position)) => {
                    let Ok(position) = i32::try_from(position) else {
                        return Err(type_error(pos, "array index out of range"));
                    };
                    let index = self.bind(SqlValue::Integer(i64::from(position)));
                    value.sql = format!("({} -> ({index})::int)", value.sql);
                }
            }
        }
        if self.dialect == Dialect::Sqlite {
            let path = self.bind(SqlValue::Text(sqlite_path));
            let base = std::mem::take(&mut value.sql);
            value.sql = format!("({base} -> {path})");
            self.sqlite_json_accesses
                .insert(value.sql.clone(), (base, path));
        }
        Ok(value)
    }

    /// A dynamic value on SQLite as the base JSON and path that the two-argument JSON
    /// functions take: the access's own when `x` is one, else `x` itself at `'$'`.
    fn sqlite_json_at<'x>(&'x self, x: &'x str) -> (&'x str, &'x str) {
        match self.sqlite_json_accesses.get(x) {
            Some((base, path)) => (base, path),
            None => (x, "'$'"),
        }
    }

    /// A dynamic value as a KQL string: a JSON string's text, "" for null, else its JSON.
    fn dynamic_to_string(&self, x: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let (json, path) = self.sqlite_json_at(x);
                format!("kql_json_string({json}, {path})")
            }
            Dialect::Postgres => format!(
                "COALESCE(CASE jsonb_typeof({x}) WHEN 'string' THEN {x} #>> '{{}}' WHEN 'null' THEN '' ELSE ({x})::text END, '')"
            ),
        }
    }

    /// A dynamic value as a real when it holds a number, else null. Always real, so that
    /// arithmetic on it does not switch to integer division depending on the data.
    fn dynamic_to_number(&self, x: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let (json, path) = self.sqlite_json_at(x);
                format!(
                    "(CASE json_type({json}, {path}) WHEN 'integer' THEN CAST({json} ->> {path} AS REAL) WHEN 'real' THEN {json} ->> {path} END)"
                )
            }
            Dialect::Postgres => format!(
                "(CASE jsonb_typeof({x}) WHEN 'number' THEN ({x} #>> '{{}}')::double precision END)"
            ),
        }
    }

    fn dynamic_to_bool(&self, x: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let (json, path) = self.sqlite_json_at(x);
                format!(
                    "(CASE json_type({json}, {path}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
                )
            }
            Dialect::Postgres => format!(
                "(CASE jsonb_typeof({x}) WHEN 'boolean' THEN ({x} #>> '{{}}')::boolean END)"
            ),
        }
    }

    /// Converts a dynamic operand to the type of the other operand, as KQL does when a
    /// dynamic value is compared with a typed one.
    fn coerce_dynamic(&self, value: Typed, target: ColumnType, pos: Pos) -> Result<Typed> {
        if value.ty != ColumnType::Dynamic || target == ColumnType::Dynamic {
            return Ok(value);
        }
        match target {
            ColumnType::String => Ok(Typed {
                sql: self.dynamic_to_string(&value.sql),
                ty: ColumnType::String,
            }),
            ColumnType::Long | ColumnType::Real => Ok(Typed {
                sql: self.dynamic_to_number(&value.sql),
                ty: ColumnType::Real,
            }),
            ColumnType::Bool => Ok(Typed {
                sql: self.dynamic_to_bool(&value.sql),
                ty: ColumnType::Bool,
            }),
            other => Err(type_error(
                pos,
                format!(
                    "cannot compare a dynamic value with a {}; convert it first",
                    other.kql_name()
                ),
            )),
        }
    }

    /// Dynamic operands of arithmetic are read as numbers.
    fn numeric_operand(&self, value: Typed, _pos: Pos, _context: &str) -> Result<Typed> {
        if value.ty == ColumnType::Dynamic {
            return Ok(Typed {
                sql: self.dynamic_to_number(&value.sql),
                ty: ColumnType::Real,
            });
        }
        Ok(value)
    }

    /// String operands: strings as they are, dynamic values via `tostring`.
    fn string_operand(&self, value: Typed, pos: Pos, context: &str) -> Result<String> {
        match value.ty {
            ColumnType::String => Ok(value.sql),
            ColumnType::Dynamic => Ok(self.dynamic_to_string(&value.sql)),
            other => Err(type_error(
                pos,
                format!("{context} expects a string, found {}", other.kql_name()),
            )),
        }
    }

    fn lower(&self, sql: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("kql_lower({sql})"),
            Dialect::Postgres => format!("lower({sql})"),
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
        pos: Pos,
        scope: &Scope,
    ) -> Result<Typed> {
        use BinaryOp::*;
        match op {
            And | Or => {
                let l = self.expr(left, scope)?;
                let r = self.expr(right, scope)?;
                expect_type(&l, ColumnType::Bool, left.pos, op.symbol())?;
                expect_type(&r, ColumnType::Bool, right.pos, op.symbol())?;
                let word = if op == And { "AND" } else { "OR" };
                Ok(Typed {
                    sql: format!("({} {word} {})", l.sql, r.sql),
                    ty: ColumnType::Bool,
                })
            }
            Add | Sub | Mul | Div | Mod => {
                let l = self.expr(left, scope)?;
                let r = self.expr(right, scope)?;
                let l = self.numeric_operand(l, left.pos, op.symbol())?;
                let r = self.numeric_operand(r, right.pos, op.symbol())?;
                self.arithmetic(op, l, r, pos)
            }
            Lt | Le | Gt | Ge | Eq | Ne => {
                let l = self.expr(left, scope)?;
                let r = self.expr(right, scope)?;
                let l = self.coerce_dynamic(l, r.ty, left.pos)?;
                let r = self.coerce_dynamic(r, l.ty, right.pos)?;
                if !comparable(l.ty, r.ty) {
                    return Err(type_error(
                        pos,
                        format!(
                            "cannot compare {} with {} using '{}'",
                            l.ty.kql_name(),
                            r.ty.kql_name(),
                            op.symbol()
                        ),
                    ));
                }
                let ordering = matches!(op, Lt | Le | Gt | Ge);
                if ordering && matches!(l.ty, ColumnType::Dynamic | ColumnType::Bool) {
                    return Err(type_error(
                        pos,
                        format!(
                            "'{}' does not order {} values",
                            op.symbol(),
                            l.ty.kql_name()
                        ),
                    ));
                }
                let symbol = match op {
                    Lt => "<",
                    Le => "<=",
                    Gt => ">",
                    Ge => ">=",
                    Eq => "=",
                    _ => "<>",
                };
                let left_sql = if ordering {
                    self.collate_for_order(&l)
                } else {
                    l.sql
                };
                Ok(Typed {
                    sql: format!("({left_sql} {symbol} {})", r.sql),
                    ty: ColumnType::Bool,
                })
            }
            EqCi | NeCi => {
                let l = self.expr(left, scope)?;
                let r = self.expr(right, scope)?;
                let l = self.string_operand(l, left.pos, op.symbol())?;
                let r = self.string_operand(r, right.pos, op.symbol())?;
                let symbol = if op == EqCi { "=" } else { "<>" };
                Ok(Typed {
                    sql: format!("({} {symbol} {})", self.lower(&l), self.lower(&r)),
                    ty: ColumnType::Bool,
                })
            }
            Has | NotHas => {
                let l = self.expr(left, scope)?;
                let haystack = self.string_operand(l, left.pos, op.symbol())?;
                let Some(term) = self.constant_string(right) else {
                    return Err(type_error(
                        right.pos,
                        format!("expected a constant string after '{}'", op.symbol()),
                    ));
                };
                let test = self.has_term(&haystack, &term);
                Ok(Typed {
                    sql: if op == Has {
                        test
                    } else {
                        format!("(NOT {test})")
                    },
                    ty: ColumnType::Bool,
                })
            }
            Contains | NotContains | StartsWith | NotStartsWith | EndsWith | NotEndsWith => {
                let l = self.expr(left, scope)?;
                let haystack_sql = self.string_operand(l, left.pos, op.symbol())?;
                let ascii_needle = self
                    .constant_string(right)
                    .filter(|n| n.is_ascii() && self.dialect == Dialect::Sqlite);
                let (haystack, needle) = match ascii_needle {
                    // An ASCII needle can only match ASCII letters, which SQLite's built-in
                    // lower() folds: no call into Rust per row.
                    Some(needle) => (
                        format!("lower({haystack_sql})"),
                        self.bind(SqlValue::Text(needle.to_ascii_lowercase())),
                    ),
                    None => {
                        let r = self.expr(right, scope)?;
                        let needle_sql = self.string_operand(r, right.pos, op.symbol())?;
                        (self.lower(&haystack_sql), self.lower(&needle_sql))
                    }
                };
                let test = match op {
                    Contains | NotContains => match self.dialect {
                        Dialect::Sqlite => format!("(instr({haystack}, {needle}) > 0)"),
                        Dialect::Postgres => format!("(strpos({haystack}, {needle}) > 0)"),
                    },
                    StartsWith | NotStartsWith => {
                        format!("(substr({haystack}, 1, length({needle})) = {needle})")
                    }
                    _ => format!(
                        "(length({needle}) <= length({haystack}) AND substr({haystack}, length({haystack}) - length({needle}) + 1) = {needle})"
                    ),
                };
                let negated = matches!(op, NotContains | NotStartsWith | NotEndsWith);
                Ok(Typed {
                    sql: if negated {
                        format!("(NOT {test})")
                    } else {
                        test
                    },
                    ty: ColumnType::Bool,
                })
            }
            MatchesRegex => {
                let l = self.expr(left, scope)?;
                let haystack = self.string_operand(l, left.pos, op.symbol())?;
                let Some(pattern) = self.constant_string(right) else {
                    return Err(type_error(
                        right.pos,
                        "expected a constant string after 'matches regex'",
                    ));
                };
                if let Err(problem) = regex::Regex::new(&pattern) {
                    return Err(error(
                        ErrorKind::Syntax,
                        right.pos,
                        format!(
                            "invalid regular expression: {}",
                            problem.to_string().lines().last().unwrap_or("")
                        ),
                    ));
                }
                let placeholder = self.bind(SqlValue::Text(pattern));
                let sql = match self.dialect {
                    Dialect::Sqlite => format!("(kql_regex({haystack}, {placeholder}) = 1)"),
                    Dialect::Postgres => format!("({haystack} ~ {placeholder})"),
                };
                Ok(Typed {
                    sql,
                    ty: ColumnType::Bool,
                })
            }
        }
    }

    /// `has`: the term occurs with no ASCII letter or digit right before or after it,
    /// case-insensitively.
    fn has_term(&mut self, haystack: &str, term: &str) -> String {
        if term.is_empty() {
            // Every string has the empty term; keep the haystack evaluated for type errors only.
            return "(1 = 1)".to_string();
        }
        match self.dialect {
            Dialect::Sqlite => {
                let placeholder = self.bind(SqlValue::Text(term.to_string()));
                format!("(kql_has({haystack}, {placeholder}) = 1)")
            }
            Dialect::Postgres => {
                let pattern = format!(
                    "(^|[^a-zA-Z0-9]){}($|[^a-zA-Z0-9])",
                    escape_postgres_regex(term)
                );
                let placeholder = self.bind(SqlValue::Text(pattern));
                format!("({haystack} ~* {placeholder})")
            }
        }
    }

    fn arithmetic(&mut self, op: BinaryOp, l: Typed, r: Typed, pos: Pos) -> Result<Typed> {
        use BinaryOp::*;
        use ColumnType::*;
        let result_type = match (op, l.ty, r.ty) {
            (_, Long, Long) => Long,
            (Add | Sub | Mul | Div, Long | Real, Long | Real) => Real,
            (Sub, DateTime, DateTime) => Timespan,
            (Add | Sub, DateTime, Timespan) => DateTime,
            (Add, Timespan, DateTime) => DateTime,
            (Add | Sub, Timespan, Timespan) => Timespan,
            (Mul, Timespan, Long) | (Mul, Long, Timespan) | (Div, Timespan, Long) => Timespan,
            (Div, Timespan, Timespan) => Real,
            _ => {
                return Err(type_error(
                    pos,
                    format!(
                        "cannot apply '{}' to {} and {}",
                        op.symbol(),
                        l.ty.kql_name(),
                        r.ty.kql_name()
                    ),
                ))
            }
        };
        let left_sql = if result_type == Real && l.ty != Real {
            // Integer operands of a real result (timespan / timespan) divide as reals.
            match self.dialect {
                Dialect::Sqlite => format!("CAST({} AS REAL)", l.sql),
                Dialect::Postgres => format!("({})::double precision", l.sql),
            }
        } else {
            l.sql
        };
        let sql = match op {
            Add => format!("({left_sql} + {})", r.sql),
            Sub => format!("({left_sql} - {})", r.sql),
            Mul => format!("({left_sql} * {})", r.sql),
            // Division by zero yields null (SQLite's behaviour; PostgreSQL would raise).
            Div => format!("({left_sql} / NULLIF({}, 0))", r.sql),
            _ => format!("({left_sql} % NULLIF({}, 0))", r.sql),
        };
        Ok(Typed {
            sql,
            ty: result_type,
        })
    }

    fn in_list(
        &mut self,
        value: &Expr,
        list: &[Expr],
        negated: bool,
        case_insensitive: bool,
        pos: Pos,
        scope: &Scope,
    ) -> Result<Typed> {
        let word = match (negated, case_insensitive) {
            (false, false) => "in",
            (true, false) => "!in",
            (false, true) => "in~",
            (true, true) => "!in~",
        };
        let compiled_value = self.expr(value, scope)?;
        if list.is_empty() {
            let sql = if negated { "(1 = 1)" } else { "(1 = 0)" };
            return Ok(Typed {
                sql: sql.to_string(),
                ty: ColumnType::Bool,
            });
        }
        let mut items = Vec::new();
        for element in list {
            items.push((self.expr(element, scope)?, element.pos));
        }
        let target = items[0].0.ty;
        let compiled_value = self.coerce_dynamic(compiled_value, target, value.pos)?;
        let mut sqls = Vec::new();
        for (item, item_pos) in items {
            let item = self.coerce_dynamic(item, compiled_value.ty, item_pos)?;
            if !comparable(compiled_value.ty, item.ty) {
                return Err(type_error(
                    item_pos,
                    format!(
                        "'{word}' compares {} with {}",
                        compiled_value.ty.kql_name(),
                        item.ty.kql_name()
                    ),
                ));
            }
            if case_insensitive {
                let item_sql = self.string_operand(item, item_pos, word)?;
                sqls.push(self.lower(&item_sql));
            } else {
                sqls.push(item.sql);
            }
        }
        let value_sql = if case_insensitive {
            let s = self.string_operand(compiled_value, value.pos, word)?;
            self.lower(&s)
        } else {
            compiled_value.sql
        };
        let _ = pos;
        let test = format!("({value_sql} IN ({}))", sqls.join(", "));
        Ok(Typed {
            sql: if negated {
                format!("(NOT {test})")
            } else {
                test
            },
            ty: ColumnType::Bool,
        })
    }

    fn call(&mut self, name: &str, args: &[Expr], pos: Pos, scope: &Scope) -> Result<Typed> {
        let expect_args = |count: usize| -> Result<()> {
            if args.len() == count {
                Ok(())
            } else {
                Err(type_error(
                    pos,
                    format!("{name}() expects {count} argument(s), found {}", args.len()),
                ))
            }
        };
        let postgres = self.dialect == Dialect::Postgres;
        match name {
            "now" => {
                expect_args(0)?;
                Ok(Typed {
                    sql: self.bind(SqlValue::Integer(self.now_ns)),
                    ty: ColumnType::DateTime,
                })
            }
            "ago" => {
                expect_args(1)?;
                let span = self.expr(&args[0], scope)?;
                expect_type(&span, ColumnType::Timespan, args[0].pos, "ago()")?;
                let now = self.bind(SqlValue::Integer(self.now_ns));
                Ok(Typed {
                    sql: format!("({now} - {})", span.sql),
                    ty: ColumnType::DateTime,
                })
            }
            "tolower" | "toupper" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let s = self.string_operand(value, args[0].pos, &format!("{name}()"))?;
                let sql = match (name, self.dialect) {
                    ("tolower", _) => self.lower(&s),
                    (_, Dialect::Sqlite) => format!("kql_upper({s})"),
                    (_, Dialect::Postgres) => format!("upper({s})"),
                };
                Ok(Typed {
                    sql,
                    ty: ColumnType::String,
                })
            }
            "strlen" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let s = self.string_operand(value, args[0].pos, "strlen()")?;
                let sql = if postgres {
                    format!("(length({s}))::bigint")
                } else {
                    format!("length({s})")
                };
                Ok(Typed {
                    sql,
                    ty: ColumnType::Long,
                })
            }
            "strcat" => {
                if args.is_empty() {
                    return Err(type_error(pos, "strcat() expects at least one argument"));
                }
                let mut parts = Vec::new();
                for arg in args {
                    let value = self.expr(arg, scope)?;
                    parts.push(self.to_string_sql(value, arg.pos)?);
                }
                Ok(Typed {
                    sql: format!("({})", parts.join(" || ")),
                    ty: ColumnType::String,
                })
            }
            "isempty" | "isnotempty" | "isnull" | "isnotnull" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let x = &value.sql;
                let empty_test = match (name, value.ty) {
                    ("isempty" | "isnotempty", ColumnType::String) => format!("({x} = '')"),
                    ("isempty" | "isnotempty", ColumnType::Dynamic) => {
                        format!("({} = '')", self.dynamic_to_string(x))
                    }
                    // KQL strings are never null.
                    ("isnull" | "isnotnull", ColumnType::String) => "(1 = 0)".to_string(),
                    (_, ColumnType::Dynamic) => match self.dialect {
                        Dialect::Sqlite => format!("({x} IS NULL OR json_type({x}) = 'null')"),
                        Dialect::Postgres => format!("({x} IS NULL OR jsonb_typeof({x}) = 'null')"),
                    },
                    _ => format!("({x} IS NULL)"),
                };
                let sql = if name.contains("not") {
                    format!("(NOT {empty_test})")
                } else {
                    empty_test
                };
                Ok(Typed {
                    sql,
                    ty: ColumnType::Bool,
                })
            }
            "not" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                expect_type(&value, ColumnType::Bool, args[0].pos, "not()")?;
                Ok(Typed {
                    sql: format!("(NOT {})", value.sql),
                    ty: ColumnType::Bool,
                })
            }
            "parse_json" | "todynamic" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                match value.ty {
                    ColumnType::Dynamic => Ok(value),
                    ColumnType::String => {
                        let x = &value.sql;
                        let sql = match self.dialect {
                            // Text that is not JSON becomes a JSON string, as in KQL.
                            Dialect::Sqlite => format!("(CASE WHEN json_valid({x}) THEN json({x}) ELSE json_quote({x}) END)"),
                            Dialect::Postgres => format!("({x})::jsonb"),
                        };
                        Ok(Typed {
                            sql,
                            ty: ColumnType::Dynamic,
                        })
                    }
                    other => Err(type_error(
                        args[0].pos,
                        format!("{name}() expects a string, found {}", other.kql_name()),
                    )),
                }
            }
            "tostring" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let sql = self.to_string_sql(value, args[0].pos)?;
                Ok(Typed {
                    sql,
                    ty: ColumnType::String,
                })
            }
            "toint" | "tolong" => {
                expect_args(1)?;
                let value = self.expr(&args[0], scope)?;
                let sql = self.to_long_sql(value, args[0].pos, name)?;
                Ok(Typed {
                    sql,
                    ty: ColumnType::Long,
                })
            }
            "bin" | "floor" => {
                expect_args(2)?;
                let value = self.expr(&args[0], scope)?;
                let Some((size, size_type)) = self.constant_size(&args[1]) else {
                    return Err(type_error(
                        args[1].pos,
                        format!(
                            "expected a constant bin size (a long or timespan literal) in {name}()"
                        ),
                    ));
                };
                if size <= 0 {
                    return Err(type_error(
                        args[1].pos,
                        format!("expected a bin size > 0 in {name}()"),
                    ));
                }
                let valid = matches!(
                    (value.ty, size_type),
                    (ColumnType::Long, ColumnType::Long)
                        | (ColumnType::DateTime, ColumnType::Timespan)
                        | (ColumnType::Timespan, ColumnType::Timespan)
                );
                if !valid {
                    return Err(type_error(
                        pos,
                        format!("{name}() of a {} by a {} is not supported (use long by long, datetime or timespan by timespan)", value.ty.kql_name(), size_type.kql_name()),
                    ));
                }
                let size = self.bind(SqlValue::Integer(size));
                let x = &value.sql;
                // Floor, also for negative values: x - ((x % size) + size) % size.
                Ok(Typed {
                    sql: format!("({x} - ((({x} % {size}) + {size}) % {size}))"),
                    ty: value.ty,
                })
            }
            _ if is_aggregate_function(name) => Err(error(
                ErrorKind::Syntax,
                pos,
                format!("{name}() is an aggregation and is only allowed in summarize"),
            )),
            _ => Err(error(
                ErrorKind::UnknownFunction,
                pos,
                format!(
                    "unknown function '{name}', expected one of: {}",
                    SCALAR_FUNCTIONS.join(", ")
                ),
            )),
        }
    }

    fn to_string_sql(&self, value: Typed, pos: Pos) -> Result<String> {
        let x = &value.sql;
        match value.ty {
            ColumnType::String => Ok(value.sql),
            ColumnType::Dynamic => Ok(self.dynamic_to_string(x)),
            ColumnType::Long | ColumnType::Real => Ok(match self.dialect {
                Dialect::Sqlite => format!("COALESCE(CAST({x} AS TEXT), '')"),
                Dialect::Postgres => format!("COALESCE(({x})::text, '')"),
            }),
            ColumnType::Bool => Ok(format!(
                "(CASE WHEN {x} THEN 'true' WHEN NOT {x} THEN 'false' ELSE '' END)"
            )),
            other => Err(error(
                ErrorKind::Unsupported,
                pos,
                format!("tostring() of a {} is not supported", other.kql_name()),
            )),
        }
    }

    fn to_long_sql(&self, value: Typed, pos: Pos, function: &str) -> Result<String> {
        let x = &value.sql;
        let text_to_long = |text: &str| {
            format!("(CASE WHEN {text} ~ '^\\s*[+-]?[0-9]{{1,18}}\\s*$' THEN ({text})::bigint END)")
        };
        match (value.ty, self.dialect) {
            (ColumnType::Long, _) => Ok(value.sql),
            (ColumnType::Real, Dialect::Sqlite) => Ok(format!("CAST({x} AS INTEGER)")),
            (ColumnType::Real, Dialect::Postgres) => Ok(format!("(trunc({x}))::bigint")),
            (ColumnType::Bool, Dialect::Sqlite) => Ok(value.sql),
            (ColumnType::Bool, Dialect::Postgres) => Ok(format!("(({x})::int)::bigint")),
            (ColumnType::String, Dialect::Sqlite) => Ok(format!("kql_tolong({x})")),
            (ColumnType::String, Dialect::Postgres) => Ok(text_to_long(x)),
            (ColumnType::Dynamic, Dialect::Sqlite) => Ok(format!("kql_tolong({x} ->> '$')")),
            (ColumnType::Dynamic, Dialect::Postgres) => {
                let text = format!("({x} #>> '{{}}')");
                Ok(format!(
                    "(CASE jsonb_typeof({x}) WHEN 'number' THEN (trunc(({text})::numeric))::bigint WHEN 'string' THEN {} WHEN 'boolean' THEN (({text})::boolean::int)::bigint END)",
                    text_to_long(&text)
                ))
            }
            (other, _) => Err(error(
                ErrorKind::Unsupported,
                pos,
                format!("{function}() of a {} is not supported", other.kql_name()),
            )),
        }
    }
}

const SCALAR_FUNCTIONS: &[&str] = &[
    "ago",
    "now",
    "datetime",
    "tolower",
    "toupper",
    "strlen",
    "strcat",
    "isempty",
    "isnotempty",
    "isnull",
    "isnotnull",
    "not",
    "parse_json",
    "todynamic",
    "tostring",
    "toint",
    "tolong",
    "bin",
    "floor",
];

fn is_scalar_function(name: &str) -> bool {
    SCALAR_FUNCTIONS.contains(&name)
}

fn is_aggregate_function(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "countif"
            | "dcount"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "make_set"
            | "arg_max"
            | "arg_min"
    )
}

/// PostgreSQL ARE: a backslash before an ASCII non-alphanumeric character makes it literal.
fn escape_postgres_regex(term: &str) -> String {
    let mut escaped = String::new();
    for c in term.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn comparable(a: ColumnType, b: ColumnType) -> bool {
    a == b || (a.is_numeric() && b.is_numeric())
}

fn expect_type(value: &Typed, expected: ColumnType, pos: Pos, context: &str) -> Result<()> {
    if value.ty == expected {
        Ok(())
    } else {
        Err(type_error(
            pos,
            format!(
                "{context} expects a {} value, found {}",
                expected.kql_name(),
                value.ty.kql_name()
            ),
        ))
    }
}

fn unknown_column(name: &Ident, columns: &[Column]) -> KqlError {
    let mut known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    known.truncate(40);
    error(
        ErrorKind::UnknownColumn,
        name.pos,
        format!(
            "unknown column or name '{}', expected one of: {}",
            name.name,
            known.join(", ")
        ),
    )
}

fn push_unique(columns: &mut Vec<Column>, name: String, ty: ColumnType, pos: Pos) -> Result<()> {
    if columns.iter().any(|c| c.name == name) {
        return Err(error(
            ErrorKind::Syntax,
            pos,
            format!("column '{name}' is defined twice"),
        ));
    }
    columns.push(Column { name, ty });
    Ok(())
}

/// The column name KQL gives an unnamed expression: a column keeps its name, a path into a
/// dynamic column joins its parts with `_` (`RawEventData.verb` → `RawEventData_verb`).
pub fn inferred_name(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Name(name) => Some(name.clone()),
        ExprKind::Member(base, key) => Some(format!("{}_{key}", inferred_name(base)?)),
        ExprKind::Index(base, index) => match &index.kind {
            ExprKind::String(key) if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Some(format!("{}_{key}", inferred_name(base)?))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Name of a project/extend item: its explicit name, an inferred one, or `Column1`, ...
fn output_name(item: &NamedExpr, unnamed: &mut usize) -> (String, Pos) {
    if let Some(name) = &item.name {
        return (name.name.clone(), name.pos);
    }
    if let Some(name) = inferred_name(&item.expr) {
        return (name, item.expr.pos);
    }
    *unnamed += 1;
    (format!("Column{unnamed}"), item.expr.pos)
}

/// Name of a `by` key: also looks through `bin(Column, size)`.
fn by_name(item: &NamedExpr, unnamed: &mut usize) -> (String, Pos) {
    if item.name.is_none() {
        if let ExprKind::Call { name, args } = &item.expr.kind {
            if (name == "bin" || name == "floor") && !args.is_empty() {
                if let Some(inferred) = inferred_name(&args[0]) {
                    return (inferred, item.expr.pos);
                }
            }
        }
    }
    output_name(item, unnamed)
}
