//! Syntax trees -> compiled matchers. Field names become [`Field`]s, operands are parsed to the
//! field's type, pattern lists become one automaton or set. Nothing here runs per event.

use aho_corasick::{
    AhoCorasick, AhoCorasickBuilder, Anchored, Input as AcInput, MatchKind, StartKind,
};
use regex::RegexSet;
use rustc_hash::{FxHashMap, FxHashSet};

use kdr_model::Source;

use crate::fields::{ArgKind, Field, FieldArg, FieldSource, FieldType, Val};
use crate::glob::Globs;
use crate::input::Input;
use crate::loader::{ExceptionDef, ExceptionValue, ListDef, Location, MacroDef, RuleError, Text};
use crate::parser::{parse_condition, Ast, FieldRef, Op, Operand, Value};

/// Kleene's three-valued logic: a test on a field the event lacks is `Unknown`, and a rule
/// fires only on `True`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    False,
    True,
    Unknown,
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

#[derive(Debug)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
}

#[derive(Debug)]
pub struct Test {
    pub field: Field,
    pub arg: FieldArg,
    pub matcher: Matcher,
    /// Every value must match (instead of any); an empty list does not match.
    pub all: bool,
}

#[derive(Debug)]
pub enum Matcher {
    Exists,
    StrEq(Box<str>),
    StrIn(FxHashSet<Box<str>>),
    Contains(AhoCorasick),
    StartsWith(AhoCorasick),
    EndsWith(Vec<Box<str>>),
    PathPrefix(Vec<Box<str>>),
    Glob(Globs),
    Regex(RegexSet),
    IntCmp(Op, i64),
    IntIn(Vec<i64>),
    BoolEq(bool),
    /// Compares with a value captured by an earlier step of a sequence (`$name`).
    Capture(Op, usize),
}

impl Expr {
    pub fn eval(&self, input: &Input<'_>) -> Tri {
        self.eval_with(input, &[])
    }

    /// Evaluates with the values earlier sequence steps captured (`$name` operands); a
    /// capture not available yet makes its test unknown.
    pub fn eval_with(&self, input: &Input<'_>, captures: &[String]) -> Tri {
        match self {
            Expr::And(parts) => {
                let mut result = Tri::True;
                for part in parts {
                    match part.eval_with(input, captures) {
                        Tri::False => return Tri::False,
                        Tri::Unknown => result = Tri::Unknown,
                        Tri::True => {}
                    }
                }
                result
            }
            Expr::Or(parts) => {
                let mut result = Tri::False;
                for part in parts {
                    match part.eval_with(input, captures) {
                        Tri::True => return Tri::True,
                        Tri::Unknown => result = Tri::Unknown,
                        Tri::False => {}
                    }
                }
                result
            }
            Expr::Not(inner) => inner.eval_with(input, captures).not(),
            Expr::Test(test) => match test.matcher {
                Matcher::Capture(op, slot) => test.eval_capture(input, op, captures.get(slot)),
                _ => test.eval(input),
            },
        }
    }
}

impl Test {
    pub fn eval(&self, input: &Input<'_>) -> Tri {
        let value = self.field.extract(&self.arg, input);
        if let Matcher::Exists = self.matcher {
            return Tri::from_bool(match &value {
                Val::Missing => false,
                Val::Strs(s) => !s.is_empty(),
                Val::OwnedStrs(s) => !s.is_empty(),
                Val::Names(names) => names.iter().any(|n| !n.is_empty()),
                Val::StrRefs(s) => !s.is_empty(),
                Val::Ints(s) => !s.is_empty(),
                Val::Bools(s) => !s.is_empty(),
                _ => true,
            });
        }
        let m = &self.matcher;
        let found = match value {
            Val::Missing => return Tri::Unknown,
            Val::Str(s) => m.str(s),
            Val::Int(n) => m.int(n),
            Val::Bool(b) => m.bool(b),
            Val::Strs(list) => self.quantify(list, |s| m.str(s)),
            Val::OwnedStrs(list) => self.quantify(&list, |s| m.str(s)),
            Val::Names(names) => self.quantify_names(&names, |s| m.str(s)),
            Val::StrRefs(list) => self.quantify(list, |s| m.str(s)),
            Val::Ints(list) => self.quantify(list, |n| m.int(*n)),
            Val::Bools(list) => self.quantify(list, |b| m.bool(*b)),
        };
        Tri::from_bool(found)
    }

