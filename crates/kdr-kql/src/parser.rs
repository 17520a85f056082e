//! Recursive-descent parser for the supported KQL subset. Every error names the position and
//! what was expected there.

use crate::ast::*;
use crate::error::{ErrorKind, KqlError, Result};
use crate::lexer::{tokenize, Tok, Token};

/// Bounds recursion so that hostile input (`((((...`) yields an error, not a stack overflow.
const MAX_NESTING: usize = 64;

pub fn parse(text: &str) -> Result<Query> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        index: 0,
        depth: 0,
    };
    parser.query()
}

struct Parser {
    tokens: Vec<Token>,
    index: usize,
    depth: usize,
}

const OPERATOR_NAMES: &str = "where, project, project-away, extend, summarize, sort, order, top, take, limit, distinct, count, join, union, mv-expand";

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[self.index.min(last)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.index + ahead).min(last)].tok
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.index < self.tokens.len() - 1 {
            self.index += 1;
        }
        token
    }

    fn error_here(&self, expected: &str) -> KqlError {
        let token = self.peek();
        KqlError::new(
            ErrorKind::Syntax,
            token.pos,
            format!("expected {expected}, found {}", token.tok.describe()),
        )
    }

    fn is_sym(&self, symbol: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if *s == symbol)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == word)
    }

    fn eat_sym(&mut self, symbol: &str) -> bool {
        if self.is_sym(symbol) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, symbol: &str, context: &str) -> Result<()> {
        if self.eat_sym(symbol) {
            Ok(())
        } else {
            Err(self.error_here(&format!("'{symbol}' {context}")))
        }
    }

    fn expect_word(&mut self, word: &str, context: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.error_here(&format!("'{word}' {context}")))
        }
    }

    fn ident(&mut self, expected: &str) -> Result<Ident> {
        let token = self.peek().clone();
        match token.tok {
            Tok::Ident(name)
                if !name.starts_with('$') && !name.starts_with('!') && name != "in~" =>
            {
                self.advance();
                Ok(Ident {
                    name,
                    pos: token.pos,
                })
            }
            _ => Err(self.error_here(expected)),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(KqlError::new(
                ErrorKind::Unsupported,
                self.peek().pos,
                format!("the query nests deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn query(&mut self) -> Result<Query> {
        let mut lets = Vec::new();
        loop {
            while self.eat_sym(";") {}
            if self.eat_word("let") {
                lets.push(self.let_statement()?);
                if !self.eat_sym(";") {
                    return Err(self.error_here("';' after the let statement"));
                }
                continue;
            }
            if self.peek().tok == Tok::Eof {
                return Err(self.error_here("a tabular expression (a table name)"));
            }
            let body = self.tabular()?;
            while self.eat_sym(";") {}
            if self.peek().tok != Tok::Eof {
                return Err(self.error_here("'|' or the end of the query"));
            }
            return Ok(Query { lets, body });
        }
    }

    fn let_statement(&mut self) -> Result<Let> {
        let name = self.ident("a name after 'let'")?;
        self.expect_sym("=", &format!("after 'let {}'", name.name))?;
        // `let t = Table | ...` and `let t = (...)` bind tabular expressions; a lone name may be
        // either and is resolved by the compiler.
        let starts_pipeline =
            matches!(self.peek().tok, Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Sym("|"));
        let value = if starts_pipeline || self.is_word("union") {
            LetValue::Tabular(self.tabular()?)
        } else {
            LetValue::Scalar(self.expr()?)
        };
        Ok(Let { name, value })
    }

    fn tabular(&mut self) -> Result<Tabular> {
        self.enter()?;
        let source = self.source()?;
        let mut operators = Vec::new();
        while self.eat_sym("|") {
            operators.push(self.operator()?);
        }
        self.leave();
        Ok(Tabular { source, operators })
    }

    fn source(&mut self) -> Result<Source> {
        let pos = self.peek().pos;
        if self.eat_word("union") {
            let parts = self.tabular_list("a table after 'union'")?;
            return Ok(Source::Union { pos, parts });
        }
        if self.eat_sym("(") {
            let inner = self.tabular()?;
            self.expect_sym(")", "to close the tabular expression")?;
            return Ok(Source::Nested(Box::new(inner)));
        }
        Ok(Source::Name(self.ident("a table name")?))
    }

    /// A table reference in `join` and `union`: a name or a parenthesized pipeline.
    fn tabular_ref(&mut self, expected: &str) -> Result<Tabular> {
        if self.eat_sym("(") {
            let inner = self.tabular()?;
            self.expect_sym(")", "to close the tabular expression")?;
            return Ok(inner);
        }
        let name = self.ident(expected)?;
        Ok(Tabular {
            source: Source::Name(name),
            operators: Vec::new(),
        })
    }

    fn tabular_list(&mut self, expected: &str) -> Result<Vec<Tabular>> {
        let mut parts = vec![self.tabular_ref(expected)?];
        while self.eat_sym(",") {
            parts.push(self.tabular_ref(expected)?);
        }
        Ok(parts)
    }

    fn operator(&mut self) -> Result<Operator> {
        let token = self.peek().clone();
        let Tok::Ident(name) = &token.tok else {
            return Err(self.error_here(&format!("an operator after '|' ({OPERATOR_NAMES})")));
        };
        let pos = token.pos;
        let name = name.clone();
        self.advance();
        let kind = match name.as_str() {
            "where" | "filter" => OperatorKind::Where(self.expr_after(&name)?),
            "project" => OperatorKind::Project(self.named_list(&name)?),
            "project-away" => {
                let mut names = vec![self.ident("a column name after 'project-away'")?];
                while self.eat_sym(",") {
                    names.push(self.ident("a column name after ','")?);
                }
                OperatorKind::ProjectAway(names)
            }
            "extend" => OperatorKind::Extend(self.named_list(&name)?),
            "summarize" => {
                let aggregates = if self.is_word("by") {
                    Vec::new()
                } else {
                    self.named_list(&name)?
                };
                let by = if self.eat_word("by") {
                    self.named_list("by")?
                } else {
                    Vec::new()
                };
                if aggregates.is_empty() && by.is_empty() {
                    return Err(self.error_here("an aggregation or 'by' after 'summarize'"));
                }
                OperatorKind::Summarize { aggregates, by }
            }
            "sort" | "order" => {
                self.expect_word("by", &format!("after '{name}'"))?;
                let mut keys = vec![self.sort_key()?];
                while self.eat_sym(",") {
                    keys.push(self.sort_key()?);
                }
                OperatorKind::Sort(keys)
            }
            "top" => {
                let count = self.expr_after("top")?;
                self.expect_word("by", "after the number of rows in 'top'")?;
                let key = self.sort_key()?;
                OperatorKind::Top { count, key }
            }
            "take" | "limit" => OperatorKind::Take(self.expr_after(&name)?),
            "distinct" => {
                if self.eat_sym("*") {
                    OperatorKind::Distinct(Vec::new())
                } else {
                    let mut names = vec![self.ident("a column name or '*' after 'distinct'")?];
                    while self.eat_sym(",") {
                        names.push(self.ident("a column name after ','")?);
                    }
                    OperatorKind::Distinct(names)
                }
            }
            "count" => OperatorKind::Count,
            "join" => self.join()?,
            "union" => OperatorKind::Union(self.tabular_list("a table after 'union'")?),
            "mv-expand" => OperatorKind::MvExpand(self.named_list(&name)?),
            _ => {
                return Err(KqlError::new(
                    ErrorKind::Unsupported,
                    pos,
                    format!("expected an operator after '|' ({OPERATOR_NAMES}), found '{name}'"),
                ))
            }
        };
        Ok(Operator { pos, kind })
    }

    fn join(&mut self) -> Result<OperatorKind> {
        let mut kind = JoinKind::InnerUnique;
        if self.eat_word("kind") {
            self.expect_sym("=", "after 'kind'")?;
            let kind_name = self.ident("a join kind (inner, leftouter, innerunique)")?;
            kind = match kind_name.name.as_str() {
                "inner" => JoinKind::Inner,
                "leftouter" => JoinKind::LeftOuter,
                "innerunique" => JoinKind::InnerUnique,
                other => {
                    return Err(KqlError::new(
                        ErrorKind::Unsupported,
                        kind_name.pos,
                        format!(
                            "expected a join kind (inner, leftouter, innerunique), found '{other}'"
                        ),
                    ))
                }
            };
        }
        let right = self.tabular_ref("a table or '(' after 'join'")?;
        self.expect_word("on", "after the right side of 'join'")?;
        let mut on = vec![self.join_key()?];
        while self.eat_sym(",") {
            on.push(self.join_key()?);
        }
        Ok(OperatorKind::Join { kind, right, on })
    }

    fn join_key(&mut self) -> Result<JoinKey> {
        if self.is_word("$left") || self.is_word("$right") {
            let first = self.side_column()?;
            self.expect_sym("==", "between the two sides of a join key")?;
            let second = self.side_column()?;
            return match (first, second) {
                ((true, left), (false, right)) | ((false, right), (true, left)) => {
                    Ok(JoinKey::Pair { left, right })
                }
                ((_, ident), _) => Err(KqlError::new(
                    ErrorKind::Syntax,
                    ident.pos,
                    "a join key needs one $left and one $right column",
                )),
            };
        }
        Ok(JoinKey::Same(
            self.ident("a column name or $left.Column after 'on'")?,
        ))
    }

    /// `$left.Name` or `$right.Name`; true for left.
    fn side_column(&mut self) -> Result<(bool, Ident)> {
        let is_left = if self.eat_word("$left") {
            true
        } else if self.eat_word("$right") {
            false
        } else {
            return Err(self.error_here("'$left.' or '$right.'"));
        };
        self.expect_sym(".", "after $left/$right")?;
        Ok((is_left, self.ident("a column name")?))
    }

    fn sort_key(&mut self) -> Result<SortKey> {
        let expr = self.expr()?;
        let mut descending = true;
        if self.eat_word("asc") {
            descending = false;
        } else if self.eat_word("desc") {
            descending = true;
        }
        let mut nulls_first = None;
        if self.eat_word("nulls") {
            if self.eat_word("first") {
                nulls_first = Some(true);
            } else if self.eat_word("last") {
                nulls_first = Some(false);
            } else {
                return Err(self.error_here("'first' or 'last' after 'nulls'"));
            }
        }
        Ok(SortKey {
            expr,
            descending,
            nulls_first,
        })
    }

    fn named_list(&mut self, after: &str) -> Result<Vec<NamedExpr>> {
        let mut items = vec![self.named_expr(after)?];
        while self.eat_sym(",") {
            items.push(self.named_expr(",")?);
        }
        Ok(items)
    }

    fn named_expr(&mut self, after: &str) -> Result<NamedExpr> {
        let names_column =
            matches!(self.peek().tok, Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Sym("="));
        let name = if names_column {
            let name = self.ident("a column name")?;
            self.advance();
            Some(name)
        } else {
            None
        };
        let expr = self.expr_after(if name.is_some() { "=" } else { after })?;
        Ok(NamedExpr { name, expr })
    }

    fn expr_after(&mut self, after: &str) -> Result<Expr> {
        if self.starts_expr() {
            self.expr()
        } else {
            Err(self.error_here(&format!("an expression after '{after}'")))
        }
    }

    fn starts_expr(&self) -> bool {
        match &self.peek().tok {
            Tok::Ident(name) => !name.starts_with('!') && name != "in~" && !is_binary_word(name),
            Tok::Sym(s) => matches!(*s, "(" | "-" | "*"),
            Tok::Eof => false,
            _ => true,
        }
    }

    pub fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        let result = self.or_expr();
        self.leave();
        result
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let mut left = self.and_expr()?;
        while self.is_word("or") {
            let pos = self.advance().pos;
            let right = self.operand_after("or", Self::and_expr)?;
            left = binary(pos, BinaryOp::Or, left, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut left = self.comparison()?;
        while self.is_word("and") {
            let pos = self.advance().pos;
            let right = self.operand_after("and", Self::comparison)?;
            left = binary(pos, BinaryOp::And, left, right);
        }
        Ok(left)
    }

    fn operand_after(
        &mut self,
        after: &str,
        parse: fn(&mut Parser) -> Result<Expr>,
    ) -> Result<Expr> {
        if self.starts_expr() {
            parse(self)
        } else {
            Err(self.error_here(&format!("an expression after '{after}'")))
        }
    }

    fn comparison(&mut self) -> Result<Expr> {
        let left = self.additive()?;
        let token = self.peek().clone();
        let op = match &token.tok {
            Tok::Sym("==") => Some(BinaryOp::Eq),
            Tok::Sym("!=") => Some(BinaryOp::Ne),
            Tok::Sym("=~") => Some(BinaryOp::EqCi),
            Tok::Sym("!~") => Some(BinaryOp::NeCi),
            Tok::Sym("<") => Some(BinaryOp::Lt),
            Tok::Sym("<=") => Some(BinaryOp::Le),
            Tok::Sym(">") => Some(BinaryOp::Gt),
            Tok::Sym(">=") => Some(BinaryOp::Ge),
            Tok::Ident(word) => match word.as_str() {
                "has" => Some(BinaryOp::Has),
                "!has" => Some(BinaryOp::NotHas),
                "contains" => Some(BinaryOp::Contains),
                "!contains" => Some(BinaryOp::NotContains),
                "startswith" => Some(BinaryOp::StartsWith),
                "!startswith" => Some(BinaryOp::NotStartsWith),
                "endswith" => Some(BinaryOp::EndsWith),
                "!endswith" => Some(BinaryOp::NotEndsWith),
                "in" | "!in" | "in~" | "!in~" => {
                    let word = word.clone();
                    self.advance();
                    return self.in_list(left, token.pos, &word);
                }
                "between" | "!between" => {
                    let negated = word.starts_with('!');
                    let word = word.clone();
                    self.advance();
                    self.expect_sym("(", &format!("after '{word}'"))?;
                    let low = self.operand_after("(", Self::additive)?;
                    self.expect_sym("..", "between the bounds of 'between'")?;
                    let high = self.operand_after("..", Self::additive)?;
                    self.expect_sym(")", "to close 'between'")?;
                    return Ok(Expr {
                        pos: token.pos,
                        kind: ExprKind::Between {
                            expr: Box::new(left),
                            low: Box::new(low),
                            high: Box::new(high),
                            negated,
                        },
                    });
                }
                "matches" => {
                    self.advance();
                    self.expect_word("regex", "after 'matches'")?;
                    let right = self.operand_after("matches regex", Self::additive)?;
                    return Ok(binary(token.pos, BinaryOp::MatchesRegex, left, right));
                }
                "has_cs" | "!has_cs" | "contains_cs" | "!contains_cs" | "startswith_cs" | "!startswith_cs"
                | "endswith_cs" | "!endswith_cs" | "hasprefix" | "!hasprefix" | "hassuffix" | "!hassuffix" => {
                    return Err(KqlError::new(
                        ErrorKind::Unsupported,
                        token.pos,
                        format!("the operator '{word}' is not supported; use has, contains, startswith, endswith or ==, =~"),
                    ))
                }
                _ => None,
            },
            _ => None,
        };
        let Some(op) = op else {
            return Ok(left);
        };
        self.advance();
        let right = self.operand_after(op.symbol(), Self::additive)?;
        Ok(binary(token.pos, op, left, right))
    }

    fn in_list(&mut self, left: Expr, pos: crate::error::Pos, word: &str) -> Result<Expr> {
        self.expect_sym("(", &format!("after '{word}'"))?;
        let mut list = Vec::new();
        if !self.is_sym(")") {
            list.push(self.expr_after("(")?);
            while self.eat_sym(",") {
                list.push(self.expr_after(",")?);
            }
        }
        self.expect_sym(")", &format!("to close the '{word}' list"))?;
        Ok(Expr {
            pos,
            kind: ExprKind::In {
                expr: Box::new(left),
                list,
                negated: word.starts_with('!'),
                case_insensitive: word.ends_with('~'),
            },
        })
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.is_sym("+") {
                BinaryOp::Add
            } else if self.is_sym("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            let pos = self.advance().pos;
            let right = self.operand_after(op.symbol(), Self::multiplicative)?;
            left = binary(pos, op, left, right);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = if self.is_sym("*") {
                BinaryOp::Mul
            } else if self.is_sym("/") {
                BinaryOp::Div
            } else if self.is_sym("%") {
                BinaryOp::Mod
            } else {
                return Ok(left);
            };
            let pos = self.advance().pos;
            let right = self.operand_after(op.symbol(), Self::unary)?;
            left = binary(pos, op, left, right);
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.is_sym("-") {
            let pos = self.advance().pos;
            self.enter()?;
            let operand = self.operand_after("-", Self::unary);
            self.leave();
            let operand = operand?;
            // Fold negative literals so that `-5` is a literal (and i64::MIN stays reachable).
            let kind = match operand.kind {
                ExprKind::Long(n) => ExprKind::Long(n.wrapping_neg()),
                ExprKind::Real(n) => ExprKind::Real(-n),
                ExprKind::Timespan(n) => ExprKind::Timespan(n.wrapping_neg()),
                other => ExprKind::Negate(Box::new(Expr {
                    pos: operand.pos,
                    kind: other,
                })),
            };
            return Ok(Expr { pos, kind });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut expr = self.primary()?;
        loop {
            if self.is_sym(".") {
                let pos = self.advance().pos;
                let key = self.member_name()?;
                expr = Expr {
                    pos,
                    kind: ExprKind::Member(Box::new(expr), key),
                };
            } else if self.is_sym("[") {
                let pos = self.advance().pos;
                let index = self.expr_after("[")?;
                self.expect_sym("]", "to close '['")?;
                expr = Expr {
                    pos,
                    kind: ExprKind::Index(Box::new(expr), Box::new(index)),
                };
            } else {
                return Ok(expr);
            }
        }
    }

    /// After `.`, any word is a property name, keywords included (`RawEventData.user`).
    fn member_name(&mut self) -> Result<String> {
        match &self.peek().tok {
            Tok::Ident(name)
                if name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_') =>
            {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            _ => Err(self.error_here("a property name after '.'")),
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        let token = self.peek().clone();
        let pos = token.pos;
        let kind = match token.tok {
            Tok::Str(value) => {
                self.advance();
                ExprKind::String(value)
            }
            Tok::Long(value) => {
                self.advance();
                ExprKind::Long(value)
            }
            Tok::Real(value) => {
                self.advance();
                ExprKind::Real(value)
            }
            Tok::Timespan(value) => {
                self.advance();
                ExprKind::Timespan(value)
            }
            Tok::DateTimeText(text) => {
                self.advance();
                ExprKind::DateTime(crate::time::parse_datetime(&text).ok_or_else(|| {
                    KqlError::new(
                        ErrorKind::Syntax,
                        pos,
                        format!("expected a datetime like 2024-05-01 or 2024-05-01T10:00:00Z inside datetime(), found '{text}'"),
                    )
                })?)
            }
            Tok::Sym("(") => {
                self.advance();
                let inner = self.expr_after("(")?;
                self.expect_sym(")", "to close '('")?;
                return Ok(inner);
            }
            Tok::Sym("*") => {
                self.advance();
                ExprKind::Star
            }
            Tok::Ident(name) if name == "true" || name == "false" => {
                self.advance();
                ExprKind::Bool(name == "true")
            }
            Tok::Ident(name)
                if !name.starts_with('$') && !name.starts_with('!') && name != "in~" =>
            {
                self.advance();
                if self.eat_sym("(") {
                    let mut args = Vec::new();
                    if !self.is_sym(")") {
                        args.push(self.expr_after(&format!("{name}("))?);
                        while self.eat_sym(",") {
                            args.push(self.expr_after(",")?);
                        }
                    }
                    self.expect_sym(")", &format!("to close the arguments of {name}()"))?;
                    ExprKind::Call { name, args }
                } else {
                    ExprKind::Name(name)
                }
            }
            _ => return Err(self.error_here("an expression")),
        };
        Ok(Expr { pos, kind })
    }
}

fn is_binary_word(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "or"
            | "has"
            | "contains"
            | "startswith"
            | "endswith"
            | "in"
            | "between"
            | "matches"
            | "by"
            | "on"
    )
}

fn binary(pos: crate::error::Pos, op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr {
        pos,
        kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
    }
}
