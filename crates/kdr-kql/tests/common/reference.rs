//! An independent, row-at-a-time evaluator of parsed queries, used to check the SQL the
//! compiler generates. It implements KQL's semantics directly in Rust and shares nothing
//! with the compiler but the parsed query and the text formats of datetimes/timespans.

use std::cmp::Ordering;
use std::collections::HashMap;

use kdr_kql::ast::*;
use kdr_kql::time::{format_datetime, format_timespan};
use kdr_kql::{ColumnType, Schema};
use serde_json::Value as Json;

use super::data::Dataset;

#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Null,
    Str(String),
    Long(i64),
    Real(f64),
    Bool(bool),
    Date(i64),
    Span(i64),
    Dyn(Json),
}

#[derive(Clone, Debug)]
pub struct RefTable {
    pub columns: Vec<(String, ColumnType)>,
    pub rows: Vec<Vec<V>>,
}

pub struct Reference<'a> {
    pub schema: &'a Schema,
    pub data: &'a Dataset,
    pub now: i64,
    lets: Vec<Let>,
}

type R<T> = Result<T, String>;

fn stored_to_v(value: &Json, ty: ColumnType) -> V {
    match (value, ty) {
        (_, ColumnType::Dynamic) => V::Dyn(value.clone()),
        (Json::Null, ColumnType::String) => V::Str(String::new()),
        (Json::Null, _) => V::Null,
        (Json::String(s), _) => V::Str(s.clone()),
        (Json::Bool(b), _) => V::Bool(*b),
        (Json::Number(n), ColumnType::DateTime) => V::Date(n.as_i64().unwrap_or(0)),
        (Json::Number(n), ColumnType::Real) => V::Real(n.as_f64().unwrap_or(0.0)),
        (Json::Number(n), _) => V::Long(n.as_i64().unwrap_or(0)),
        (other, _) => V::Str(other.to_string()),
    }
}

pub fn to_json(value: &V) -> Json {
    match value {
        V::Null => Json::Null,
        V::Str(s) => Json::String(s.clone()),
        V::Long(n) => Json::from(*n),
        V::Real(r) => serde_json::Number::from_f64(*r)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        V::Bool(b) => Json::Bool(*b),
        V::Date(n) => Json::String(format_datetime(*n)),
        V::Span(n) => Json::String(format_timespan(*n)),
        V::Dyn(j) => j.clone(),
    }
}

fn v_type(value: &V) -> Option<ColumnType> {
    Some(match value {
        V::Null => return None,
        V::Str(_) => ColumnType::String,
        V::Long(_) => ColumnType::Long,
        V::Real(_) => ColumnType::Real,
        V::Bool(_) => ColumnType::Bool,
        V::Date(_) => ColumnType::DateTime,
        V::Span(_) => ColumnType::Timespan,
        V::Dyn(_) => ColumnType::Dynamic,
    })
}

/// The empty value of a column type: "" for strings (KQL strings are never null).
fn empty_of(ty: ColumnType) -> V {
    match ty {
        ColumnType::String => V::Str(String::new()),
        ColumnType::Dynamic => V::Dyn(Json::Null),
        _ => V::Null,
    }
}

fn dyn_to_string(j: &Json) -> String {
    match j {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn dyn_to_number(j: &Json) -> V {
    match j {
        Json::Number(n) => V::Real(n.as_f64().unwrap_or(0.0)),
        _ => V::Null,
    }
}

fn as_str(value: &V) -> Option<String> {
    match value {
        V::Str(s) => Some(s.clone()),
        V::Dyn(j) => Some(dyn_to_string(j)),
        _ => None,
    }
}

fn as_f64(value: &V) -> Option<f64> {
    match value {
        V::Long(n) => Some(*n as f64),
        V::Real(r) => Some(*r),
        V::Dyn(j) => j.as_f64(),
        _ => None,
    }
}

/// Whole-term match, written independently of the library: split the text into maximal
/// ASCII-alphanumeric runs and search the term's position with boundaries.
fn has(text: &str, term: &str) -> bool {
    if term.is_empty() {
        return true;
    }
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let term: Vec<char> = term.to_lowercase().chars().collect();
    if term.len() > text.len() {
        return false;
    }
    (0..=text.len() - term.len()).any(|i| {
        text[i..i + term.len()] == term[..]
            && (i == 0 || !text[i - 1].is_ascii_alphanumeric())
            && (i + term.len() == text.len() || !text[i + term.len()].is_ascii_alphanumeric())
    })
}

fn tolong_text(s: &str) -> V {
    let t = s.trim();
    let digits = t.trim_start_matches(['+', '-']);
    if t.len() - digits.len() > 1
        || digits.is_empty()
        || digits.len() > 18
        || !digits.chars().all(|c| c.is_ascii_digit())
    {
        return V::Null;
    }
    t.trim_start_matches('+')
        .parse()
        .map(V::Long)
        .unwrap_or(V::Null)
}

/// Orders values for sorting; `None` when either is null.
fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Str(x), V::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (V::Date(x), V::Date(y)) | (V::Span(x), V::Span(y)) | (V::Long(x), V::Long(y)) => {
            Some(x.cmp(y))
        }
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        _ => {
            let (x, y) = (as_f64(a)?, as_f64(b)?);
            x.partial_cmp(&y)
        }
    }
}