    fn eval_capture(&self, input: &Input<'_>, op: Op, captured: Option<&String>) -> Tri {
        let Some(captured) = captured else {
            return Tri::Unknown;
        };
        let test = |s: &str| match op {
            Op::Contains => s.contains(captured.as_str()),
            Op::StartsWith => s.starts_with(captured.as_str()),
            Op::EndsWith => s.ends_with(captured.as_str()),
            Op::PMatch => path_under(s, captured),
            _ => s == captured,
        };
        let int = |n: i64| captured.parse::<i64>().is_ok_and(|c| c == n);
        let found = match self.field.extract(&self.arg, input) {
            Val::Missing => return Tri::Unknown,
            Val::Str(s) => test(s),
            Val::Int(n) => int(n),
            Val::Bool(b) => captured.as_str() == if b { "true" } else { "false" },
            Val::Strs(list) => self.quantify(list, |s| test(s)),
            Val::OwnedStrs(list) => self.quantify(&list, |s| test(s)),
            Val::Names(names) => self.quantify_names(&names, |s| test(s)),
            Val::StrRefs(list) => self.quantify(list, |s| test(s)),
            Val::Ints(list) => self.quantify(list, |n| int(*n)),
            Val::Bools(_) => false,
        };
        Tri::from_bool(found)
    }

    /// Names with blanks for duplicates: blanks never count, for `any` or `all`.
    fn quantify_names(&self, names: &[&str; 3], test: impl Fn(&str) -> bool) -> bool {
        let mut present = names.iter().filter(|n| !n.is_empty()).peekable();
        if self.all {
            present.peek().is_some() && present.all(|n| test(n))
        } else {
            present.any(|n| test(n))
        }
    }

    fn quantify<T>(&self, list: &[T], test: impl Fn(&T) -> bool) -> bool {
        if self.all {
            !list.is_empty() && list.iter().all(test)
        } else {
            list.iter().any(test)
        }
    }
}

impl Matcher {
    fn str(&self, s: &str) -> bool {
        match self {
            Matcher::StrEq(expected) => **expected == *s,
            Matcher::StrIn(set) => set.contains(s),
            Matcher::Contains(ac) => ac.is_match(s),
            Matcher::StartsWith(ac) => ac.is_match(AcInput::new(s).anchored(Anchored::Yes)),
            Matcher::EndsWith(suffixes) => suffixes.iter().any(|x| s.ends_with(&**x)),
            Matcher::PathPrefix(prefixes) => prefixes.iter().any(|p| path_under(s, p)),
            Matcher::Glob(set) => set.is_match(s),
            Matcher::Regex(set) => set.is_match(s),
            _ => false,
        }
    }

    fn int(&self, n: i64) -> bool {
        match self {
            Matcher::IntCmp(op, expected) => match op {
                Op::Lt => n < *expected,
                Op::Le => n <= *expected,
                Op::Gt => n > *expected,
                Op::Ge => n >= *expected,
                _ => n == *expected,
            },
            Matcher::IntIn(set) => set.contains(&n),
            _ => false,
        }
    }

    fn bool(&self, b: bool) -> bool {
        matches!(self, Matcher::BoolEq(expected) if *expected == b)
    }
}

fn path_under(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    let prefix = prefix.trim_end_matches('/');
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What a compiler needs to resolve names.
pub struct Scope<'a> {
    pub lists: &'a FxHashMap<String, ListDef>,
    pub macros: &'a FxHashMap<String, MacroDef>,
    pub source: Source,
    /// Names of the values earlier sequence steps capture, by slot (`$name` operands).
    pub captures: &'a [String],
}

/// A compile error located in the file: rule location + offset within the condition.
fn located(text: &Text, at: usize, message: String) -> RuleError {
    RuleError {
        location: text.locate(at),
        message,
    }
}

