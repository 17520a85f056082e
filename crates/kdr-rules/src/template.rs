//! `reason` templates: literal text with `%field` / `%{field}` placeholders, resolved once.

use std::fmt::Write;

use kdr_model::Source;

use crate::compile::{resolve_field_name, split_field_arg};
use crate::fields::{Field, FieldArg, Val};
use crate::input::Input;

#[derive(Debug, Default)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Field(Field, FieldArg),
}

impl Template {
    pub fn parse(text: &str, source: Source) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('%') {
            literal.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            let (name, after) = if let Some(inner) = rest.strip_prefix('{') {
                let close = inner
                    .find('}')
                    .ok_or_else(|| "unclosed `%{` in reason".to_string())?;
                (&inner[..close], &inner[close + 1..])
            } else {
                let end = field_name_end(rest);
                (&rest[..end], &rest[end..])
            };
            if name.is_empty() {
                literal.push('%');
                rest = after;
                continue;
            }
            let (base, arg) = split_field_arg(name);
            let (field, arg) = resolve_field_name(base, arg, source)?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Field(field, arg));
            rest = after;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Appends the text for one event to `out`.
    pub fn render(&self, input: &Input<'_>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(field, arg) => write_value(out, field.extract(arg, input)),
            }
        }
    }
}

/// A field name runs over `[a-zA-Z0-9._]` and an optional `[...]` argument; a trailing dot
/// is punctuation, not part of the name.
fn field_name_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'.' || bytes[end] == b'_')
    {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'[' {
        if let Some(close) = text[end..].find(']') {
            end += close + 1;
        }
    }
    while end > 0 && bytes[end - 1] == b'.' {
        end -= 1;
    }
    end
}

pub fn write_value(out: &mut String, value: Val<'_>) {
    fn join<T: std::fmt::Display>(out: &mut String, items: impl Iterator<Item = T>) {
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{item}");
        }
    }
    match value {
        Val::Missing => out.push_str("<NA>"),
        Val::Str(s) => out.push_str(s),
        Val::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Val::Strs(list) => join(out, list.iter()),
        Val::OwnedStrs(list) => join(out, list.iter()),
        Val::StrRefs(list) => join(out, list.iter()),
        Val::Names(names) => {
            let mut seen: Vec<&str> = Vec::with_capacity(3);
            for name in names {
                if !name.is_empty() && !seen.contains(&name) {
                    seen.push(name);
                }
            }
            join(out, seen.iter())
        }
        Val::Ints(list) => join(out, list.iter()),
        Val::Bools(list) => join(out, list.iter()),
    }
}
