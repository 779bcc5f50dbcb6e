//! DM pairing, as upstream does it: an unknown sender gets one reply with an 8-character code
//! (1 h to live, at most 3 waiting per channel); an operator approves it
//! (`openclaw pairing approve <channel> <code>`, or the Control UI) and the sender is allowed
//! from then on. Waiting requests live in `<state>/credentials/<channel>-pairing.json`, approved
//! senders in `<channel>-allowFrom.json`: mode 0600, written atomically, under a file lock so
//! the gateway and the CLI never lose each other's change.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::{self, FILE_MODE, StateError};

/// Upstream's code alphabet: no 0/O, 1/I.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 8;
pub const TTL_MS: i64 = 3_600_000;
pub const MAX_PENDING: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub code: String,
    pub sender_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PendingFile {
    #[serde(default)]
    requests: Vec<Request>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowFile {
    #[serde(default)]
    allow_from: Vec<String>,
}

/// What asking for pairing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A new code (reply with it).
    New(String),
    /// The sender already has this code waiting (do not reply again).
    Waiting(String),
    /// Three requests are waiting already: nothing is issued.
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    #[error("{0}")]
    State(#[from] StateError),
    #[error("channel name {0:?} is not valid (lower-case letters, digits, - and _)")]
    BadChannel(String),
}

/// A fresh code from the OS's randomness (32 letters: a byte modulo 32 is unbiased).
fn code() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..CODE_LEN].iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Self {
        Self { dir: state_dir.join("credentials") }
    }

    fn file(&self, channel: &str, suffix: &str) -> Result<PathBuf, PairingError> {
        if channel.is_empty()
            || !channel.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(PairingError::BadChannel(channel.into()));
        }
        Ok(self.dir.join(format!("{channel}-{suffix}.json")))
    }

    /// Runs `f` holding the channel's lock file.
    fn locked<T>(&self, channel: &str, f: impl FnOnce() -> Result<T, PairingError>) -> Result<T, PairingError> {
        state::ensure_dir(&self.dir)?;
        let path = self.file(channel, "lock")?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| StateError::new(&path, e))?;
        // SAFETY: flock on a descriptor this function owns for the duration of the call.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(StateError::new(&path, std::io::Error::last_os_error()).into());
        }
        f()
    }

    fn read<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, PairingError> {
        match std::fs::read(path) {
            Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(StateError::new(path, e).into()),
        }
    }

    fn write<T: Serialize>(path: &Path, v: &T) -> Result<(), PairingError> {
        let bytes = serde_json::to_vec_pretty(v).expect("serializes");
        Ok(state::atomic_write(path, &bytes, FILE_MODE)?)
    }

    fn live(&self, channel: &str, now_ms: i64) -> Result<Vec<Request>, PairingError> {
        let f: PendingFile = Self::read(&self.file(channel, "pairing")?)?;
        Ok(f.requests.into_iter().filter(|r| now_ms - r.created_at_ms < TTL_MS).collect())
    }

    /// An unknown sender asks: a new code, the one it already has, or none when three wait.
    pub fn ask(&self, channel: &str, sender_id: &str, name: Option<&str>, now_ms: i64) -> Result<Asked, PairingError> {
        self.locked(channel, || {
            let mut reqs = self.live(channel, now_ms)?;
            if let Some(r) = reqs.iter().find(|r| r.sender_id == sender_id) {
                return Ok(Asked::Waiting(r.code.clone()));
            }
            if reqs.len() >= MAX_PENDING {
                return Ok(Asked::Full);
            }
            let code = code();
            reqs.push(Request {
                code: code.clone(),
                sender_id: sender_id.into(),
                sender_name: name.map(str::to_string),
                created_at_ms: now_ms,
            });
            Self::write(&self.file(channel, "pairing")?, &PendingFile { requests: reqs })?;
            Ok(Asked::New(code))
        })
    }

    /// The requests waiting on `channel`.
    pub fn pending(&self, channel: &str, now_ms: i64) -> Result<Vec<Request>, PairingError> {
        self.live(channel, now_ms)
    }

    /// Approves `code` (case-insensitive): its sender is allowed from now on. None: no such
    /// code is waiting (wrong, or expired).
    pub fn approve(&self, channel: &str, code: &str, now_ms: i64) -> Result<Option<Request>, PairingError> {
        self.answer(channel, code, now_ms, true)
    }

    /// Rejects `code`: the request goes, the sender stays unknown.
    pub fn reject(&self, channel: &str, code: &str, now_ms: i64) -> Result<Option<Request>, PairingError> {
        self.answer(channel, code, now_ms, false)
    }

    fn answer(&self, channel: &str, code: &str, now_ms: i64, allow: bool) -> Result<Option<Request>, PairingError> {
        self.locked(channel, || {
            let mut reqs = self.live(channel, now_ms)?;
            let Some(i) = reqs.iter().position(|r| r.code.eq_ignore_ascii_case(code.trim())) else { return Ok(None) };
            let req = reqs.remove(i);
            if allow {
                let path = self.file(channel, "allowFrom")?;
                let mut a: AllowFile = Self::read(&path)?;
                if !a.allow_from.contains(&req.sender_id) {
                    a.allow_from.push(req.sender_id.clone());
                    Self::write(&path, &a)?;
                }
            }
            Self::write(&self.file(channel, "pairing")?, &PendingFile { requests: reqs })?;
            Ok(Some(req))
        })
    }

    /// The senders approved on `channel`.
    pub fn allowed(&self, channel: &str) -> Result<Vec<String>, PairingError> {
        let a: AllowFile = Self::read(&self.file(channel, "allowFrom")?)?;
        Ok(a.allow_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_code_is_issued_once_per_sender_three_at_most_and_approval_allows_the_sender() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let Asked::New(code) = s.ask("discord", "u1", Some("Ann"), 0).unwrap() else { panic!("a new code") };
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(s.ask("discord", "u1", None, 10).unwrap(), Asked::Waiting(code.clone()));
        assert!(matches!(s.ask("discord", "u2", None, 10).unwrap(), Asked::New(_)));
        assert!(matches!(s.ask("discord", "u3", None, 10).unwrap(), Asked::New(_)));
        assert_eq!(s.ask("discord", "u4", None, 10).unwrap(), Asked::Full);
        assert!(matches!(s.ask("slack", "u4", None, 10).unwrap(), Asked::New(_)), "per channel");

        assert_eq!(s.approve("discord", "nope", 20).unwrap(), None);
        let r = s.approve("discord", &code.to_lowercase(), 20).unwrap().unwrap();
        assert_eq!((r.sender_id.as_str(), r.sender_name.as_deref()), ("u1", Some("Ann")));
        assert_eq!(s.allowed("discord").unwrap(), ["u1"]);
        assert_eq!(s.pending("discord", 20).unwrap().len(), 2);
        let mode = std::fs::metadata(d.path().join("credentials/discord-allowFrom.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn codes_expire_after_an_hour_and_bad_channel_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let Asked::New(code) = s.ask("slack", "u1", None, 0).unwrap() else { panic!() };
        assert_eq!(s.approve("slack", &code, TTL_MS).unwrap(), None, "expired");
        assert!(matches!(s.ask("slack", "u1", None, TTL_MS).unwrap(), Asked::New(_)), "asks again after expiry");
        assert!(matches!(s.ask("../x", "u1", None, 0), Err(PairingError::BadChannel(_))));
    }
}
