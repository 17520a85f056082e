//! Turns query text into tokens with 1-based line/column positions.

use crate::error::{ErrorKind, KqlError, Pos, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Identifiers and keywords, including `project-away`, `mv-expand`, `!has`, `in~`,
    /// `$left`.
    Ident(String),
    Str(String),
    Long(i64),
    Real(f64),
    /// Nanoseconds.
    Timespan(i64),
    /// The raw text inside `datetime(...)`, which KQL allows unquoted.
    DateTimeText(String),
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

impl Tok {
    /// How the token is named in "found ..." parts of error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("'{name}'"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Long(n) => format!("'{n}'"),
            Tok::Real(n) => format!("'{n}'"),
            Tok::Timespan(_) => "a timespan".to_string(),
            Tok::DateTimeText(_) => "a datetime".to_string(),
            Tok::Sym(symbol) => format!("'{symbol}'"),
            Tok::Eof => "the end of the query".to_string(),
        }
    }
}

/// Operators whose names contain a hyphen. Unsupported ones are still lexed whole so that
/// the parser can name them in its error.
const HYPHENATED: &[&str] = &[
    "project-away",
    "project-rename",
    "project-keep",
    "project-reorder",
    "mv-expand",
    "mv-apply",
    "make-series",
];

/// Negated word operators: `!has`, `!contains`, ...
const NEGATED_WORDS: &[&str] = &[
    "has",
    "contains",
    "startswith",
    "endswith",
    "in",
    "between",
    "has_cs",
    "contains_cs",
    "startswith_cs",
    "endswith_cs",
    "hasprefix",
    "hassuffix",
];

const NANOS_PER_SECOND: f64 = 1e9;

/// Timespan unit suffixes and their length in nanoseconds.
fn timespan_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "d" | "day" | "days" => 86_400.0 * NANOS_PER_SECOND,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0 * NANOS_PER_SECOND,
        "m" | "min" | "minute" | "minutes" => 60.0 * NANOS_PER_SECOND,
        "s" | "sec" | "second" | "seconds" => NANOS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1e6,
        "microsecond" | "microseconds" => 1e3,
        "tick" | "ticks" => 100.0,
        _ => return None,
    })
}

struct Lexer {
    chars: Vec<char>,
    index: usize,
    line: u32,
    column: u32,
}

