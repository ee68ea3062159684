//! The device store's key on the command line: from the environment or a prompt, never a flag.

use anyhow::{Context, Result, bail};
use sidak_store::StoreKey;

/// The variable holding the store's key: a passphrase, or `hex:` and 64 hexadecimal digits.
pub const KEY_ENV: &str = "SIDAK_STORE_KEY";
/// The variable holding the new key for `sidak device change-key`.
pub const NEW_KEY_ENV: &str = "SIDAK_NEW_STORE_KEY";

/// Reads a key written as a passphrase or as `hex:<64 digits>` (a raw key).
pub fn parse(text: &str) -> Result<StoreKey> {
    Ok(match text.strip_prefix("hex:") {
        Some(hex) => StoreKey::from_hex(hex)?,
        None => StoreKey::passphrase(text)?,
    })
}

/// The store's key: from [`KEY_ENV`], or asked for on the terminal with `ask`; none otherwise.
pub fn current(ask: bool) -> Result<Option<StoreKey>> {
    if let Ok(text) = std::env::var(KEY_ENV) {
        return parse(&text)
            .with_context(|| format!("{KEY_ENV} does not hold a usable key"))
            .map(Some);
    }
    if ask {
        let text = rpassword::prompt_password("key of the device store: ")
            .context("cannot read the key from the terminal")?;
        return parse(&text).map(Some);
    }
    Ok(None)
}

/// The new key for a key change: from [`NEW_KEY_ENV`], or asked for twice on the terminal.
pub fn new_key() -> Result<StoreKey> {
    if let Ok(text) = std::env::var(NEW_KEY_ENV) {
        return parse(&text).with_context(|| format!("{NEW_KEY_ENV} does not hold a usable key"));
    }
    let first = rpassword::prompt_password("new key: ").with_context(|| {
        format!("cannot read the new key (set {NEW_KEY_ENV} when not at a terminal)")
    })?;
    let again = rpassword::prompt_password("new key again: ")
        .context("cannot read the new key from the terminal")?;
    if first != again {
        bail!("the two keys differ; nothing was changed");
    }
    parse(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_keys_and_passphrases_are_told_apart() {
        assert!(parse(&format!("hex:{}", "0f".repeat(32))).is_ok());
        assert!(parse("hex:0f0f").is_err());
        assert!(parse("").is_err());
        assert!(parse("kata sandi panjang").is_ok());
    }
}
