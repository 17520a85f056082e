//! Condition text -> syntax tree. Falco's grammar: `and`, `or`, `not`, parentheses, macros,
//! `FIELD OP OPERAND` and `FIELD exists`. Every node keeps its byte offset so errors can point
//! at the exact column.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Ast {
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Not(Box<Ast>),
    /// A bare identifier: a macro name.
    Macro {
        name: String,
        at: usize,
    },
    Compare {
        field: FieldRef,
        op: Op,
        operand: Operand,
        /// `all FIELD OP ...`: every value of a multi-valued field must satisfy the test.
        all: bool,
        at: usize,
    },
    Exists {
        field: FieldRef,
        at: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub at: usize,
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arg {
            Some(arg) => write!(f, "{}[{}]", self.name, arg),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Intersects,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Glob,
    PMatch,
    Regex,
}

impl Op {
    fn from_word(word: &str) -> Option<Op> {
        Some(match word {
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

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::PMatch => "pmatch",
            Op::Regex => "regex",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Single(Value),
    /// `( a, b, list_name )`: bare words may name lists, expanded at compile time.
    List(Vec<Value>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub text: String,
    /// Quoted values are never taken as list names.
    pub quoted: bool,
    pub at: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the condition text.
    pub at: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.at + 1, self.message)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Sym(&'static str),
    LParen,
    RParen,
    Comma,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

const SYMBOLS: [&str; 7] = ["==", "!=", "<=", ">=", "=", "<", ">"];

impl<'a> Lexer<'a> {
    fn next_token(&mut self) -> Result<Option<(Token, usize)>, ParseError> {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&first) = bytes.get(start) else {
            return Ok(None);
        };
        let token = match first {
            b'(' => {
                self.pos += 1;
                Token::LParen
            }
            b')' => {
                self.pos += 1;
                Token::RParen
            }
            b',' => {
                self.pos += 1;
                Token::Comma
            }
            b'"' | b'\'' => Token::Quoted(self.quoted(first)?),
            _ => {
                if let Some(sym) = SYMBOLS.iter().find(|s| self.text[start..].starts_with(**s)) {
                    self.pos += sym.len();
                    Token::Sym(sym)
                } else {
                    self.word()
                }
            }
        };
        Ok(Some((token, start)))
    }

    fn quoted(&mut self, quote: u8) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                // Only the quote and the backslash are escaped, so regular expressions keep
                // their `\s`, `\d`, `\b` as written.
                '\\' => match chars.next() {
                    Some((_, escaped)) if escaped == '\\' || escaped as u32 == quote as u32 => {
                        out.push(escaped)
                    }
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c if c as u32 == quote as u32 => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(ParseError {
            at: start,
            message: "unterminated quoted string".into(),
        })
    }

    /// A bare word runs until whitespace, a parenthesis, a comma or a comparison symbol; a
    /// `[...]` argument (e.g. `proc.aname[2]`, `ka.req.pod.containers.env[A B]`) is part of it.
    fn word(&mut self) -> Token {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            if b == b'[' {
                if let Some(close) = self.text[self.pos..].find(']') {
                    self.pos += close + 1;
                    continue;
                }
            }
            if b.is_ascii_whitespace()
                || matches!(b, b'(' | b')' | b',' | b'=' | b'<' | b'>')
                || (b == b'!' && bytes.get(self.pos + 1) == Some(&b'='))
            {
                break;
            }
            self.pos += 1;
        }
        Token::Word(self.text[start..self.pos].to_owned())
    }
}

pub fn parse_condition(text: &str) -> Result<Ast, ParseError> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: text.len(),
    };
    if parser.tokens.is_empty() {
        return Err(ParseError {
            at: 0,
            message: "empty condition".into(),
        });
    }
    let ast = parser.or()?;
    if let Some((token, at)) = parser.tokens.get(parser.pos) {
        return Err(ParseError {
            at: *at,
            message: format!(
                "unexpected {}, expected `and`, `or` or the end",
                describe(token)
            ),
        });
    }
    Ok(ast)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{w}`"),
        Token::Quoted(q) => format!("\"{q}\""),
        Token::Sym(s) => format!("`{s}`"),
        Token::LParen => "`(`".into(),
        Token::RParen => "`)`".into(),
        Token::Comma => "`,`".into(),
    }
}

/// Nesting bound: hostile or generated rule files must not overflow the stack.
const MAX_DEPTH: usize = 200;

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(_, at)| *at)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            at: self.at(),
            message: message.into(),
        })
    }

    fn or(&mut self) -> Result<Ast, ParseError> {
        self.or_at(0)
    }

    fn or_at(&mut self, depth: usize) -> Result<Ast, ParseError> {
        if depth > MAX_DEPTH {
            return self.error("condition nests too deeply");
        }
        let mut parts = vec![self.and(depth)?];
        while self.peek_word("or") {
            self.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Ast::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Ast, ParseError> {
        let mut parts = vec![self.unary(depth)?];
        while self.peek_word("and") {
            self.pos += 1;
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Ast::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Ast, ParseError> {
        if depth > MAX_DEPTH {
            return self.error("condition nests too deeply");
        }
        let at = self.at();
        match self.tokens.get(self.pos).cloned() {
            None => self.error("expected a condition, found the end"),
            Some((Token::Word(w), _)) if w == "not" => {
                self.pos += 1;
                Ok(Ast::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some((Token::LParen, _)) => {
                self.pos += 1;
                let inner = self.or_at(depth + 1)?;
                if self.peek() != Some(&Token::RParen) {
                    return self.error("expected `)`");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some((Token::Word(w), _)) if w == "all" => {
                self.pos += 1;
                let field_at = self.at();
                match self.tokens.get(self.pos).cloned() {
                    Some((Token::Word(field), _)) => {
                        self.pos += 1;
                        match self.after_word(field, field_at)? {
                            Ast::Compare {
                                field, op, operand, ..
                            } => Ok(Ast::Compare {
                                field,
                                op,
                                operand,
                                all: true,
                                at,
                            }),
                            _ => self.error("expected `FIELD OP VALUE` after `all`"),
                        }
                    }
                    _ => self.error("expected a field after `all`"),
                }
            }
            Some((Token::Word(w), _)) if w == "and" || w == "or" => {
                self.error(format!("expected a condition before `{w}`"))
            }
            Some((Token::Word(word), _)) => {
                self.pos += 1;
                self.after_word(word, at)
            }
            Some((token, _)) => self.error(format!(
                "expected a field, a macro, `not` or `(`, found {}",
                describe(&token)
            )),
        }
    }

    fn after_word(&mut self, word: String, at: usize) -> Result<Ast, ParseError> {
        let op = match self.peek() {
            Some(Token::Sym(sym)) => Some(match *sym {
                "=" | "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            }),
            Some(Token::Word(w)) if w == "exists" => {
                self.pos += 1;
                return Ok(Ast::Exists {
                    field: field_ref(&word, at)?,
                    at,
                });
            }
            Some(Token::Word(w)) => Op::from_word(w),
            _ => None,
        };
        let Some(op) = op else {
            // A lone identifier is a macro reference.
            if word.contains('[') {
                return self.error(format!("expected an operator after field `{word}`"));
            }
            return Ok(Ast::Macro { name: word, at });
        };
        self.pos += 1;
        let field = field_ref(&word, at)?;
        let operand = self.operand(op)?;
        Ok(Ast::Compare {
            field,
            op,
            operand,
            all: false,
            at,
        })
    }

    fn operand(&mut self, op: Op) -> Result<Operand, ParseError> {
        match self.tokens.get(self.pos).cloned() {
            Some((Token::LParen, _)) => {
                self.pos += 1;
                let mut values = Vec::new();
                loop {
                    match self.tokens.get(self.pos).cloned() {
                        Some((Token::RParen, _)) => {
                            self.pos += 1;
                            return Ok(Operand::List(values));
                        }
                        Some((Token::Word(text), at)) => values.push(Value {
                            text,
                            quoted: false,
                            at,
                        }),
                        Some((Token::Quoted(text), at)) => values.push(Value {
                            text,
                            quoted: true,
                            at,
                        }),
                        _ => return self.error("expected a value or `)` in the list"),
                    }
                    self.pos += 1;
                    match self.peek() {
                        Some(Token::Comma) => self.pos += 1,
                        Some(Token::RParen) => {}
                        _ => return self.error("expected `,` or `)` in the list"),
                    }
                }
            }
            Some((Token::Word(text), at)) => {
                self.pos += 1;
                Ok(Operand::Single(Value {
                    text,
                    quoted: false,
                    at,
                }))
            }
            Some((Token::Quoted(text), at)) => {
                self.pos += 1;
                Ok(Operand::Single(Value {
                    text,
                    quoted: true,
                    at,
                }))
            }
            _ => self.error(format!("expected a value after `{}`", op.name())),
        }
    }
}

fn field_ref(word: &str, at: usize) -> Result<FieldRef, ParseError> {
    match word.find('[') {
        None => Ok(FieldRef {
            name: word.to_owned(),
            arg: None,
            at,
        }),
        Some(open) if word.ends_with(']') && open > 0 => Ok(FieldRef {
            name: word[..open].to_owned(),
            arg: Some(word[open + 1..word.len() - 1].to_owned()),
            at,
        }),
        Some(_) => Err(ParseError {
            at,
            message: format!("malformed field argument in `{word}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let ast = parse_condition("a or b and not c").unwrap();
        let Ast::Or(parts) = ast else { panic!() };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[1], Ast::And(p) if p.len() == 2));
    }

    #[test]
    fn comparisons_lists_quotes_and_args() {
        let ast = parse_condition(
            r#"ka.verb in (create, "up date") and proc.aname[2]=bash and x.y!=z and f exists"#,
        )
        .unwrap();
        let Ast::And(parts) = ast else { panic!() };
        assert_eq!(parts.len(), 4);
        match &parts[0] {
            Ast::Compare {
                op: Op::In,
                operand: Operand::List(values),
                ..
            } => {
                assert_eq!(values[1].text, "up date");
                assert!(values[1].quoted);
            }
            other => panic!("{other:?}"),
        }
        match &parts[1] {
            Ast::Compare { field, op, .. } => {
                assert_eq!(field.arg.as_deref(), Some("2"));
                assert_eq!(*op, Op::Eq);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parts[2], Ast::Compare { op: Op::Ne, .. }));
        assert!(matches!(parts[3], Ast::Exists { .. }));
        let ast = parse_condition("all a.b glob (x*)").unwrap();
        assert!(matches!(
            ast,
            Ast::Compare {
                all: true,
                op: Op::Glob,
                ..
            }
        ));
        assert!(parse_condition("all (a)").is_err());
    }

    #[test]
    fn errors_point_at_the_column() {
        let err = parse_condition("ka.verb = create and").unwrap_err();
        assert_eq!(err.at, 20);
        let err = parse_condition("ka.verb in (a b)").unwrap_err();
        assert_eq!(err.at, 14);
        assert!(err.message.contains("`,` or `)`"));
        let err = parse_condition("(a and b").unwrap_err();
        assert!(err.message.contains("`)`"));
        let err = parse_condition("x = 'open").unwrap_err();
        assert!(err.message.contains("unterminated"));
    }

    #[test]
    fn quoted_values_keep_regex_escapes() {
        let ast = parse_condition(r#"x regex "^\s+\"q\"\\d""#).unwrap();
        let Ast::Compare {
            operand: Operand::Single(value),
            ..
        } = ast
        else {
            panic!()
        };
        assert_eq!(value.text, r#"^\s+"q"\d"#);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_condition(&text).is_err());
        let text = format!("{}a", "not ".repeat(5000));
        assert!(parse_condition(&text).is_err());
    }
}