fn truth(value: &V) -> Option<bool> {
    match value {
        V::Bool(b) => Some(*b),
        _ => None,
    }
}

fn bool_v(value: Option<bool>) -> V {
    value.map_or(V::Null, V::Bool)
}

/// Equality with KQL's coercion of dynamic operands to the other side's type.
fn equals(a: &V, b: &V) -> Option<bool> {
    match (a, b) {
        (V::Null, _) | (_, V::Null) => None,
        (V::Dyn(x), V::Dyn(y)) => Some(x == y),
        (V::Dyn(x), V::Str(y)) | (V::Str(y), V::Dyn(x)) => Some(&dyn_to_string(x) == y),
        (V::Dyn(x), V::Bool(y)) | (V::Bool(y), V::Dyn(x)) => x.as_bool().map(|x| x == *y),
        (V::Dyn(x), other) | (other, V::Dyn(x)) => {
            let n = x.as_f64()?;
            Some(n == as_f64(other)?)
        }
        (V::Str(x), V::Str(y)) => Some(x == y),
        _ => compare(a, b).map(|o| o == Ordering::Equal),
    }
}

impl<'a> Reference<'a> {
    pub fn new(schema: &'a Schema, data: &'a Dataset, now: i64) -> Self {
        Reference {
            schema,
            data,
            now,
            lets: Vec::new(),
        }
    }

    pub fn run(&mut self, query: &Query) -> R<RefTable> {
        self.lets = query.lets.clone();
        self.tabular(&query.body)
    }

    fn let_value(&self, name: &str) -> Option<LetValue> {
        self.lets
            .iter()
            .rev()
            .find(|l| l.name.name == name)
            .map(|l| l.value.clone())
    }

    fn tabular(&mut self, t: &Tabular) -> R<RefTable> {
        let mut table = match &t.source {
            Source::Name(ident) => self.named(&ident.name)?,
            Source::Nested(inner) => self.tabular(inner)?,
            Source::Union { parts, .. } => {
                let tables = parts
                    .iter()
                    .map(|p| self.tabular(p))
                    .collect::<R<Vec<_>>>()?;
                union(tables)
            }
        };
        for op in &t.operators {
            table = self.operator(table, op)?;
        }
        Ok(table)
    }

