//! Requester identity: the raw name and id number of a requester are
//! replaced at ingestion by a keyed hash (METHODOLOGY section 3.1, Law on
//! Denunciations 2018 Art. 47).
//!
//! The key never comes from the repository. A deployment sets it in the
//! environment (`VIGIL_HMAC_KEY`) or in a key file; only `vigil demo` uses
//! an explicit throwaway key, and says so.

use anyhow::{Result, bail};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

/// Environment variable holding the pseudonymization key.
pub const KEY_ENV: &str = "VIGIL_HMAC_KEY";

/// The key used by `vigil demo` only: public, so demo references protect
/// nobody, which is fine for synthetic data and wrong for anything else.
pub const DEMO_KEY: &str = "vigil-demo-key-not-for-real-data";

/// A pseudonymization key. Its bytes are never printed.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Key {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Key> {
        let bytes = bytes.into();
        if bytes.len() < 16 {
            bail!("the pseudonymization key must be at least 16 bytes long");
        }
        Ok(Key(bytes))
    }

    pub fn demo() -> Key {
        Key(DEMO_KEY.as_bytes().to_vec())
    }

    /// The key from a file (trailing newline ignored) or, failing that, from
    /// `VIGIL_HMAC_KEY`. A missing key is an error: real data must never be
    /// hashed with a key anyone can read.
    pub fn from_config(key_file: Option<&std::path::Path>) -> Result<Key> {
        if let Some(path) = key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the key file {}: {e}", path.display()))?;
            return Key::new(text.trim_end_matches(['\n', '\r']).as_bytes().to_vec());
        }
        match std::env::var(KEY_ENV) {
            Ok(v) if !v.is_empty() => Key::new(v.into_bytes()),
            _ => bail!(
                "no pseudonymization key: set {KEY_ENV} or pass --key-file \
                 (raw requester identities are never stored, and hashing them needs a secret key)"
            ),
        }
    }
}

/// NFC, trimmed, every run of whitespace collapsed to one space, lowercased.
pub fn normalize(s: &str) -> String {
    if s.is_ascii() {
        return normalize_ascii(s);
    }
    let nfc: String = s.nfc().collect();
    let mut out = String::with_capacity(nfc.len());
    for word in nfc.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.to_lowercase()
}

/// [`normalize`] for ASCII text (id numbers, mostly), in one pass: NFC
/// leaves ASCII as it is, and the ASCII characters `char::is_whitespace`
/// takes for whitespace are tab to carriage return and the space.
fn normalize_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| matches!(c, '\t'..='\r' | ' '))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// A key ready to hash with: the HMAC state after the key is taken in,
/// copied for each value instead of taking the key in again.
pub struct Keyed(Hmac<Sha256>);

impl Key {
    pub fn keyed(&self) -> Keyed {
        Keyed(Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length"))
    }
}

impl Keyed {
    fn hex(&self, prefix: &str, value: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(prefix.as_bytes());
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The requester reference: by id number when there is one, else by
    /// name, else none.
    pub fn requester_ref(&self, name: Option<&str>, id_number: Option<&str>) -> Option<String> {
        let id = id_number.map(normalize).filter(|s| !s.is_empty());
        if let Some(id) = id {
            return Some(self.hex("id:", &id));
        }
        let name = name.map(normalize).filter(|s| !s.is_empty());
        name.map(|n| self.hex("name:", &n))
    }
}

/// [`Keyed::requester_ref`] with `key`, for a single value.
pub fn requester_ref(key: &Key, name: Option<&str>, id_number: Option<&str>) -> Option<String> {
    key.keyed().requester_ref(name, id_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_collapses_unicode_whitespace_and_case() {
        // NFD "Nguyễn" with a no-break space and an ideographic space.
        let decomposed = "  Nguye\u{302}\u{303}n\u{a0}\u{3000}Văn   AN \t";
        assert_eq!(normalize(decomposed), "nguyễn văn an");
    }

    #[test]
    fn ascii_text_is_normalized_as_any_other() {
        // Every ASCII character around and between words, against the
        // general path (NFC, Unicode whitespace, Unicode lowercase).
        let general = |s: &str| -> String {
            let nfc: String = s.nfc().collect();
            nfc.split(char::is_whitespace)
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        for c in (0u8..128).map(char::from) {
            for s in [
                format!("{c}"),
                format!("Ab{c}Cd"),
                format!("{c}{c}x{c}Y{c}{c}"),
                format!(" 00120{c}3004 "),
            ] {
                assert_eq!(normalize_ascii(&s), general(&s), "{s:?}");
                assert_eq!(normalize(&s), general(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn id_number_wins_over_name() {
        let k = Key::new(b"0123456789abcdef".to_vec()).unwrap();
        let by_id = requester_ref(&k, Some("Lê Thị B"), Some(" 001203004005 ")).unwrap();
        assert_eq!(
            by_id,
            requester_ref(&k, None, Some("001203004005")).unwrap()
        );
        let by_name = requester_ref(&k, Some("Lê  Thị B"), Some("   ")).unwrap();
        assert_eq!(by_name, requester_ref(&k, Some("lê thị b"), None).unwrap());
        assert_ne!(by_id, by_name);
        assert_eq!(requester_ref(&k, Some(" "), None), None);
        assert_eq!(by_id.len(), 64);
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256(key="0123456789abcdef", "id:123"), computed independently
        // with Python's hmac module.
        let k = Key::new(b"0123456789abcdef".to_vec()).unwrap();
        let r = requester_ref(&k, None, Some("123")).unwrap();
        assert_eq!(r, KNOWN);
    }

    const KNOWN: &str = "392b8896ae4b3312d3343c72774a1530083efb83bf012f7e54ad5f9aede79b41";
}
