//! Secrets: generating them, hashing store secrets, and the JWT signing
//! key, which persists in the data directory when not given.
//!
//! Two hash formats, told apart by their prefix:
//! - `sha256:<hex>` for secrets central generates: 256 random bits, so a
//!   fast hash is as strong as a slow one (there is nothing to guess), and a
//!   sign-in costs microseconds, not an argon2 run;
//! - argon2id (a PHC string, `$argon2id$…`) for secrets an operator chose,
//!   which may be guessable; each verification takes ~19 MiB and tens of
//!   milliseconds, so callers bound how many run at once, and may lend the
//!   19 MiB ([`Memory`]) instead of having each run allocate and free it.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{
        Output, ParamsString, SaltString,
        rand_core::{OsRng, RngCore},
    },
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The fewest bytes a JWT signing secret may have, from any source.
pub const MIN_SIGNING_SECRET: usize = 32;

const SHA256_PREFIX: &str = "sha256:";

/// 32 random bytes as 64 hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash of a secret central generated ([`generate`]): fast, because
/// the secret has 256 bits of entropy.
pub fn hash_generated(secret: &str) -> String {
    format!("{SHA256_PREFIX}{}", hex(&Sha256::digest(secret.as_bytes())))
}

/// Argon2's working memory (~19 MiB for the parameters central hashes
/// with), lent to one run at a time. A thread that checks secrets keeps
/// one and reuses it, so a burst of checks allocates nothing per check.
/// What a run leaves in it is overwritten by the next (argon2 writes every
/// block before it reads it); it is never printed.
pub struct Memory(Vec<Block>);

impl Memory {
    /// Room for central's own parameters (`Params::DEFAULT`).
    pub fn new() -> Memory {
        Memory(vec![Block::default(); Params::DEFAULT.block_count()])
    }

    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.0.len() * Block::SIZE
    }

    /// The first `count` blocks; grown (and kept grown) for a hash made
    /// with more memory than central's parameters — only one an operator
    /// put in the database by hand can be.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

/// The hash of a secret someone chose: argon2id, salted, deliberately slow.
/// Callers run it on the blocking pool.
pub fn hash_chosen(secret: &str) -> anyhow::Result<String> {
    hash_chosen_with(secret, &mut Memory::new())
}

/// [`hash_chosen`] in `memory`.
pub fn hash_chosen_with(secret: &str, memory: &mut Memory) -> anyhow::Result<String> {
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("hashing a secret: {e}");
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| failed(&e))?;
    let params = Params::DEFAULT;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            secret.as_bytes(),
            salt_bytes,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// How much work verifying against a stored hash is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// A SHA-256: microseconds.
    Cheap,
    /// An argon2 run: ~19 MiB and tens of milliseconds.
    Expensive,
}

pub fn cost(hash: Option<&str>) -> Cost {
    match hash {
        Some(h) if h.starts_with('$') => Cost::Expensive,
        _ => Cost::Cheap,
    }
}

/// A hash to verify against when the client id is unknown, so that an
/// unknown id costs what a generated secret's check costs.
static DUMMY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_generated("stockline-dummy-secret"));

/// Whether `secret` matches `hash`; an unknown id (`None`) never matches.
/// An argon2 hash is checked in memory of its own, allocated for the run.
pub fn verify(secret: &str, hash: Option<&str>) -> bool {
    verify_with(secret, hash, &mut None)
}

/// [`verify`], an argon2 hash in `memory` (made there on first need, and
/// kept for the next run).
pub fn verify_with(secret: &str, hash: Option<&str>, memory: &mut Option<Memory>) -> bool {
    let known = hash.is_some_and(|h| !h.is_empty());
    let hash = hash.filter(|h| !h.is_empty()).unwrap_or(&DUMMY);
    let matches = match hash.strip_prefix(SHA256_PREFIX) {
        Some(expected) => {
            let actual = hex(&Sha256::digest(secret.as_bytes()));
            bool::from(actual.as_bytes().ct_eq(expected.as_bytes()))
        }
        None => PasswordHash::new(hash).is_ok_and(|parsed| {
            argon2_matches(
                secret.as_bytes(),
                &parsed,
                memory.get_or_insert_with(Memory::new),
            )
        }),
    };
    matches && known
}

/// What `argon2::PasswordVerifier::verify_password` decides (the hash's
/// own algorithm, version, parameters and salt; the output compared in
/// constant time), but in `memory` instead of a fresh allocation.
fn argon2_matches(secret: &[u8], hash: &PasswordHash<'_>, memory: &mut Memory) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = memory.blocks(params.block_count());
    Argon2::new(algorithm, version.unwrap_or_default(), params)
        .hash_password_into_with_memory(secret, salt, out, blocks)
        .is_ok_and(|()| bool::from(out.ct_eq(expected.as_bytes())))
}

