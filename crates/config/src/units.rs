//! Human-friendly sizes and durations used across the configuration and the CLI.

/// Parses a size: a byte count (`1048576`) or a number with a binary unit
/// suffix `K`, `M`, `G` or `T` (`"50M"`, `"1G"`; `B`/`iB` suffixes tolerated).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size unit in {text:?} (use K, M, G or T)")),
            };
            (&t[..i], mult)
        }
        _ => (t, 1),
    };
    let n: u64 =
        digits.trim().parse().map_err(|_| format!("{text:?} is not a size (examples: \"50M\", \"1G\", 1048576)"))?;
    n.checked_mul(mult).ok_or_else(|| format!("size {text:?} is too large"))
}

/// Formats a byte count the way `parse_size` reads it back when exact.
pub fn format_size(bytes: u64) -> String {
    for (unit, mult) in [("T", 1u64 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes >= mult && bytes.is_multiple_of(mult) {
            return format!("{}{unit}", bytes / mult);
        }
    }
    bytes.to_string()
}

/// Parses a duration: seconds (`30`) or a number with `ms`, `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?} is not a duration (examples: \"30s\", \"10m\", \"1h\")"))?;
    let mult = match unit.trim() {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        other => return Err(format!("unknown duration unit {other:?} in {text:?} (use s, m, h or d)")),
    };
    n.checked_mul(mult).map(std::time::Duration::from_secs).ok_or_else(|| format!("duration {text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50M"), Ok(50 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(format_size(50 << 20), "50M");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(std::time::Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(std::time::Duration::from_secs(600)));
        assert_eq!(parse_duration("5"), Ok(std::time::Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(std::time::Duration::from_millis(250)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("999999999999999999d").is_err());
    }
}
