//! Who signed a release: ed25519 public keys (the one built into the binary
//! from packaging/release-key.pub, plus `[update] trusted_keys`), detached
//! signatures as `openssl pkeyutl -sign -rawin` writes them (64 raw bytes),
//! and the SHA256SUMS file. Everything here fails closed: a key, a
//! signature or a checksum line it does not fully understand is refused.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::UpdateError;

/// The release public key, compiled in. scripts/release.sh refuses to sign
/// with a key whose public half differs (unless told it signs a test release).
pub const BUILT_IN_KEY: &str = include_str!("../../packaging/release-key.pub");

/// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key
/// bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Parses a PEM "PUBLIC KEY" holding an ed25519 key (`openssl pkey -pubout`).
pub fn parse_public_key_pem(text: &str) -> Result<VerifyingKey, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("-----BEGIN PUBLIC KEY-----") {
        return Err("not a PEM public key (no \"-----BEGIN PUBLIC KEY-----\" line)".into());
    }
    let mut b64 = String::new();
    let mut ended = false;
    for l in lines {
        if l == "-----END PUBLIC KEY-----" {
            ended = true;
            break;
        }
        b64.push_str(l);
    }
    if !ended {
        return Err("the PEM public key has no END line".into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the PEM public key is not valid base64: {e}"))?;
    let key = der
        .strip_prefix(&ED25519_SPKI_PREFIX[..])
        .filter(|k| k.len() == 32)
        .ok_or("not an ed25519 public key (make one with `openssl genpkey -algorithm ed25519`)")?;
    let bytes: [u8; 32] = key.try_into().map_err(|_| "ed25519 keys are 32 bytes")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("invalid ed25519 public key: {e}"))
}

/// The keys a release may be signed with.
#[derive(Debug, Clone)]
pub struct TrustedKeys {
    keys: Vec<(String, VerifyingKey)>,
}

impl TrustedKeys {
    /// The built-in key and the configured extra ones.
    pub fn load(extra: &[std::path::PathBuf]) -> Result<TrustedKeys, UpdateError> {
        let builtin = parse_public_key_pem(BUILT_IN_KEY)
            .map_err(|e| UpdateError::Refused(format!("the built-in release key: {e}")))?;
        let mut keys = vec![("the built-in release key".to_string(), builtin)];
        for path in extra {
            let text = std::fs::read_to_string(path).map_err(|e| {
                UpdateError::Refused(format!(
                    "cannot read trusted key {}: {e} ([update] trusted_keys)",
                    path.display()
                ))
            })?;
            let key = parse_public_key_pem(&text).map_err(|e| {
                UpdateError::Refused(format!("trusted key {}: {e}", path.display()))
            })?;
            keys.push((format!("trusted key {}", path.display()), key));
        }
        Ok(TrustedKeys { keys })
    }

    /// Checks a detached signature over `data`; names the key that made it.
    pub fn verify(&self, what: &str, data: &[u8], sig: &[u8]) -> Result<&str, UpdateError> {
        let bytes: [u8; 64] = sig.try_into().map_err(|_| {
            UpdateError::Refused(format!(
                "the signature of {what} is {} bytes, not an ed25519 signature (64 bytes): refusing it",
                sig.len()
            ))
        })?;
        let sig = Signature::from_bytes(&bytes);
        self.keys
            .iter()
            .find(|(_, k)| k.verify_strict(data, &sig).is_ok())
            .map(|(name, _)| name.as_str())
            .ok_or_else(|| {
                UpdateError::Refused(format!(
                    "the signature of {what} does not match any trusted key: the file was changed \
                     or signed by someone else; nothing was installed"
                ))
            })
    }
}

/// sha256 of bytes, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Parses `sha256sum` output: "<64 hex>  <name>" (or " *<name>") per line.
pub fn parse_sha256sums(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (hash, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("SHA256SUMS line {}: not \"<sha256>  <file>\"", i + 1))?;
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| format!("SHA256SUMS line {}: not \"<sha256>  <file>\"", i + 1))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("SHA256SUMS line {}: not a sha256", i + 1));
        }
        if name.is_empty() || name.contains('/') {
            return Err(format!("SHA256SUMS line {}: bad file name {name:?}", i + 1));
        }
        if out
            .insert(name.to_string(), hash.to_ascii_lowercase())
            .is_some()
        {
            return Err(format!("SHA256SUMS lists {name} twice"));
        }
    }
    Ok(out)
}

/// A release's SHA256SUMS, checked against its signature.
#[derive(Debug)]
pub struct SignedSums {
    pub sums: BTreeMap<String, String>,
    pub signer: String,
}

impl SignedSums {
    pub fn verify(keys: &TrustedKeys, sums: &[u8], sig: &[u8]) -> Result<SignedSums, UpdateError> {
        let signer = keys.verify("SHA256SUMS", sums, sig)?.to_string();
        let text = std::str::from_utf8(sums)
            .map_err(|_| UpdateError::Refused("SHA256SUMS is not text".into()))?;
        let sums = parse_sha256sums(text).map_err(UpdateError::Refused)?;
        Ok(SignedSums { sums, signer })
    }

    /// Checks one artifact: listed in SHA256SUMS with this content, and its
    /// own signature made by a trusted key.
    pub fn check_artifact(
        &self,
        keys: &TrustedKeys,
        name: &str,
        path: &Path,
        sig: &[u8],
    ) -> Result<(), UpdateError> {
        let data = std::fs::read(path).map_err(|e| UpdateError::Io {
            what: format!("cannot read {}", path.display()),
            source: e,
        })?;
        let expected = self.sums.get(name).ok_or_else(|| {
            UpdateError::Refused(format!("{name} is not listed in the release's SHA256SUMS"))
        })?;
        let actual = sha256_hex(&data);
        if &actual != expected {
            return Err(UpdateError::Refused(format!(
                "{name} does not match its checksum (sha256 {actual}, SHA256SUMS says {expected}): \
                 the download is damaged or was tampered with; nothing was installed"
            )));
        }
        keys.verify(name, &data, sig)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_key_parses() {
        parse_public_key_pem(BUILT_IN_KEY).expect("packaging/release-key.pub is an ed25519 key");
    }

    #[test]
    fn a_key_of_another_kind_is_refused() {
        // An RSA SubjectPublicKeyInfo start, base64.
        let pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n";
        let e = parse_public_key_pem(pem).expect_err("not ed25519");
        assert!(e.contains("not an ed25519 public key"), "{e}");
        assert!(parse_public_key_pem("hello").is_err());
    }

    #[test]
    fn sha256sums_lines_are_parsed_strictly() {
        let h = "a".repeat(64);
        let ok = parse_sha256sums(&format!("{h}  x.tar.gz\n{h} *y.deb\n")).expect("ok");
        assert_eq!(ok.len(), 2);
        assert!(
            parse_sha256sums(&format!("{h} x")).is_err(),
            "one space, no star"
        );
        assert!(parse_sha256sums("abc  x").is_err());
        assert!(parse_sha256sums(&format!("{h}  ../x")).is_err());
        assert!(parse_sha256sums(&format!("{h}  x\n{h}  x\n")).is_err());
    }

    #[test]
    fn a_signature_of_the_wrong_length_is_refused() {
        let keys = TrustedKeys::load(&[]).expect("keys");
        let e = keys.verify("x", b"data", &[0u8; 63]).expect_err("short");
        assert!(e.to_string().contains("64 bytes"), "{e}");
        let e = keys.verify("x", b"data", &[0u8; 64]).expect_err("no match");
        assert!(
            e.to_string().contains("does not match any trusted key"),
            "{e}"
        );
    }
}
