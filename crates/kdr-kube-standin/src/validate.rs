//! The API server's syntax rules for names and labels, as far as the stand-in checks them.

/// Why `key` is not a valid label key (`[prefix/]name`), or `None`.
pub(crate) fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(problem) = prefix.and_then(dns_subdomain_problem) {
        return Some(format!("prefix: {problem}"));
    }
    qualified_name_part_problem(name)
}

/// Why `value` is not a valid label value, or `None`. Empty values are valid.
pub(crate) fn label_value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        qualified_name_part_problem(value)
    }
}

/// Why `name` is not a DNS subdomain (object names), or `None`.
pub(crate) fn dns_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 253 {
        return Some("must be 1 to 253 characters".to_string());
    }
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let alnum_ends = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if valid_chars && alnum_ends {
        None
    } else {
        Some(
            "must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character"
                .to_string(),
        )
    }
}

fn qualified_name_part_problem(part: &str) -> Option<String> {
    if part.is_empty() || part.len() > 63 {
        return Some("must be 1 to 63 characters".to_string());
    }
    let valid_chars = part
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let alnum_ends = part.starts_with(|c: char| c.is_ascii_alphanumeric())
        && part.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid_chars && alnum_ends {
        None
    } else {
        Some(
            "must consist of alphanumeric characters, '-', '_' or '.', \
             and must start and end with an alphanumeric character"
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_syntax_follows_the_api_server() {
        assert_eq!(label_key_problem("kdr.io/isolated"), None);
        assert_eq!(label_key_problem("app"), None);
        assert!(label_key_problem("Bad_Prefix/app").is_some());
        assert!(label_key_problem(&"a".repeat(64)).is_some());
        assert_eq!(label_value_problem(""), None);
        assert!(label_value_problem("-x").is_some());
        assert!(dns_subdomain_problem("Web").is_some());
        assert_eq!(dns_subdomain_problem("web-1.a"), None);
    }
}