impl Scope<'_> {
    pub fn compile_text(&self, text: &Text) -> Result<Expr, RuleError> {
        let ast = parse_condition(&text.text)
            .map_err(|e| located(text, e.at, format!("condition: {}", e.message)))?;
        self.compile_ast(&ast, text, &mut Vec::new())
    }

    fn compile_ast(
        &self,
        ast: &Ast,
        text: &Text,
        stack: &mut Vec<String>,
    ) -> Result<Expr, RuleError> {
        Ok(match ast {
            Ast::And(parts) => Expr::And(
                parts
                    .iter()
                    .map(|p| self.compile_ast(p, text, stack))
                    .collect::<Result<_, _>>()?,
            ),
            Ast::Or(parts) => Expr::Or(
                parts
                    .iter()
                    .map(|p| self.compile_ast(p, text, stack))
                    .collect::<Result<_, _>>()?,
            ),
            Ast::Not(inner) => Expr::Not(Box::new(self.compile_ast(inner, text, stack)?)),
            Ast::Macro { name, at } => {
                let Some(def) = self.macros.get(name) else {
                    return Err(located(
                        text,
                        *at,
                        format!("`{name}` is neither a macro nor a field followed by an operator"),
                    ));
                };
                if stack.contains(name) {
                    return Err(located(
                        text,
                        *at,
                        format!("macro `{name}` refers to itself"),
                    ));
                }
                stack.push(name.clone());
                let macro_ast = parse_condition(&def.condition.text).map_err(|e| {
                    located(
                        &def.condition,
                        e.at,
                        format!("macro `{name}`: {}", e.message),
                    )
                })?;
                let expr = self.compile_ast(&macro_ast, &def.condition, stack);
                stack.pop();
                expr?
            }
            Ast::Exists { field, .. } => {
                let (field, arg) = self.resolve_field(field, text)?;
                Expr::Test(Test {
                    field,
                    arg,
                    matcher: Matcher::Exists,
                    all: false,
                })
            }
            Ast::Compare {
                field,
                op,
                operand,
                all,
                at,
            } => {
                let (resolved, arg) = self.resolve_field(field, text)?;
                if let Operand::Single(value) = operand {
                    if let Some(name) = value.text.strip_prefix('$').filter(|_| !value.quoted) {
                        let slot =
                            self.captures
                                .iter()
                                .position(|c| c == name)
                                .ok_or_else(|| {
                                    located(
                                        text,
                                        value.at,
                                        format!(
                                    "`${name}` is not captured by an earlier step of this sequence"
                                ),
                                    )
                                })?;
                        if !matches!(
                            op,
                            Op::Eq
                                | Op::Ne
                                | Op::Contains
                                | Op::StartsWith
                                | Op::EndsWith
                                | Op::PMatch
                        ) {
                            return Err(located(
                                text,
                                *at,
                                format!("`{}` cannot compare with a captured value", op.name()),
                            ));
                        }
                        let test = Expr::Test(Test {
                            field: resolved,
                            arg,
                            matcher: Matcher::Capture(*op, slot),
                            all: *all,
                        });
                        return Ok(if *op == Op::Ne {
                            Expr::Not(Box::new(test))
                        } else {
                            test
                        });
                    }
                }
                let values = self.expand(operand, text)?;
                let matcher = build_matcher(resolved, *op, &values)
                    .map_err(|message| located(text, *at, message))?;
                let test = Expr::Test(Test {
                    field: resolved,
                    arg,
                    matcher,
                    all: *all,
                });
                if *op == Op::Ne {
                    Expr::Not(Box::new(test))
                } else {
                    test
                }
            }
        })
    }

    pub fn resolve_field(
        &self,
        field: &FieldRef,
        text: &Text,
    ) -> Result<(Field, FieldArg), RuleError> {
        resolve_field_name(&field.name, field.arg.as_deref(), self.source)
            .map_err(|message| located(text, field.at, message))
    }

    /// Operand values as strings, with list names inside `( )` expanded.
    fn expand(&self, operand: &Operand, text: &Text) -> Result<Vec<String>, RuleError> {
        match operand {
            Operand::Single(value) => Ok(vec![value.text.clone()]),
            Operand::List(values) => {
                let mut out = Vec::new();
                for value in values {
                    self.expand_value(value, text, &mut out, 0)?;
                }
                Ok(out)
            }
        }
    }

    fn expand_value(
        &self,
        value: &Value,
        text: &Text,
        out: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), RuleError> {
        match self.lists.get(&value.text) {
            Some(list) if !value.quoted => {
                if depth > 16 {
                    return Err(located(
                        text,
                        value.at,
                        format!("list `{}` nests too deeply (a cycle?)", value.text),
                    ));
                }
                for item in &list.items {
                    let inner = Value {
                        text: item.clone(),
                        quoted: false,
                        at: value.at,
                    };
                    self.expand_value(&inner, text, out, depth + 1)?;
                }
            }
            _ => out.push(value.text.clone()),
        }
        Ok(())
    }

    /// Expands list names in plain values (exception rows).
    pub fn expand_plain(&self, values: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack: Vec<(String, usize)> = values.iter().rev().map(|v| (v.clone(), 0)).collect();
        while let Some((value, depth)) = stack.pop() {
            match self.lists.get(&value) {
                Some(list) if depth < 16 => {
                    stack.extend(list.items.iter().rev().map(|i| (i.clone(), depth + 1)))
                }
                _ => out.push(value),
            }
        }
        out
    }

    /// Exceptions compile to one `Or` of rows, each an `And` of tests.
    pub fn compile_exceptions(
        &self,
        exceptions: &[ExceptionDef],
    ) -> Result<Option<Expr>, RuleError> {
        let mut rows = Vec::new();
        for exception in exceptions {
            let at = |message: String| RuleError {
                location: exception.location.clone(),
                message: format!("exception `{}`: {message}", exception.name),
            };
            let mut fields = Vec::new();
            for name in &exception.fields {
                let (base, arg) = split_field_arg(name);
                fields.push(resolve_field_name(base, arg, self.source).map_err(at)?);
            }
            for row in &exception.rows {
                if row.len() != fields.len() {
                    return Err(at(format!(
                        "a row has {} values for {} fields",
                        row.len(),
                        fields.len()
                    )));
                }
                let mut tests = Vec::new();
                for (i, ((field, arg), cell)) in fields.iter().zip(row).enumerate() {
                    // A lone value naming a list stands for the list's items.
                    let (values, default_op) = match cell {
                        ExceptionValue::One(v) if self.lists.contains_key(v) => {
                            (self.expand_plain(std::slice::from_ref(v)), Op::In)
                        }
                        ExceptionValue::One(v) => (vec![v.clone()], Op::Eq),
                        ExceptionValue::Many(vs) => (self.expand_plain(vs), Op::In),
                    };
                    let op = match exception.comps.get(i) {
                        Some(comp) => parse_op(comp)
                            .ok_or_else(|| at(format!("unknown comparison `{comp}`")))?,
                        None => default_op,
                    };
                    let matcher = build_matcher(*field, op, &values).map_err(at)?;
                    // An exception excuses a multi-valued field only when every value is
                    // covered: one allowed image must not excuse another container.
                    // `intersects` asks for any value on purpose (e.g. a group membership).
                    let multi = op != Op::Intersects
                        && matches!(
                            field.info().ty,
                            FieldType::Strs | FieldType::Ints | FieldType::Bools
                        );
                    let test = Expr::Test(Test {
                        field: *field,
                        arg: arg.clone(),
                        matcher,
                        all: multi,
                    });
                    tests.push(if op == Op::Ne {
                        Expr::Not(Box::new(test))
                    } else {
                        test
                    });
                }
                rows.push(Expr::And(tests));
            }
        }
        Ok((!rows.is_empty()).then_some(Expr::Or(rows)))
    }
}

