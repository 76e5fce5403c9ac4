//! The keys directory: `<principal>.key` (the Ed25519 private key's 32-byte seed, hex, mode
//! 0600) and `<principal>.pub` (its public key, hex) for each service and `admin`. `up` (and a
//! service started on its own) creates the missing pairs; in a cluster the directory is
//! mounted, each service's private key from its own secret.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::ServiceName;

/// Who can hold a key: a service, or the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    Service(ServiceName),
    Admin,
}

impl Principal {
    pub const ALL: [Principal; 6] = [
        Principal::Service(ServiceName::Order),
        Principal::Service(ServiceName::User),
        Principal::Service(ServiceName::Product),
        Principal::Service(ServiceName::Inventory),
        Principal::Service(ServiceName::Payment),
        Principal::Admin,
    ];

    /// As it appears in tokens and file names: `order-service`, ..., `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Service(s) => s.service_name(),
            Self::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A key that cannot be read, written or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a 32-byte key in hex")]
    Malformed { path: PathBuf },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_owned();
    move |source| KeyError::Io {
        action,
        path,
        source,
    }
}

fn key_path(dir: &Path, p: Principal) -> PathBuf {
    dir.join(format!("{}.key", p.name()))
}

fn pub_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pub"))
}

/// Creates the key pair of every principal that has none in `dir`. Safe to run from several
/// processes at once: a pair appears whole, and the first writer's pair is the one kept.
///
/// A principal with only its public key in `dir` has a pair elsewhere: a deployment that gives
/// each service its own private key and the others' public keys (one Kubernetes Secret per
/// service, or a read-only directory) is left as it is.
pub fn ensure_keys(dir: &Path) -> Result<(), KeyError> {
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    for p in Principal::ALL {
        let key = key_path(dir, p);
        if key.exists() || pub_path(dir, p.name()).exists() {
            continue;
        }
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let unique = format!("{}.{}", std::process::id(), rand::random::<u64>());
        let tmp_key = dir.join(format!(".{}.key.{unique}", p.name()));
        let tmp_pub = dir.join(format!(".{}.pub.{unique}", p.name()));
        write_new(&tmp_key, &hex::encode(signing.to_bytes()), 0o600)?;
        write_new(
            &tmp_pub,
            &hex::encode(signing.verifying_key().to_bytes()),
            0o644,
        )?;
        // A hard link creates the name only if it is free: the first pair wins.
        let linked = std::fs::hard_link(&tmp_key, &key);
        let _ = std::fs::remove_file(&tmp_key);
        match linked {
            Ok(()) => {
                std::fs::rename(&tmp_pub, pub_path(dir, p.name())).map_err(io("write", dir))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&tmp_pub);
            }
            Err(e) => return Err(io("write", &key)(e)),
        }
    }
    Ok(())
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeyError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io("create", path))?;
    writeln!(file, "{text}")
        .and_then(|()| file.sync_all())
        .map_err(io("write", path))
}

fn read_32(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(io("read", path))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::Malformed {
        path: path.to_owned(),
    })?;
    Ok(bytes)
}

/// The private key of `principal`, for signing its tokens.
pub fn signing_key(dir: &Path, principal: Principal) -> Result<SigningKey, KeyError> {
    read_32(&key_path(dir, principal)).map(|seed| SigningKey::from_bytes(&seed))
}

/// How often an unknown issuer makes the ring read its directory again (a key created after
/// this process started).
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// The public keys of every principal, read from the keys directory.
pub struct KeyRing {
    dir: PathBuf,
    keys: RwLock<(HashMap<String, VerifyingKey>, Instant)>,
}

impl KeyRing {
    pub fn open(dir: &Path) -> Self {
        let ring = Self {
            dir: dir.to_owned(),
            keys: RwLock::new((HashMap::new(), Instant::now())),
        };
        ring.reload();
        ring
    }

    fn reload(&self) {
        let mut keys = HashMap::new();
        for p in Principal::ALL {
            let path = pub_path(&self.dir, p.name());
            match read_32(&path).map(|b| VerifyingKey::from_bytes(&b)) {
                Ok(Ok(key)) => {
                    keys.insert(p.name().to_owned(), key);
                }
                Ok(Err(_)) => tracing::warn!(path = %path.display(), "Not an Ed25519 public key"),
                Err(KeyError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "Cannot read a public key"),
            }
        }
        let mut guard = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = (keys, Instant::now());
    }

    /// The public key of the principal named `issuer`, if it has one.
    pub fn verifying_key(&self, issuer: &str) -> Option<VerifyingKey> {
        let (found, loaded_at) = {
            let guard = self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (guard.0.get(issuer).copied(), guard.1)
        };
        if found.is_some() || Principal::parse(issuer).is_none() {
            return found;
        }
        if loaded_at.elapsed() >= RELOAD_AT_MOST_EVERY {
            self.reload();
        }
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .get(issuer)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_principal_gets_one_pair_and_a_second_run_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        ensure_keys(dir.path()).unwrap();
        let first = signing_key(dir.path(), Principal::Admin).unwrap();
        ensure_keys(dir.path()).unwrap();
        let again = signing_key(dir.path(), Principal::Admin).unwrap();
        assert_eq!(first.to_bytes(), again.to_bytes());

        let ring = KeyRing::open(dir.path());
        for p in Principal::ALL {
            let private = signing_key(dir.path(), p).unwrap();
            assert_eq!(ring.verifying_key(p.name()), Some(private.verifying_key()));
        }
        let mode = std::fs::metadata(key_path(dir.path(), Principal::Admin))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_directory_with_one_private_key_and_the_public_ones_is_left_as_it_is() {
        let made = tempfile::tempdir().unwrap();
        ensure_keys(made.path()).unwrap();
        // What one service's pod gets: its own pair, every other principal's public key.
        let pod = tempfile::tempdir().unwrap();
        let own = Principal::Service(ServiceName::Order);
        std::fs::copy(key_path(made.path(), own), key_path(pod.path(), own)).unwrap();
        for p in Principal::ALL {
            std::fs::copy(
                pub_path(made.path(), p.name()),
                pub_path(pod.path(), p.name()),
            )
            .unwrap();
        }
        let files = |dir: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            names
        };
        let before = files(pod.path());

        ensure_keys(pod.path()).unwrap();

        assert_eq!(files(pod.path()), before, "no pair was made");
        let ring = KeyRing::open(pod.path());
        for p in Principal::ALL {
            let private = signing_key(made.path(), p).unwrap();
            assert_eq!(ring.verifying_key(p.name()), Some(private.verifying_key()));
        }
        assert!(signing_key(pod.path(), Principal::Admin).is_err());
    }

    #[test]
    fn concurrent_creators_agree_on_one_pair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || ensure_keys(&path).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ring = KeyRing::open(dir.path());
        for p in Principal::ALL {
            let private = signing_key(dir.path(), p).unwrap();
            assert_eq!(ring.verifying_key(p.name()), Some(private.verifying_key()));
        }
    }
}