    fn named(&mut self, name: &str) -> R<RefTable> {
        match self.let_value(name) {
            Some(LetValue::Tabular(t)) => return self.tabular(&t),
            Some(LetValue::Scalar(Expr {
                kind: ExprKind::Name(n),
                ..
            })) => return self.named(&n),
            _ => {}
        }
        let table = self.schema.table(name).ok_or("unknown table")?;
        let rows = if name == "CloudProcessEvents" {
            &self.data.process
        } else {
            &self.data.audit
        };
        Ok(RefTable {
            columns: table
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.ty))
                .collect(),
            rows: rows
                .iter()
                .map(|row| {
                    row.iter()
                        .zip(&table.columns)
                        .map(|(v, c)| stored_to_v(v, c.ty))
                        .collect()
                })
                .collect(),
        })
    }

    fn column_index(table: &RefTable, name: &str) -> R<usize> {
        table
            .columns
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| format!("no column {name}"))
    }

    fn operator(&mut self, input: RefTable, op: &Operator) -> R<RefTable> {
        match &op.kind {
            OperatorKind::Where(e) => {
                let mut rows = Vec::new();
                for row in &input.rows {
                    if truth(&self.eval(e, &input, row)?) == Some(true) {
                        rows.push(row.clone());
                    }
                }
                Ok(RefTable {
                    columns: input.columns,
                    rows,
                })
            }
            OperatorKind::Project(items) => {
                let mut columns = Vec::new();
                let mut unnamed = 0;
                for item in items {
                    columns.push(name_of(item, &mut unnamed));
                }
                let mut rows = Vec::new();
                for row in &input.rows {
                    let mut out = Vec::new();
                    for item in items {
                        out.push(self.eval(&item.expr, &input, row)?);
                    }
                    rows.push(out);
                }
                Ok(typed(columns, rows, &input, items))
            }
            OperatorKind::ProjectAway(names) => {
                let keep: Vec<usize> = (0..input.columns.len())
                    .filter(|i| !names.iter().any(|n| n.name == input.columns[*i].0))
                    .collect();
                Ok(RefTable {
                    columns: keep.iter().map(|i| input.columns[*i].clone()).collect(),
                    rows: input
                        .rows
                        .iter()
                        .map(|r| keep.iter().map(|i| r[*i].clone()).collect())
                        .collect(),
                })
            }
            OperatorKind::Extend(items) => {
                let mut table = input;
                let mut unnamed = 0;
                for item in items {
                    let name = name_of(item, &mut unnamed);
                    let mut values = Vec::new();
                    for row in &table.rows {
                        values.push(self.eval(&item.expr, &table, row)?);
                    }
                    let ty = static_type(&item.expr, &table, &values);
                    match table.columns.iter().position(|(n, _)| *n == name) {
                        Some(i) => {
                            table.columns[i].1 = ty;
                            for (row, v) in table.rows.iter_mut().zip(values) {
                                row[i] = v;
                            }
                        }
                        None => {
                            table.columns.push((name, ty));
                            for (row, v) in table.rows.iter_mut().zip(values) {
                                row.push(v);
                            }
                        }
                    }
                }
                Ok(table)
            }
            OperatorKind::Summarize { aggregates, by } => self.summarize(input, aggregates, by),
            OperatorKind::Sort(keys) => self.sort(input, keys),
            OperatorKind::Top { count, key } => {
                let sorted = self.sort(input, std::slice::from_ref(key))?;
                self.take(sorted, count)
            }
            OperatorKind::Take(count) => self.take(input, count),
            OperatorKind::Distinct(names) => {
                let idx: Vec<usize> = if names.is_empty() {
                    (0..input.columns.len()).collect()
                } else {
                    names
                        .iter()
                        .map(|n| Self::column_index(&input, &n.name))
                        .collect::<R<_>>()?
                };
                let mut seen = std::collections::HashSet::new();
                let mut rows = Vec::new();
                for row in &input.rows {
                    let out: Vec<V> = idx.iter().map(|i| row[*i].clone()).collect();
                    if seen.insert(format!("{:?}", out.iter().map(to_json).collect::<Vec<_>>())) {
                        rows.push(out);
                    }
                }
                Ok(RefTable {
                    columns: idx.iter().map(|i| input.columns[*i].clone()).collect(),
                    rows,
                })
            }
            OperatorKind::Count => Ok(RefTable {
                columns: vec![("Count".into(), ColumnType::Long)],
                rows: vec![vec![V::Long(input.rows.len() as i64)]],
            }),
            OperatorKind::Join { kind, right, on } => {
                let right = self.tabular(right)?;
                join(input, right, *kind, on)
            }
            OperatorKind::Union(parts) => {
                let mut tables = vec![input];
                for p in parts {
                    tables.push(self.tabular(p)?);
                }
                Ok(union(tables))
            }
            OperatorKind::MvExpand(items) => {
                let item = &items[0];
                let name = match (&item.name, &item.expr.kind) {
                    (Some(n), _) => n.name.clone(),
                    (None, ExprKind::Name(n)) => n.clone(),
                    _ => return Err("mv-expand needs a name".into()),
                };
                let mut columns = input.columns.clone();
                let position = match columns.iter().position(|(n, _)| *n == name) {
                    Some(i) => {
                        columns[i].1 = ColumnType::Dynamic;
                        i
                    }
                    None => {
                        columns.push((name, ColumnType::Dynamic));
                        columns.len() - 1
                    }
                };
                let mut rows = Vec::new();
                for row in &input.rows {
                    let value = self.eval(&item.expr, &input, row)?;
                    let elements: Vec<Json> = match value {
                        V::Dyn(Json::Array(items)) => items,
                        V::Dyn(Json::Object(map)) => map
                            .into_iter()
                            .map(|(k, v)| {
                                let mut one = serde_json::Map::new();
                                one.insert(k, v);
                                Json::Object(one)
                            })
                            .collect(),
                        V::Dyn(other) => vec![other],
                        _ => return Err("mv-expand of a non-dynamic".into()),
                    };
                    for element in elements {
                        let mut out = row.clone();
                        if position == out.len() {
                            out.push(V::Dyn(element));
                        } else {
                            out[position] = V::Dyn(element);
                        }
                        rows.push(out);
                    }
                }
                Ok(RefTable { columns, rows })
            }
        }
    }

    fn take(&mut self, input: RefTable, count: &Expr) -> R<RefTable> {
        let empty = RefTable {
            columns: vec![],
            rows: vec![],
        };
        let n = match self.eval(count, &empty, &[])? {
            V::Long(n) => n as usize,
            _ => return Err("take needs a long".into()),
        };
        Ok(RefTable {
            columns: input.columns,
            rows: input.rows.into_iter().take(n).collect(),
        })
    }

    fn sort(&mut self, input: RefTable, keys: &[SortKey]) -> R<RefTable> {
        let mut keyed = Vec::new();
        for row in input.rows {
            let mut values = Vec::new();
            for key in keys {
                values.push(self.eval(
                    &key.expr,
                    &RefTable {
                        columns: input.columns.clone(),
                        rows: vec![],
                    },
                    &row,
                )?);
            }
            keyed.push((values, row));
        }
        keyed.sort_by(|(a, _), (b, _)| {
            for (i, key) in keys.iter().enumerate() {
                let nulls_first = key.nulls_first.unwrap_or(!key.descending);
                let ordering = match (&a[i], &b[i]) {
                    (V::Null, V::Null) => Ordering::Equal,
                    (V::Null, _) => {
                        if nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (_, V::Null) => {
                        if nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (x, y) => {
                        let o = compare(x, y).unwrap_or(Ordering::Equal);
                        if key.descending {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            Ordering::Equal
        });
        Ok(RefTable {
            columns: input.columns,
            rows: keyed.into_iter().map(|(_, r)| r).collect(),
        })
    }

    fn summarize(
        &mut self,
        input: RefTable,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
    ) -> R<RefTable> {
        let mut unnamed = 0;
        let mut columns: Vec<(String, ColumnType)> = Vec::new();
        for key in by {
            let name = match (&key.name, &key.expr.kind) {
                (None, ExprKind::Call { name, args }) if name == "bin" => {
                    kdr_kql::inferred_name(&args[0]).unwrap_or_default()
                }
                _ => name_of(key, &mut unnamed),
            };
            columns.push((name, ColumnType::Dynamic));
        }
        // Groups in first-seen order.
        let mut groups: Vec<(Vec<V>, Vec<Vec<V>>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for row in &input.rows {
            let mut key = Vec::new();
            for k in by {
                key.push(self.eval(&k.expr, &input, row)?);
            }
            let id = format!("{:?}", key.iter().map(to_json).collect::<Vec<_>>());
            let slot = *index.entry(id).or_insert_with(|| {
                groups.push((key.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[slot].1.push(row.clone());
        }
        if by.is_empty() && groups.is_empty() {
            groups.push((vec![], vec![]));
        }
        for (i, key) in by.iter().enumerate() {
            let values: Vec<V> = groups.iter().map(|g| g.0[i].clone()).collect();
            columns[i].1 = static_type(&key.expr, &input, &values);
        }
        // arg_max / arg_min
        if let Some(agg) = aggregates.first() {
            if let ExprKind::Call { name, args } = &agg.expr.kind {
                if name == "arg_max" || name == "arg_min" {
                    let extreme_name = agg
                        .name
                        .as_ref()
                        .map(|n| n.name.clone())
                        .or_else(|| kdr_kql::inferred_name(&args[0]))
                        .unwrap_or_default();
                    let mut returned: Vec<(String, usize)> = Vec::new();
                    for arg in &args[1..] {
                        match &arg.kind {
                            ExprKind::Star => {
                                for (i, (n, _)) in input.columns.iter().enumerate() {
                                    if !columns.iter().any(|c| &c.0 == n)
                                        && *n != extreme_name
                                        && !returned.iter().any(|r| &r.0 == n)
                                    {
                                        returned.push((n.clone(), i));
                                    }
                                }
                            }
                            _ => {
                                let n = kdr_kql::inferred_name(arg).unwrap_or_default();
                                returned.push((n.clone(), Self::column_index(&input, &n)?));
                            }
                        }
                    }
                    let extreme_type = static_type(&args[0], &input, &[]);
                    columns.push((extreme_name, extreme_type));
                    for (n, i) in &returned {
                        columns.push((n.clone(), input.columns[*i].1));
                    }
                    let mut rows = Vec::new();
                    for (key, members) in &groups {
                        let mut best: Option<(V, &Vec<V>)> = None;
                        for row in members {
                            let v = self.eval(&args[0], &input, row)?;
                            if v == V::Null {
                                continue;
                            }
                            let better = match &best {
                                None => true,
                                Some((b, _)) => {
                                    let o = compare(&v, b).unwrap_or(Ordering::Equal);
                                    if name == "arg_max" {
                                        o == Ordering::Greater
                                    } else {
                                        o == Ordering::Less
                                    }
                                }
                            };
                            if better {
                                best = Some((v, row));
                            }
                        }
                        let Some((value, row)) = best else { continue };
                        let mut out = key.clone();
                        out.push(value);
                        for (_, i) in &returned {
                            out.push(row[*i].clone());
                        }
                        rows.push(out);
                    }
                    return Ok(RefTable { columns, rows });
                }
            }
        }
        let mut agg_names = Vec::new();
        for agg in aggregates {
            let ExprKind::Call { name, args } = &agg.expr.kind else {
                return Err("not an aggregate".into());
            };
            let prefix = match name.as_str() {
                "make_set" => "set",
                other => other,
            };
            let default = match name.as_str() {
                "count" | "countif" => format!("{name}_"),
                _ => format!(
                    "{prefix}_{}",
                    kdr_kql::inferred_name(&args[0]).unwrap_or_default()
                ),
            };
            agg_names.push(agg.name.as_ref().map(|n| n.name.clone()).unwrap_or(default));
        }
        let mut rows = Vec::new();
        let mut agg_types: Vec<Option<ColumnType>> = vec![None; aggregates.len()];
        for (key, members) in &groups {
            let mut out = key.clone();
            for (ai, agg) in aggregates.iter().enumerate() {
                let ExprKind::Call { name, args } = &agg.expr.kind else {
                    unreachable!()
                };
                let values: Vec<V> = match args.first() {
                    Some(a) => members
                        .iter()
                        .map(|r| self.eval(a, &input, r))
                        .collect::<R<_>>()?,
                    None => vec![],
                };
                let non_null: Vec<&V> = values
                    .iter()
                    .filter(|v| !matches!(v, V::Null | V::Dyn(Json::Null)))
                    .collect();
                let value = match name.as_str() {
                    "count" => V::Long(members.len() as i64),
                    "countif" => {
                        V::Long(values.iter().filter(|v| **v == V::Bool(true)).count() as i64)
                    }
                    "dcount" => {
                        let set: std::collections::HashSet<String> =
                            non_null.iter().map(|v| to_json(v).to_string()).collect();
                        V::Long(set.len() as i64)
                    }
                    "sum" => {
                        if non_null.is_empty() {
                            V::Null
                        } else if non_null.iter().all(|v| matches!(v, V::Long(_))) {
                            V::Long(
                                non_null
                                    .iter()
                                    .map(|v| if let V::Long(n) = v { *n } else { 0 })
                                    .sum(),
                            )
                        } else if non_null.iter().all(|v| matches!(v, V::Span(_))) {
                            V::Span(
                                non_null
                                    .iter()
                                    .map(|v| if let V::Span(n) = v { *n } else { 0 })
                                    .sum(),
                            )
                        } else {
                            V::Real(non_null.iter().filter_map(|v| as_f64(v)).sum())
                        }
                    }
                    "avg" => {
                        if non_null.is_empty() {
                            V::Null
                        } else {
                            V::Real(
                                non_null.iter().filter_map(|v| as_f64(v)).sum::<f64>()
                                    / non_null.len() as f64,
                            )
                        }
                    }
                    "min" | "max" => {
                        let mut best: Option<&V> = None;
                        for v in &non_null {
                            let better = match best {
                                None => true,
                                Some(b) => {
                                    let o = compare(v, b).unwrap_or(Ordering::Equal);
                                    if name == "max" {
                                        o == Ordering::Greater
                                    } else {
                                        o == Ordering::Less
                                    }
                                }
                            };
                            if better {
                                best = Some(v);
                            }
                        }
                        best.map(|v| (*v).clone()).unwrap_or(V::Null)
                    }
                    "make_set" => {
                        let mut set: Vec<Json> = Vec::new();
                        for v in non_null {
                            let j = match v {
                                V::Dyn(j) => j.clone(),
                                other => to_json(other),
                            };
                            if !set.contains(&j) {
                                set.push(j);
                            }
                        }
                        V::Dyn(Json::Array(set))
                    }
                    other => return Err(format!("unknown aggregate {other}")),
                };
                if agg_types[ai].is_none() {
                    agg_types[ai] = match name.as_str() {
                        "count" | "countif" | "dcount" => Some(ColumnType::Long),
                        "avg" => Some(ColumnType::Real),
                        "make_set" => Some(ColumnType::Dynamic),
                        _ => v_type(&value),
                    };
                }
                out.push(value);
            }
            rows.push(out);
        }
        for (name, ty) in agg_names.into_iter().zip(agg_types) {
            columns.push((name, ty.unwrap_or(ColumnType::Long)));
        }
        Ok(RefTable { columns, rows })
    }

    pub fn eval(&mut self, e: &Expr, table: &RefTable, row: &[V]) -> R<V> {
        Ok(match &e.kind {
            ExprKind::String(s) => V::Str(s.clone()),
            ExprKind::Long(n) => V::Long(*n),
            ExprKind::Real(r) => V::Real(*r),
            ExprKind::Bool(b) => V::Bool(*b),
            ExprKind::Timespan(n) => V::Span(*n),
            ExprKind::DateTime(n) => V::Date(*n),
            ExprKind::Name(name) => {
                if let Some(i) = table.columns.iter().position(|(n, _)| n == name) {
                    return Ok(row[i].clone());
                }
                match self.let_value(name) {
                    Some(LetValue::Scalar(expr)) => {
                        let empty = RefTable {
                            columns: vec![],
                            rows: vec![],
                        };
                        return self.eval(&expr, &empty, &[]);
                    }
                    _ => return Err(format!("unknown name {name}")),
                }
            }
            ExprKind::Star => return Err("star".into()),
            ExprKind::Member(base, key) => match self.eval(base, table, row)? {
                V::Dyn(j) => V::Dyn(j.get(key).cloned().unwrap_or(Json::Null)),
                _ => return Err("member of non-dynamic".into()),
            },
            ExprKind::Index(base, index) => {
                let base = self.eval(base, table, row)?;
                let index = self.eval(index, table, row)?;
                match (base, index) {
                    (V::Dyn(j), V::Str(k)) => V::Dyn(j.get(&k).cloned().unwrap_or(Json::Null)),
                    (V::Dyn(Json::Array(items)), V::Long(i)) => {
                        let position = if i < 0 { items.len() as i64 + i } else { i };
                        V::Dyn(
                            usize::try_from(position)
                                .ok()
                                .and_then(|p| items.get(p))
                                .cloned()
                                .unwrap_or(Json::Null),
                        )
                    }
                    (V::Dyn(_), V::Long(_)) => V::Dyn(Json::Null),
                    _ => return Err("bad index".into()),
                }
            }
            ExprKind::Negate(inner) => match self.eval(inner, table, row)? {
                V::Long(n) => V::Long(-n),
                V::Real(r) => V::Real(-r),
                V::Span(n) => V::Span(-n),
                V::Dyn(j) => match dyn_to_number(&j) {
                    V::Real(r) => V::Real(-r),
                    other => other,
                },
                _ => V::Null,
            },
            ExprKind::Call { name, args } => return self.call(name, args, table, row),
            ExprKind::Binary(op, l, r) => {
                let a = self.eval(l, table, row)?;
                let b = self.eval(r, table, row)?;
                return Ok(binary(*op, a, b));
            }
            ExprKind::In {
                expr,
                list,
                negated,
                case_insensitive,
            } => {
                let value = self.eval(expr, table, row)?;
                let mut result = Some(false);
                for item in list {
                    let item = self.eval(item, table, row)?;
                    let eq = if *case_insensitive {
                        match (as_str(&value), as_str(&item)) {
                            (Some(x), Some(y)) => Some(x.to_lowercase() == y.to_lowercase()),
                            _ => None,
                        }
                    } else {
                        equals(&value, &item)
                    };
                    match eq {
                        Some(true) => {
                            result = Some(true);
                            break;
                        }
                        None => result = None,
                        Some(false) => {}
                    }
                }
                bool_v(if *negated { result.map(|b| !b) } else { result })
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let value = self.eval(expr, table, row)?;
                let low = self.eval(low, table, row)?;
                let mut high = self.eval(high, table, row)?;
                if let (V::Date(l), V::Span(s)) = (&low, &high) {
                    high = V::Date(l + s);
                }
                let value = match value {
                    V::Dyn(j) => dyn_to_number(&j),
                    other => other,
                };
                let result = match (compare(&value, &low), compare(&value, &high)) {
                    (Some(a), Some(b)) => Some(a != Ordering::Less && b != Ordering::Greater),
                    _ => None,
                };
                bool_v(if *negated { result.map(|b| !b) } else { result })
            }
        })
    }

    fn call(&mut self, name: &str, args: &[Expr], table: &RefTable, row: &[V]) -> R<V> {
        let mut values = Vec::new();
        for a in args {
            values.push(self.eval(a, table, row)?);
        }
        let first = values.first().cloned().unwrap_or(V::Null);
        Ok(match name {
            "now" => V::Date(self.now),
            "ago" => match first {
                V::Span(s) => V::Date(self.now - s),
                _ => return Err("ago".into()),
            },
            "tolower" => V::Str(as_str(&first).unwrap_or_default().to_lowercase()),
            "toupper" => V::Str(as_str(&first).unwrap_or_default().to_uppercase()),
            "strlen" => V::Long(as_str(&first).unwrap_or_default().chars().count() as i64),
            "strcat" => V::Str(values.iter().map(tostring).collect::<String>()),
            "isempty" | "isnotempty" => {
                let empty = match &first {
                    V::Str(s) => s.is_empty(),
                    V::Dyn(j) => dyn_to_string(j).is_empty(),
                    V::Null => true,
                    _ => false,
                };
                V::Bool(if name == "isempty" { empty } else { !empty })
            }
            "isnull" | "isnotnull" => {
                let null = matches!(first, V::Null | V::Dyn(Json::Null));
                V::Bool(if name == "isnull" { null } else { !null })
            }
            "not" => match first {
                V::Bool(b) => V::Bool(!b),
                _ => V::Null,
            },
            "parse_json" | "todynamic" => match first {
                V::Str(s) => V::Dyn(serde_json::from_str(&s).unwrap_or(Json::String(s))),
                other => other,
            },
            "tostring" => V::Str(tostring(&first)),
            "toint" | "tolong" => match first {
                V::Long(n) => V::Long(n),
                V::Real(r) => V::Long(r.trunc() as i64),
                V::Bool(b) => V::Long(i64::from(b)),
                V::Str(s) => tolong_text(&s),
                V::Dyn(Json::Number(n)) => V::Long(
                    n.as_i64()
                        .unwrap_or_else(|| n.as_f64().unwrap_or(0.0).trunc() as i64),
                ),
                V::Dyn(Json::String(s)) => tolong_text(&s),
                V::Dyn(Json::Bool(b)) => V::Long(i64::from(b)),
                _ => V::Null,
            },
            "bin" | "floor" => {
                let size = match values.get(1) {
                    Some(V::Long(s)) | Some(V::Span(s)) => *s,
                    _ => return Err("bin size".into()),
                };
                match first {
                    V::Long(x) => V::Long(x.div_euclid(size) * size),
                    V::Date(x) => V::Date(x.div_euclid(size) * size),
                    V::Span(x) => V::Span(x.div_euclid(size) * size),
                    _ => V::Null,
                }
            }
            other => return Err(format!("unknown function {other}")),
        })
    }
}

fn tostring(value: &V) -> String {
    match value {
        V::Null => String::new(),
        V::Str(s) => s.clone(),
        V::Long(n) => n.to_string(),
        V::Real(r) => r.to_string(),
        V::Bool(b) => b.to_string(),
        V::Dyn(j) => dyn_to_string(j),
        V::Date(n) => format_datetime(*n),
        V::Span(n) => format_timespan(*n),
    }
}

fn binary(op: BinaryOp, a: V, b: V) -> V {
    use BinaryOp::*;
    let strings = || {
        (
            as_str(&a).unwrap_or_default(),
            as_str(&b).unwrap_or_default(),
        )
    };
    match op {
        And => bool_v(match (truth(&a), truth(&b)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }),
        Or => bool_v(match (truth(&a), truth(&b)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        }),
        Eq => bool_v(equals(&a, &b)),
        Ne => bool_v(equals(&a, &b).map(|x| !x)),
        Lt | Le | Gt | Ge => {
            let a = match a {
                V::Dyn(j) => dyn_to_number(&j),
                other => other,
            };
            let b = match b {
                V::Dyn(j) => dyn_to_number(&j),
                other => other,
            };
            bool_v(compare(&a, &b).map(|o| match op {
                Lt => o == Ordering::Less,
                Le => o != Ordering::Greater,
                Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        EqCi | NeCi => {
            let (x, y) = strings();
            V::Bool((x.to_lowercase() == y.to_lowercase()) == (op == EqCi))
        }
        Has | NotHas => {
            let (x, y) = strings();
            V::Bool(has(&x, &y) == (op == Has))
        }
        Contains | NotContains => {
            let (x, y) = strings();
            V::Bool(x.to_lowercase().contains(&y.to_lowercase()) == (op == Contains))
        }
        StartsWith | NotStartsWith => {
            let (x, y) = strings();
            V::Bool(x.to_lowercase().starts_with(&y.to_lowercase()) == (op == StartsWith))
        }
        EndsWith | NotEndsWith => {
            let (x, y) = strings();
            V::Bool(x.to_lowercase().ends_with(&y.to_lowercase()) == (op == EndsWith))
        }
        MatchesRegex => {
            let (x, y) = strings();
            V::Bool(
                regex::Regex::new(&y)
                    .map(|r| r.is_match(&x))
                    .unwrap_or(false),
            )
        }
        Add | Sub | Mul | Div | Mod => arithmetic(op, a, b),
    }
}

fn arithmetic(op: BinaryOp, a: V, b: V) -> V {
    use BinaryOp::*;
    let a = match a {
        V::Dyn(j) => dyn_to_number(&j),
        other => other,
    };
    let b = match b {
        V::Dyn(j) => dyn_to_number(&j),
        other => other,
    };
    match (op, &a, &b) {
        (_, V::Null, _) | (_, _, V::Null) => V::Null,
        (Div | Mod, _, V::Long(0)) | (Div, _, V::Span(0)) => V::Null,
        (Add, V::Long(x), V::Long(y)) => V::Long(x + y),
        (Sub, V::Long(x), V::Long(y)) => V::Long(x - y),
        (Mul, V::Long(x), V::Long(y)) => V::Long(x * y),
        (Div, V::Long(x), V::Long(y)) => V::Long(x / y),
        (Mod, V::Long(x), V::Long(y)) => V::Long(x % y),
        (Sub, V::Date(x), V::Date(y)) => V::Span(x - y),
        (Add, V::Date(x), V::Span(y)) | (Add, V::Span(y), V::Date(x)) => V::Date(x + y),
        (Sub, V::Date(x), V::Span(y)) => V::Date(x - y),
        (Add, V::Span(x), V::Span(y)) => V::Span(x + y),
        (Sub, V::Span(x), V::Span(y)) => V::Span(x - y),
        (Mul, V::Span(x), V::Long(y)) | (Mul, V::Long(y), V::Span(x)) => V::Span(x * y),
        (Div, V::Span(x), V::Long(y)) => V::Span(x / y),
        (Div, V::Span(x), V::Span(y)) => V::Real(*x as f64 / *y as f64),
        _ => {
            let (x, y) = (
                as_f64(&a).unwrap_or(f64::NAN),
                as_f64(&b).unwrap_or(f64::NAN),
            );
            match op {
                Add => V::Real(x + y),
                Sub => V::Real(x - y),
                Mul => V::Real(x * y),
                Div if y == 0.0 => V::Null,
                Div => V::Real(x / y),
                _ => V::Null,
            }
        }
    }
}

fn name_of(item: &NamedExpr, unnamed: &mut usize) -> String {
    if let Some(n) = &item.name {
        return n.name.clone();
    }
    if let Some(n) = kdr_kql::inferred_name(&item.expr) {
        return n;
    }
    *unnamed += 1;
    format!("Column{unnamed}")
}

/// The column type of an expression: a referenced column's type, else the first value's.
fn static_type(e: &Expr, table: &RefTable, values: &[V]) -> ColumnType {
    if let ExprKind::Name(n) = &e.kind {
        if let Some((_, ty)) = table.columns.iter().find(|(c, _)| c == n) {
            return *ty;
        }
    }
    if matches!(e.kind, ExprKind::Member(..) | ExprKind::Index(..)) {
        return ColumnType::Dynamic;
    }
    values.iter().find_map(v_type).unwrap_or(ColumnType::Long)
}

fn typed(
    columns: Vec<String>,
    rows: Vec<Vec<V>>,
    input: &RefTable,
    items: &[NamedExpr],
) -> RefTable {
    let types = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let values: Vec<V> = rows.iter().map(|r| r[i].clone()).collect();
            static_type(&item.expr, input, &values)
        })
        .collect::<Vec<_>>();
    RefTable {
        columns: columns.into_iter().zip(types).collect(),
        rows,
    }
}

fn union(tables: Vec<RefTable>) -> RefTable {
    let mut columns: Vec<(String, ColumnType)> = Vec::new();
    for t in &tables {
        for c in &t.columns {
            if !columns.iter().any(|x| x.0 == c.0) {
                columns.push(c.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for t in &tables {
        for row in &t.rows {
            rows.push(
                columns
                    .iter()
                    .map(|(n, ty)| match t.columns.iter().position(|c| &c.0 == n) {
                        Some(i) => row[i].clone(),
                        None => empty_of(*ty),
                    })
                    .collect(),
            );
        }
    }
    RefTable { columns, rows }
}

fn join(left: RefTable, right: RefTable, kind: JoinKind, on: &[JoinKey]) -> R<RefTable> {
    let pairs: Vec<(usize, usize)> = on
        .iter()
        .map(|k| {
            let (l, r) = match k {
                JoinKey::Same(n) => (&n.name, &n.name),
                JoinKey::Pair { left, right } => (&left.name, &right.name),
            };
            Ok((
                Reference::column_index(&left, l)?,
                Reference::column_index(&right, r)?,
            ))
        })
        .collect::<R<_>>()?;
    let mut left_rows = left.rows.clone();
    if kind == JoinKind::InnerUnique {
        let mut seen = std::collections::HashSet::new();
        left_rows.retain(|row| {
            seen.insert(format!(
                "{:?}",
                pairs
                    .iter()
                    .map(|(l, _)| to_json(&row[*l]))
                    .collect::<Vec<_>>()
            ))
        });
    }
    let mut columns = left.columns.clone();
    for (name, ty) in &right.columns {
        let mut candidate = name.clone();
        let mut suffix = 1;
        while columns.iter().any(|c| c.0 == candidate) {
            candidate = format!("{name}{suffix}");
            suffix += 1;
        }
        columns.push((candidate, *ty));
    }
    let mut rows = Vec::new();
    for l in &left_rows {
        let mut matched = false;
        for r in &right.rows {
            if pairs
                .iter()
                .all(|(li, ri)| equals(&l[*li], &r[*ri]) == Some(true))
            {
                matched = true;
                let mut out = l.clone();
                out.extend(r.iter().cloned());
                rows.push(out);
            }
        }
        if !matched && kind == JoinKind::LeftOuter {
            let mut out = l.clone();
            out.extend(right.columns.iter().map(|(_, ty)| empty_of(*ty)));
            rows.push(out);
        }
    }
    Ok(RefTable { columns, rows })
}