pub fn split_field_arg(name: &str) -> (&str, Option<&str>) {
    match name.find('[') {
        Some(open) if name.ends_with(']') => (&name[..open], Some(&name[open + 1..name.len() - 1])),
        _ => (name, None),
    }
}

fn parse_op(text: &str) -> Option<Op> {
    Some(match text {
        "=" | "==" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "in" => Op::In,
        "intersects" => Op::Intersects,
        "contains" => Op::Contains,
        "icontains" => Op::IContains,
        "startswith" => Op::StartsWith,
        "endswith" => Op::EndsWith,
        "glob" => Op::Glob,
        "pmatch" => Op::PMatch,
        "regex" => Op::Regex,
        _ => return None,
    })
}

/// Resolves a field name (and bracket argument) for a rule of `source`.
pub fn resolve_field_name(
    name: &str,
    arg: Option<&str>,
    source: Source,
) -> Result<(Field, FieldArg), String> {
    let info =
        Field::lookup(name).ok_or_else(|| format!("unknown field `{name}` (see `kdr fields`)"))?;
    let allowed = match info.source {
        FieldSource::Any => true,
        FieldSource::Only(s) => {
            s == source || (source == Source::Exposure && s == Source::K8sAudit)
        }
    };
    if !allowed {
        return Err(format!(
            "field `{name}` is not available for source `{}`",
            source.name()
        ));
    }
    let arg = match (info.arg, arg) {
        (_, None) => FieldArg::None,
        (ArgKind::None, Some(_)) => return Err(format!("field `{name}` takes no [argument]")),
        (ArgKind::Text, Some(text)) => FieldArg::Text(text.into()),
        (ArgKind::Index, Some(text)) => FieldArg::Index(
            text.parse()
                .map_err(|_| format!("field `{name}` takes a number argument, found `{text}`"))?,
        ),
    };
    Ok((info.field, arg))
}