/// The configured signing secret, or the one kept in `data_dir` (made on the
/// first start), so restarts keep issued tokens valid. Either must have at
/// least [`MIN_SIGNING_SECRET`] bytes: a file a crash left empty is refused,
/// never used as an empty HMAC key.
pub fn signing_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(
            secret.len() >= MIN_SIGNING_SECRET,
            "the JWT secret (--jwt-secret / STOCKLINE_JWT_SECRET) has {} bytes; \
             at least {MIN_SIGNING_SECRET} are needed",
            secret.len()
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(secret) => {
            check_private(&path)?;
            let secret = secret.trim();
            anyhow::ensure!(
                secret.len() >= MIN_SIGNING_SECRET,
                "{} holds a JWT secret of {} bytes; at least {MIN_SIGNING_SECRET} are needed \
                 (a crash while it was written can leave it empty). Remove the file to have a \
                 new one generated (tokens issued before stop working), or set --jwt-secret",
                path.display(),
                secret.len()
            );
            Ok(secret.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = generate();
            write_private(&path, &secret)?;
            tracing::info!(path = %path.display(), "generated a JWT signing secret and kept it");
            Ok(secret.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Refuses a secret file others may read or write: whoever reads it can
/// sign admin tokens.
fn check_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the mode of {}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        anyhow::ensure!(
            mode & 0o077 == 0,
            "{} has mode {mode:04o}: others may read the JWT signing secret. \
             Run `chmod 600 {}` (and consider it leaked: remove it to have a new one made)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// Writes `contents` so that `path` holds either nothing or all of it, even
/// across a crash or a full disk: a temporary file (mode 0600) is written
/// and synced, then renamed over `path`, and the directory synced.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = temp_path(path);
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        file.write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", temp.display()))?;
        std::fs::rename(&temp, path)
            .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_secrets_are_salted_argon2_and_verify() {
        let a = hash_chosen("correct horse battery").unwrap();
        let b = hash_chosen("correct horse battery").unwrap();
        assert_ne!(a, b, "salted");
        assert!(!a.contains("correct"));
        assert_eq!(cost(Some(&a)), Cost::Expensive);
        assert!(verify("correct horse battery", Some(&a)));
        assert!(!verify("wrong", Some(&a)));
    }

    /// The checks in lent memory decide what the argon2 crate's own
    /// `verify_password` decides, for central's hashes and others'.
    #[test]
    fn checks_in_lent_memory_agree_with_the_crate() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut memory = None;
        let ours = hash_chosen_with("correct horse battery", &mut Memory::new()).unwrap();
        let small = Params::new(64, 1, 1, Some(16)).unwrap();
        let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
        let theirs = [
            Argon2::new(Algorithm::Argon2id, Version::V0x13, small.clone()),
            Argon2::new(Algorithm::Argon2i, Version::V0x10, small.clone()),
            Argon2::new(Algorithm::Argon2d, Version::V0x13, small),
        ]
        .map(|a| {
            a.hash_password(b"correct horse battery", &salt)
                .unwrap()
                .to_string()
        });
        for hash in std::iter::once(&ours).chain(&theirs) {
            let parsed = PasswordHash::new(hash).unwrap();
            for secret in ["correct horse battery", "correct horse batterz", ""] {
                let crate_says = Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(
                    verify_with(secret, Some(hash), &mut memory),
                    crate_says,
                    "{hash} / {secret:?}"
                );
                assert_eq!(crate_says, secret == "correct horse battery");
            }
        }
        assert_eq!(
            memory.as_ref().map(Memory::bytes),
            Some(Params::DEFAULT.block_count() * Block::SIZE),
            "one allocation, reused"
        );
    }

    #[test]
    fn generated_secrets_hash_fast_and_verify() {
        let secret = generate();
        let hash = hash_generated(&secret);
        assert_eq!(cost(Some(&hash)), Cost::Cheap);
        assert!(!hash.contains(&secret));
        assert!(verify(&secret, Some(&hash)));
        assert!(!verify(&generate(), Some(&hash)));
        assert!(!verify("", Some(&hash)));
    }

    #[test]
    fn unknown_ids_and_empty_hashes_never_pass() {
        assert!(!verify("stockline-dummy-secret", None));
        assert!(!verify("", Some("")));
        assert!(!verify("x", Some("not a hash")));
    }

    #[test]
    fn the_signing_key_persists_privately() {
        let dir = tempfile::tempdir().unwrap();
        let first = signing_key(None, dir.path()).unwrap();
        assert_eq!(signing_key(None, dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_short_secret_is_refused_from_any_source() {
        let dir = tempfile::tempdir().unwrap();
        assert!(signing_key(Some("short"), dir.path()).is_err());
        assert!(signing_key(Some(""), dir.path()).is_err());
        let path = dir.path().join("jwt-secret");
        for contents in ["", "\n", "only-31-bytes-of-secret-0123456"] {
            std::fs::write(&path, contents).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let error = signing_key(None, dir.path()).unwrap_err().to_string();
            assert!(error.contains("at least 32"), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        signing_key(None, dir.path()).unwrap();
        let path = dir.path().join("jwt-secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = signing_key(None, dir.path()).unwrap_err().to_string();
        assert!(error.contains("0644"), "{error}");
    }
}
