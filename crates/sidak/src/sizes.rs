//! Byte sizes and link rates as people write them on a command line: `300k`, `20MiB`, `1mbit`.
//!
//! Decimal units are powers of 1,000 (`k`, `M`, `G`, with or without a trailing `B`), binary
//! units powers of 1,024 (`KiB`, `MiB`, `GiB`); a rate may also be given in bits per second
//! (`kbit`, `mbit`, `gbit`, decimal, as network links are sold). A bare number is bytes.

use thiserror::Error;

/// A size or rate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeError {
    /// The text is not a number followed by a known unit.
    #[error(
        "{0:?} is not a size: write a whole number of bytes, optionally followed by k, M, G (1,000s), KiB, MiB, GiB (1,024s){bits}",
        bits = if *.1 { ", or kbit, mbit, gbit (bits per second)" } else { "" }
    )]
    Unreadable(String, bool),
    /// The number does not fit 64 bits of bytes.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Bytes, from `1234`, `300k`, `300KB`, `2MiB`, `1G`.
pub fn parse_bytes(text: &str) -> Result<u64, SizeError> {
    parse(text, false)
}

/// Bytes per second, from the units of [`parse_bytes`] or bits per second (`1mbit` is
/// 125,000 bytes per second). A rate of zero is refused: it would never send anything.
pub fn parse_rate(text: &str) -> Result<u64, SizeError> {
    match parse(text, true)? {
        0 => Err(SizeError::Unreadable(text.to_owned(), true)),
        n => Ok(n),
    }
}

fn parse(text: &str, bits_allowed: bool) -> Result<u64, SizeError> {
    let unreadable = || SizeError::Unreadable(text.to_owned(), bits_allowed);
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(unreadable());
    }
    let (number, unit) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| SizeError::TooLarge(text.to_owned()))?;
    let unit = unit.trim();
    // (multiplier, divisor): bits are bytes divided by 8.
    let (mul, div) = match unit {
        "" | "b" | "B" => (1, 1),
        "k" | "K" | "kB" | "KB" | "kb" => (1_000, 1),
        "M" | "MB" | "m" | "mb" => (1_000_000, 1),
        "G" | "GB" | "g" | "gb" => (1_000_000_000, 1),
        "KiB" | "Ki" | "kiB" => (1 << 10, 1),
        "MiB" | "Mi" => (1 << 20, 1),
        "GiB" | "Gi" => (1 << 30, 1),
        "bit" if bits_allowed => (1, 8),
        "kbit" | "Kbit" if bits_allowed => (1_000, 8),
        "mbit" | "Mbit" if bits_allowed => (1_000_000, 8),
        "gbit" | "Gbit" if bits_allowed => (1_000_000_000, 8),
        _ => return Err(unreadable()),
    };
    n.checked_mul(mul)
        .map(|b| b / div)
        .ok_or_else(|| SizeError::TooLarge(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_bytes("1234"), Ok(1234));
        assert_eq!(parse_bytes("300k"), Ok(300_000));
        assert_eq!(parse_bytes("300 KB"), Ok(300_000));
        assert_eq!(parse_bytes("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert!(matches!(
            parse_bytes("1mbit"),
            Err(SizeError::Unreadable(_, false))
        ));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("k").is_err());
        assert!(parse_bytes("-5").is_err());
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(matches!(
            parse_bytes("99999999999999999999999"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_bytes("99999999999G"),
            Err(SizeError::TooLarge(_))
        ));
    }

    #[test]
    fn rates_take_bits_too() {
        assert_eq!(parse_rate("1mbit"), Ok(125_000));
        assert_eq!(parse_rate("128k"), Ok(128_000));
        assert_eq!(parse_rate("512kbit"), Ok(64_000));
        assert_eq!(parse_rate("1MiB"), Ok(1 << 20));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
        let message = parse_rate("fast").unwrap_err().to_string();
        assert!(message.contains("mbit"), "{message}");
    }
}
