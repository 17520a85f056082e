//! The parsed query. Public so that tools (and the test suite's reference interpreter) can
//! work on queries without going through SQL.

pub use crate::error::Pos;

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub lets: Vec<Let>,
    pub body: Tabular,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: LetValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LetValue {
    Scalar(Expr),
    Tabular(Tabular),
}

/// A source followed by `| operator` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Tabular {
    pub source: Source,
    pub operators: Vec<Operator>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A table of the schema or a tabular `let`.
    Name(Ident),
    /// `(T | ...)`
    Nested(Box<Tabular>),
    /// `union A, B, ...` at the start of a query.
    Union { pos: Pos, parts: Vec<Tabular> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub pos: Pos,
    pub kind: OperatorKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OperatorKind {
    Where(Expr),
    Project(Vec<NamedExpr>),
    ProjectAway(Vec<Ident>),
    Extend(Vec<NamedExpr>),
    Summarize {
        aggregates: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Top {
        count: Expr,
        key: SortKey,
    },
    Take(Expr),
    /// `distinct *` is an empty list.
    Distinct(Vec<Ident>),
    Count,
    Join {
        kind: JoinKind,
        right: Tabular,
        on: Vec<JoinKey>,
    },
    Union(Vec<Tabular>),
    MvExpand(Vec<NamedExpr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct NamedExpr {
    pub name: Option<Ident>,
    pub expr: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    /// `None`: KQL's default, nulls first when ascending and last when descending.
    pub nulls_first: Option<bool>,
}

impl SortKey {
    pub fn effective_nulls_first(&self) -> bool {
        self.nulls_first.unwrap_or(!self.descending)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// KQL's default: one row per key is kept from the left side, then an inner join.
    InnerUnique,
    Inner,
    LeftOuter,
}

#[derive(Clone, Debug, PartialEq)]
pub enum JoinKey {
    /// `on Column`: the same column name on both sides.
    Same(Ident),
    /// `on $left.A == $right.B`.
    Pair { left: Ident, right: Ident },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub pos: Pos,
    pub kind: ExprKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    String(String),
    Long(i64),
    Real(f64),
    Bool(bool),
    /// Nanoseconds.
    Timespan(i64),
    /// Nanoseconds since the Unix epoch, UTC.
    DateTime(i64),
    /// A column or a scalar `let`.
    Name(String),
    /// `*` as an argument (`arg_max(Timestamp, *)`).
    Star,
    /// `x.name`
    Member(Box<Expr>, String),
    /// `x["name"]` or `x[0]`
    Index(Box<Expr>, Box<Expr>),
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    EqCi,
    NeCi,
    Has,
    NotHas,
    Contains,
    NotContains,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    MatchesRegex,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::EqCi => "=~",
            BinaryOp::NeCi => "!~",
            BinaryOp::Has => "has",
            BinaryOp::NotHas => "!has",
            BinaryOp::Contains => "contains",
            BinaryOp::NotContains => "!contains",
            BinaryOp::StartsWith => "startswith",
            BinaryOp::NotStartsWith => "!startswith",
            BinaryOp::EndsWith => "endswith",
            BinaryOp::NotEndsWith => "!endswith",
            BinaryOp::MatchesRegex => "matches regex",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}
