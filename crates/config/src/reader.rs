//! Walks a parsed TOML document key by key, so that every unknown key and every
//! bad value is collected (with its line) and reported together, instead of
//! stopping at the first like `serde(deny_unknown_fields)` would.

use std::net::SocketAddr;
use std::ops::Range;
use toml_edit::{Item, Table};

use crate::ConfigError;

pub(crate) struct Reader<'a> {
    source: &'a str,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Reader { source, errors: Vec::new() }
    }

    pub(crate) fn line_of(&self, span: Option<Range<usize>>) -> Option<usize> {
        let start = span?.start.min(self.source.len());
        Some(self.source[..start].bytes().filter(|&b| b == b'\n').count() + 1)
    }

    pub(crate) fn error(&mut self, key: &str, span: Option<Range<usize>>, message: impl Into<String>) {
        let line = self.line_of(span);
        self.errors.push(ConfigError { key: key.to_string(), line, message: message.into() });
    }

    /// Reports every key of `table` that is not in `known`.
    pub(crate) fn check_keys(&mut self, table: &Table, prefix: &str, known: &[&str]) {
        for (key, item) in table.iter() {
            if !known.contains(&key) {
                let span = table.key(key).and_then(|k| k.span()).or_else(|| item.span());
                let path = join(prefix, key);
                self.error(&path, span, format!("unknown key (known keys here: {})", known.join(", ")));
            }
        }
    }

    /// A sub-table, if present and really a table.
    pub(crate) fn table<'t>(&mut self, table: &'t Table, key: &str) -> Option<&'t Table> {
        let item = table.get(key)?;
        match item.as_table() {
            Some(t) => Some(t),
            None => {
                self.error(key, item.span(), "expected a table, e.g. [".to_string() + key + "]");
                None
            }
        }
    }

    pub(crate) fn string(&mut self, table: &Table, prefix: &str, key: &str) -> Option<String> {
        let item = table.get(key)?;
        match item.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.error(&join(prefix, key), item.span(), "expected a string in double quotes");
                None
            }
        }
    }

    /// A value that goes through `parse`, with the error attributed to the key.
    pub(crate) fn parsed<T>(
        &mut self,
        table: &Table,
        prefix: &str,
        key: &str,
        parse: impl Fn(&Item) -> Result<T, String>,
    ) -> Option<T> {
        let item = table.get(key)?;
        match parse(item) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(&join(prefix, key), item.span(), e);
                None
            }
        }
    }

    pub(crate) fn size(&mut self, table: &Table, prefix: &str, key: &str) -> Option<u64> {
        self.parsed(table, prefix, key, |item| {
            if let Some(n) = item.as_integer() {
                return u64::try_from(n).map_err(|_| "a size cannot be negative".to_string());
            }
            match item.as_str() {
                Some(s) => crate::units::parse_size(s),
                None => Err("expected a size such as \"50M\", \"1G\" or a byte count".into()),
            }
        })
    }

    pub(crate) fn duration(&mut self, table: &Table, prefix: &str, key: &str) -> Option<std::time::Duration> {
        self.parsed(table, prefix, key, |item| {
            if let Some(n) = item.as_integer() {
                return u64::try_from(n)
                    .map(std::time::Duration::from_secs)
                    .map_err(|_| "a duration cannot be negative".to_string());
            }
            match item.as_str() {
                Some(s) => crate::units::parse_duration(s),
                None => Err("expected a duration such as \"30s\", \"10m\" or \"1h\"".into()),
            }
        })
    }

    pub(crate) fn count(&mut self, table: &Table, prefix: &str, key: &str) -> Option<u64> {
        self.parsed(table, prefix, key, |item| match item.as_integer() {
            Some(n) if n >= 0 => Ok(n as u64),
            _ => Err("expected a whole number, 0 or more".into()),
        })
    }

    pub(crate) fn addresses(&mut self, table: &Table, prefix: &str, key: &str) -> Option<Vec<SocketAddr>> {
        self.parsed(table, prefix, key, |item| {
            let array = item
                .as_array()
                .ok_or_else(|| "expected a list of \"ADDRESS:PORT\", e.g. [\"0.0.0.0:25\"]".to_string())?;
            array
                .iter()
                .map(|v| {
                    let s = v.as_str().ok_or_else(|| "each entry must be a string \"ADDRESS:PORT\"".to_string())?;
                    s.parse::<SocketAddr>().map_err(|_| format!("{s:?} is not ADDRESS:PORT (IPv6: \"[::]:25\")"))
                })
                .collect()
        })
    }
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}