pub fn tokenize(text: &str) -> Result<Vec<Token>> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        index: 0,
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.tok == Tok::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.index + ahead).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.index += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match self.peek(0) {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek(1) == Some('/') => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Result<Token> {
        self.skip_space_and_comments();
        let pos = self.pos();
        let Some(c) = self.peek(0) else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = if is_ident_start(c) {
            self.identifier(pos)?
        } else if c.is_ascii_digit() {
            self.number(pos)?
        } else if c == '"' || c == '\'' {
            self.bump();
            Tok::Str(self.string(c, pos)?)
        } else if c == '@' && matches!(self.peek(1), Some('"') | Some('\'')) {
            self.bump();
            let quote = self.bump().unwrap_or('"');
            Tok::Str(self.verbatim_string(quote, pos)?)
        } else if c == '$' && self.peek(1).is_some_and(is_ident_start) {
            self.bump();
            let name = self.word();
            Tok::Ident(format!("${name}"))
        } else if c == '!' && self.peek(1).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
            let word = self.word();
            if !NEGATED_WORDS.contains(&word.as_str()) {
                return Err(KqlError::new(
                    ErrorKind::Syntax,
                    pos,
                    format!("unknown operator '!{word}'"),
                ));
            }
            if word == "in" && self.peek(0) == Some('~') {
                self.bump();
                Tok::Ident("!in~".to_string())
            } else {
                Tok::Ident(format!("!{word}"))
            }
        } else {
            self.symbol(pos)?
        };
        Ok(Token { tok, pos })
    }

    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek(0) {
            if !is_ident_char(c) {
                break;
            }
            word.push(c);
            self.bump();
        }
        word
    }

    fn identifier(&mut self, pos: Pos) -> Result<Tok> {
        let mut word = self.word();
        if self.peek(0) == Some('-') {
            for hyphenated in HYPHENATED {
                let Some(rest) = hyphenated
                    .strip_prefix(word.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                else {
                    continue;
                };
                let length = rest.len();
                let candidate: String = (0..length).filter_map(|i| self.peek(1 + i)).collect();
                if candidate == rest && !self.peek(1 + length).is_some_and(is_ident_char) {
                    for _ in 0..=length {
                        self.bump();
                    }
                    word = hyphenated.to_string();
                    break;
                }
            }
        }
        if word == "in" && self.peek(0) == Some('~') {
            self.bump();
            return Ok(Tok::Ident("in~".to_string()));
        }
        if word == "datetime" {
            return self.datetime_text(pos).map(|text| match text {
                Some(text) => Tok::DateTimeText(text),
                None => Tok::Ident(word.clone()),
            });
        }
        Ok(Tok::Ident(word))
    }

    /// After `datetime`, KQL takes everything up to `)` as the literal, quoted or not.
    fn datetime_text(&mut self, pos: Pos) -> Result<Option<String>> {
        let mut ahead = 0;
        while self.peek(ahead).is_some_and(|c| c.is_whitespace()) {
            ahead += 1;
        }
        if self.peek(ahead) != Some('(') {
            return Ok(None);
        }
        for _ in 0..=ahead {
            self.bump();
        }
        let mut text = String::new();
        loop {
            match self.bump() {
                Some(')') => break,
                Some(c) => text.push(c),
                None => {
                    return Err(KqlError::new(
                        ErrorKind::Syntax,
                        pos,
                        "expected ')' to close datetime(, found the end of the query",
                    ))
                }
            }
        }
        let trimmed = text.trim();
        let unquoted = trimmed
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .or_else(|| {
                trimmed
                    .strip_prefix('\'')
                    .and_then(|t| t.strip_suffix('\''))
            })
            .unwrap_or(trimmed);
        Ok(Some(unquoted.trim().to_string()))
    }

    fn number(&mut self, pos: Pos) -> Result<Tok> {
        let mut text = String::new();
        let mut is_real = false;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() {
                text.push(c);
                self.bump();
            } else if c == '.' && !is_real && self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
                is_real = true;
                text.push(c);
                self.bump();
            } else if (c == 'e' || c == 'E')
                && (self.peek(1).is_some_and(|d| d.is_ascii_digit())
                    || (matches!(self.peek(1), Some('+') | Some('-'))
                        && self.peek(2).is_some_and(|d| d.is_ascii_digit())))
            {
                is_real = true;
                text.push(c);
                self.bump();
                if let Some(sign) = self.peek(0).filter(|s| *s == '+' || *s == '-') {
                    text.push(sign);
                    self.bump();
                }
            } else {
                break;
            }
        }
        if self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
            let unit = self.word();
            let Some(unit_nanos) = timespan_unit(&unit) else {
                return Err(KqlError::new(
                    ErrorKind::Syntax,
                    pos,
                    format!("expected a timespan unit (d, h, m, s, ms, microsecond, tick) after '{text}', found '{unit}'"),
                ));
            };
            let amount: f64 = text.parse().map_err(|_| {
                KqlError::new(ErrorKind::Syntax, pos, format!("invalid number '{text}'"))
            })?;
            let nanos = amount * unit_nanos;
            if !nanos.is_finite() || nanos.abs() > i64::MAX as f64 {
                return Err(KqlError::new(
                    ErrorKind::Syntax,
                    pos,
                    format!("timespan '{text}{unit}' is out of range"),
                ));
            }
            return Ok(Tok::Timespan(nanos.round() as i64));
        }
        if is_real {
            text.parse().map(Tok::Real).map_err(|_| {
                KqlError::new(ErrorKind::Syntax, pos, format!("invalid number '{text}'"))
            })
        } else {
            text.parse().map(Tok::Long).map_err(|_| {
                KqlError::new(
                    ErrorKind::Syntax,
                    pos,
                    format!("number '{text}' does not fit in a long"),
                )
            })
        }
    }

    fn string(&mut self, quote: char, pos: Pos) -> Result<String> {
        let mut value = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(KqlError::new(
                        ErrorKind::Syntax,
                        pos,
                        format!("expected {quote} to close the string, found the end of the line"),
                    ))
                }
                Some(c) if c == quote => return Ok(value),
                Some('\\') => {
                    let escape_pos = self.pos();
                    let escaped = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('0') => '\0',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some('\'') => '\'',
                        other => {
                            return Err(KqlError::new(
                                ErrorKind::Syntax,
                                escape_pos,
                                format!(
                                    "expected an escape (\\\\, \\\", \\', \\n, \\t, \\r), found {}",
                                    other
                                        .map(|c| format!("'\\{c}'"))
                                        .unwrap_or_else(|| "the end of the query".to_string())
                                ),
                            ))
                        }
                    };
                    value.push(escaped);
                }
                Some(c) => value.push(c),
            }
        }
    }

    /// `@"..."`: no escapes; a doubled quote stands for one quote.
    fn verbatim_string(&mut self, quote: char, pos: Pos) -> Result<String> {
        let mut value = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(KqlError::new(
                        ErrorKind::Syntax,
                        pos,
                        format!("expected {quote} to close the string, found the end of the line"),
                    ))
                }
                Some(c) if c == quote => {
                    if self.peek(0) == Some(quote) {
                        self.bump();
                        value.push(quote);
                    } else {
                        return Ok(value);
                    }
                }
                Some(c) => value.push(c),
            }
        }
    }

    fn symbol(&mut self, pos: Pos) -> Result<Tok> {
        const SYMBOLS: &[&str] = &[
            "..", "==", "!=", "=~", "!~", "<=", ">=", "|", ",", ";", "(", ")", "[", "]", ".", "+",
            "-", "*", "/", "%", "<", ">", "=",
        ];
        for symbol in SYMBOLS {
            let matches = symbol
                .chars()
                .enumerate()
                .all(|(offset, c)| self.peek(offset) == Some(c));
            if matches {
                for _ in 0..symbol.len() {
                    self.bump();
                }
                return Ok(Tok::Sym(symbol));
            }
        }
        let c = self.peek(0).unwrap_or(' ');
        Err(KqlError::new(
            ErrorKind::Syntax,
            pos,
            format!("unexpected character '{}'", c.escape_debug()),
        ))
    }
}
