//! Secrets: generating them, hashing store secrets (argon2id, salted), and
//! the JWT signing key, which persists in the data directory when not given.

use std::path::Path;

use anyhow::Context;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{
        SaltString,
        rand_core::{OsRng, RngCore},
    },
};

/// 32 random bytes as 64 hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashing is deliberately slow: callers run it on the blocking pool.
pub fn hash(secret: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a secret: {e}"))
}

/// A hash to verify against when the client id is unknown, so a wrong id and
/// a wrong secret take the same time.
static DUMMY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash("stockline-dummy-secret").unwrap_or_default());

pub fn verify(secret: &str, hash: Option<&str>) -> bool {
    let hash = hash.filter(|h| !h.is_empty()).unwrap_or(&DUMMY);
    let known = hash.as_ptr() != DUMMY.as_ptr();
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
        && known
}

/// The configured signing secret, or the one kept in `data_dir` (made on the
/// first start), so restarts keep issued tokens valid.
pub fn signing_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(
            secret.len() >= 32,
            "the JWT secret must be at least 32 characters"
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(secret) => Ok(secret.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate();
            write_private(&path, &secret)?;
            tracing::info!(path = %path.display(), "generated a JWT signing secret and kept it");
            Ok(secret.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert_ne!(a, b, "salted");
        assert!(!a.contains("correct"));
        assert!(verify("correct horse battery", Some(&a)));
        assert!(!verify("wrong", Some(&a)));
        assert!(
            !verify("stockline-dummy-secret", None),
            "unknown ids never pass"
        );
    }

    #[test]
    fn the_signing_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let first = signing_key(None, dir.path()).unwrap();
        assert_eq!(signing_key(None, dir.path()).unwrap(), first);
        assert!(signing_key(Some("short"), dir.path()).is_err());
    }
}
