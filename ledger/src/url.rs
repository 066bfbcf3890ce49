//! A database URL, which may hold a password: usable through
//! [`DatabaseUrl::expose`], but printed (`Debug`, `Display`) only with its
//! password replaced by `***` — `postgres://user:***@host/db` — so a
//! configuration or an option set can be logged, and a URL cannot reach a
//! log by accident.

use std::fmt;

/// What stands for a password wherever a URL is printed.
const MASK: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL as given, password and all: for connecting, never for
    /// printing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password masked.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        DatabaseUrl(url)
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        DatabaseUrl(url.to_owned())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(url.to_owned()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

/// `url` with its passwords masked: the one in a URL's user part
/// (`scheme://user:password@host`) and any `password=` parameter (a URL's
/// query, or libpq's `key=value` form). Errs towards masking too much: in
/// a URL, everything between the first `:` of the user part and the last
/// `@` is masked, so a password holding an unescaped `@`, `/` or `?` is
/// masked whole.
pub fn redact(url: &str) -> String {
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user_info, host)) => match user_info.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:{MASK}@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    mask_password_parameters(&masked)
}

/// Masks the value of every `password=` parameter, case-insensitively:
/// up to the next `&` or white space, or a quoted value (`'…'`, with `\'`
/// inside) whole.
fn mask_password_parameters(text: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.to_ascii_lowercase().find(KEY) {
        let value_at = at + KEY.len();
        out.push_str(&rest[..value_at]);
        out.push_str(MASK);
        let value = &rest[value_at..];
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let close = quoted.char_indices().find_map(|(i, c)| {
                let closes = c == '\'' && !escaped;
                escaped = c == '\\' && !escaped;
                closes.then_some(i)
            });
            // Past the closing quote; an unclosed one runs to the end.
            close.map_or(value.len(), |i| i + 2)
        } else {
            value
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_password_is_masked_and_the_rest_kept() {
        let cases = [
            (
                "postgres://stockline:s3cret@db.internal:5432/ledger",
                "postgres://stockline:***@db.internal:5432/ledger",
            ),
            ("postgresql://u:p@ss@w/rd?x@h/db", "postgresql://u:***@h/db"),
            (
                "postgres://u@h/db?sslmode=require&password=s3cret&x=1",
                "postgres://u@h/db?sslmode=require&password=***&x=1",
            ),
            (
                "host=db user=u PASSWORD='s3 c\\'ret' dbname=ledger",
                "host=db user=u PASSWORD=*** dbname=ledger",
            ),
            ("postgres://h/db", "postgres://h/db"),
            (
                "sqlite:///var/lib/stockline.db",
                "sqlite:///var/lib/stockline.db",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact(url), shown, "{url}");
        }
        let url = DatabaseUrl::new("postgres://u:s3cret@h/db");
        assert_eq!(url.expose(), "postgres://u:s3cret@h/db");
        assert_eq!(format!("{url}"), "postgres://u:***@h/db");
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