fn build_matcher(field: Field, op: Op, values: &[String]) -> Result<Matcher, String> {
    let info = field.info();
    // A text argument on env/labels selects values: the result is a list of strings.
    let ty = info.ty.scalar();
    if values.is_empty() {
        return Err(format!("`{}` needs at least one value", op.name()));
    }
    match ty {
        FieldType::Int => {
            let numbers = values
                .iter()
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| format!("field `{}` is a number; `{v}` is not", info.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(match op {
                Op::Eq | Op::Ne if numbers.len() == 1 => Matcher::IntCmp(Op::Eq, numbers[0]),
                Op::In | Op::Intersects | Op::Eq | Op::Ne => Matcher::IntIn(numbers),
                Op::Lt | Op::Le | Op::Gt | Op::Ge if numbers.len() == 1 => {
                    Matcher::IntCmp(op, numbers[0])
                }
                _ => {
                    return Err(format!(
                        "`{}` does not apply to the number field `{}`",
                        op.name(),
                        info.name
                    ))
                }
            })
        }
        FieldType::Bool => {
            let bools = values
                .iter()
                .map(|v| match v.as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(format!(
                        "field `{}` is true or false; `{v}` is neither",
                        info.name
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            match op {
                Op::Eq | Op::Ne | Op::In | Op::Intersects
                    if bools.iter().all(|b| *b == bools[0]) =>
                {
                    Ok(Matcher::BoolEq(bools[0]))
                }
                _ => Err(format!(
                    "`{}` with these values does not apply to the boolean field `{}`",
                    op.name(),
                    info.name
                )),
            }
        }
        _ => string_matcher(op, values).map_err(|e| format!("field `{}`: {e}", info.name)),
    }
}

fn string_matcher(op: Op, values: &[String]) -> Result<Matcher, String> {
    let automaton = |case_insensitive: bool, anchored: bool| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(case_insensitive)
            .match_kind(MatchKind::Standard)
            .start_kind(if anchored {
                StartKind::Anchored
            } else {
                StartKind::Unanchored
            })
            .build(values)
            .map_err(|e| format!("cannot build pattern set: {e}"))
    };
    Ok(match op {
        Op::Eq | Op::Ne if values.len() == 1 => Matcher::StrEq(values[0].as_str().into()),
        Op::Eq | Op::Ne | Op::In | Op::Intersects => {
            Matcher::StrIn(values.iter().map(|v| v.as_str().into()).collect())
        }
        Op::Contains => Matcher::Contains(automaton(false, false)?),
        Op::IContains => Matcher::Contains(automaton(true, false)?),
        Op::StartsWith => Matcher::StartsWith(automaton(false, true)?),
        Op::EndsWith => Matcher::EndsWith(values.iter().map(|v| v.as_str().into()).collect()),
        Op::PMatch => Matcher::PathPrefix(values.iter().map(|v| v.as_str().into()).collect()),
        Op::Glob => Matcher::Glob(Globs::new(values)?),
        Op::Regex => Matcher::Regex(
            RegexSet::new(values).map_err(|e| format!("bad regular expression: {e}"))?,
        ),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            return Err(format!("`{}` compares numbers, not strings", op.name()))
        }
    })
}

/// Index keys a compiled condition requires: the values a top-level conjunct demands of
/// `field` (e.g. `ka.target.resource in (pods, deployments)`). `None` when the condition does
/// not pin the field, so the rule must see every event.
pub fn required_values(expr: &Expr, field: Field) -> Option<Vec<String>> {
    match expr {
        Expr::Test(Test {
            field: f,
            arg: FieldArg::None,
            matcher,
            ..
        }) if *f == field => match matcher {
            Matcher::StrEq(v) => Some(vec![v.to_string()]),
            Matcher::StrIn(set) => Some(set.iter().map(|v| v.to_string()).collect()),
            _ => None,
        },
        Expr::And(parts) => parts.iter().find_map(|p| required_values(p, field)),
        Expr::Or(parts) => {
            let mut all = Vec::new();
            for part in parts {
                all.extend(required_values(part, field)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// The location to blame for errors in a rule without a condition text.
pub fn at_location(location: &Location, message: String) -> RuleError {
    RuleError {
        location: location.clone(),
        message,
    }
}
