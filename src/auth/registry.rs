//! The device registry under `<state>/devices/`: pending pairing requests (5-minute expiry,
//! each with a 6-digit code) and paired devices with per-role tokens stored only as hashes.
//! Every change is written atomically with mode 0600.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{random_token, secret_eq, token_hash};
use crate::state::{self, FILE_MODE, StateError};

pub const PENDING_TTL_MS: i64 = 5 * 60 * 1000;
const PAIRED_FILE: &str = "paired.json";
const PENDING_FILE: &str = "pending.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// SHA-256 of the token; the token itself is never stored.
    pub hash: String,
    pub scopes: Vec<String>,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
    pub created_at_ms: i64,
    pub approved_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    pub request_id: String,
    /// 6 digits the device can display; approval by code is the guide's "6-digit PIN".
    pub code: String,
    /// What the device asked for (flattened: the JSON keeps one level).
    #[serde(flatten)]
    pub ask: PairingAsk,
    pub ts: i64,
    pub expires_at_ms: i64,
}

/// What a device asks for when it is not paired yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingAsk {
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    pub role: String,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
}

/// Why a registry change was refused or not saved. The unknown-id variants are the caller's
/// mistake; the others are the disk's.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unknown or expired pairing request: {0}")]
    UnknownRequest(String),
    #[error("unknown device: {0}")]
    UnknownDevice(String),
    #[error("device {device_id} is not paired for role {role}")]
    NotPairedForRole { device_id: String, role: String },
    #[error("device {device_id} has no token for role {role}")]
    NoToken { device_id: String, role: String },
    #[error("cannot create the devices directory {0}")]
    CreateDir(StateError),
    #[error("{0}")]
    Encode(serde_json::Error),
    #[error("cannot save the device registry: {0}")]
    Save(StateError),
}

pub struct DeviceRegistry {
    dir: PathBuf,
    pub paired: BTreeMap<String, PairedDevice>,
    pub pending: BTreeMap<String, PendingRequest>,
}

impl DeviceRegistry {
    /// Loads the registry; a corrupt file is moved aside (never silently overwritten).
    pub fn load(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            paired: read_map(&dir.join(PAIRED_FILE)),
            pending: read_map(&dir.join(PENDING_FILE)),
        }
    }

    fn save(&self) -> Result<(), RegistryError> {
        state::ensure_dir(&self.dir).map_err(RegistryError::CreateDir)?;
        write_map(&self.dir.join(PAIRED_FILE), &self.paired)?;
        write_map(&self.dir.join(PENDING_FILE), &self.pending)
    }

    /// Drops expired pending requests.
    pub fn prune(&mut self, now_ms: i64) {
        let before = self.pending.len();
        self.pending.retain(|_, p| p.expires_at_ms > now_ms);
        if self.pending.len() != before {
            let _ = self.save();
        }
    }

    /// Creates (or returns the existing) pending request for this device and role.
    pub fn request(&mut self, ask: PairingAsk, now_ms: i64) -> Result<(PendingRequest, bool), RegistryError> {
        self.prune(now_ms);
        if let Some(p) = self.pending.values().find(|p| p.ask.device_id == ask.device_id && p.ask.role == ask.role) {
            return Ok((p.clone(), false));
        }
        let req = PendingRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            code: six_digits(),
            ask,
            ts: now_ms,
            expires_at_ms: now_ms + PENDING_TTL_MS,
        };
        self.pending.insert(req.request_id.clone(), req.clone());
        self.save()?;
        Ok((req, true))
    }

    /// Finds a pending request by id or by its 6-digit code.
    pub fn find_pending(&self, id_or_code: &str) -> Option<String> {
        self.pending.values().find(|p| p.request_id == id_or_code || p.code == id_or_code).map(|p| p.request_id.clone())
    }

    /// Approves a pending request: the device becomes paired for that role.
    pub fn approve(&mut self, id_or_code: &str, now_ms: i64) -> Result<PairedDevice, RegistryError> {
        self.prune(now_ms);
        let id = self.find_pending(id_or_code).ok_or_else(|| RegistryError::UnknownRequest(id_or_code.into()))?;
        let req = self.pending.remove(&id).expect("found above").ask;
        let device = self.paired.entry(req.device_id.clone()).or_insert_with(|| PairedDevice {
            device_id: req.device_id.clone(),
            public_key: req.public_key.clone(),
            display_name: req.display_name.clone(),
            platform: req.platform.clone(),
            client_id: req.client_id.clone(),
            roles: Vec::new(),
            scopes: Vec::new(),
            tokens: BTreeMap::new(),
            created_at_ms: now_ms,
            approved_at_ms: now_ms,
            last_seen_ms: None,
        });
        device.public_key = req.public_key.clone();
        device.approved_at_ms = now_ms;
        if !device.roles.contains(&req.role) {
            device.roles.push(req.role.clone());
        }
        for s in &req.scopes {
            if !device.scopes.contains(s) {
                device.scopes.push(s.clone());
            }
        }
        let out = device.clone();
        self.save()?;
        Ok(out)
    }

    pub fn reject(&mut self, id_or_code: &str) -> Result<PendingRequest, RegistryError> {
        let id = self.find_pending(id_or_code).ok_or_else(|| RegistryError::UnknownRequest(id_or_code.into()))?;
        let req = self.pending.remove(&id).expect("found above");
        self.save()?;
        Ok(req)
    }

    /// Issues a new token for `role` (replacing any earlier one); returns it in clear once.
    pub fn issue_token(
        &mut self,
        device_id: &str,
        role: &str,
        scopes: Option<Vec<String>>,
        now_ms: i64,
    ) -> Result<(String, Vec<String>), RegistryError> {
        let device = self.paired.get_mut(device_id).ok_or_else(|| RegistryError::UnknownDevice(device_id.into()))?;
        if !device.roles.iter().any(|r| r == role) {
            return Err(RegistryError::NotPairedForRole { device_id: device_id.into(), role: role.into() });
        }
        let scopes = scopes.unwrap_or_else(|| device.scopes.clone());
        let token = random_token();
        let rotated = device.tokens.contains_key(role).then_some(now_ms);
        device.tokens.insert(
            role.to_string(),
            TokenRecord {
                hash: token_hash(&token),
                scopes: scopes.clone(),
                created_at_ms: now_ms,
                rotated_at_ms: rotated,
                revoked_at_ms: None,
                last_used_at_ms: None,
            },
        );
        self.save()?;
        Ok((token, scopes))
    }

    pub fn revoke(&mut self, device_id: &str, role: &str, now_ms: i64) -> Result<(), RegistryError> {
        let device = self.paired.get_mut(device_id).ok_or_else(|| RegistryError::UnknownDevice(device_id.into()))?;
        let rec = device
            .tokens
            .get_mut(role)
            .ok_or_else(|| RegistryError::NoToken { device_id: device_id.into(), role: role.into() })?;
        rec.revoked_at_ms = Some(now_ms);
        self.save()
    }

    /// Whether `token` is the live token of `device_id` for `role`; returns its scopes.
    pub fn check_token(&mut self, device_id: &str, role: &str, token: &str, now_ms: i64) -> Option<Vec<String>> {
        let device = self.paired.get_mut(device_id)?;
        let rec = device.tokens.get_mut(role)?;
        if rec.revoked_at_ms.is_some() || !secret_eq(&rec.hash, &token_hash(token)) {
            return None;
        }
        rec.last_used_at_ms = Some(now_ms);
        device.last_seen_ms = Some(now_ms);
        Some(rec.scopes.clone())
    }

    /// Records that a paired device connected; saved with the next change (the token issued
    /// on the same connect), not written on its own.
    pub fn seen(&mut self, device_id: &str, now_ms: i64) {
        if let Some(d) = self.paired.get_mut(device_id) {
            d.last_seen_ms = Some(now_ms);
        }
    }
}

fn six_digits() -> String {
    let mut b = [0u8; 4];
    super::random_bytes(&mut b);
    format!("{:06}", u32::from_le_bytes(b) % 1_000_000)
}

fn read_map<T: serde::de::DeserializeOwned>(path: &Path) -> BTreeMap<String, T> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            let aside = path.with_extension(format!("corrupt-{}", chrono::Utc::now().timestamp()));
            let _ = std::fs::rename(path, &aside);
            tracing::error!(path = %path.display(), moved_to = %aside.display(), error = %e, "device registry file is corrupt; moved aside, starting empty");
            BTreeMap::new()
        }
    }
}

fn write_map<T: Serialize>(path: &Path, map: &BTreeMap<String, T>) -> Result<(), RegistryError> {
    let text = serde_json::to_vec_pretty(map).map_err(RegistryError::Encode)?;
    state::atomic_write(path, &text, FILE_MODE).map_err(RegistryError::Save)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(id: &str) -> PairingAsk {
        PairingAsk {
            device_id: id.into(),
            public_key: "pk".into(),
            display_name: None,
            platform: None,
            client_id: Some("cli".into()),
            client_mode: None,
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            remote_ip: None,
        }
    }

    #[test]
    fn request_approve_issue_check_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = DeviceRegistry::load(dir.path());
        let (req, new) = r.request(ask("d1"), 0).unwrap();
        assert!(new && req.code.len() == 6);
        assert!(!r.request(ask("d1"), 1).unwrap().1, "same device reuses its pending request");
        r.approve(&req.code, 2).unwrap();
        let (tok, scopes) = r.issue_token("d1", "operator", None, 3).unwrap();
        assert_eq!(scopes, vec!["operator.read".to_string()]);
        assert!(r.check_token("d1", "operator", &tok, 4).is_some());
        assert!(r.check_token("d1", "operator", "wrong", 4).is_none());
        let on_disk = std::fs::read_to_string(dir.path().join(PAIRED_FILE)).unwrap();
        assert!(!on_disk.contains(&tok), "tokens are stored hashed");
        r.revoke("d1", "operator", 5).unwrap();
        assert!(r.check_token("d1", "operator", &tok, 6).is_none());
        // Reloaded from disk, the state is the same.
        let mut again = DeviceRegistry::load(dir.path());
        assert!(again.paired.contains_key("d1"));
        assert!(again.check_token("d1", "operator", &tok, 7).is_none());
    }

    #[test]
    fn pending_requests_expire() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = DeviceRegistry::load(dir.path());
        let (req, _) = r.request(ask("d2"), 0).unwrap();
        assert!(r.approve(&req.request_id, PENDING_TTL_MS + 1).is_err());
        let e = r.approve(&req.code, PENDING_TTL_MS + 1).unwrap_err();
        assert!(matches!(e, RegistryError::UnknownRequest(_)));
        assert_eq!(e.to_string(), format!("unknown or expired pairing request: {}", req.code));
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PAIRED_FILE), "{not json").unwrap();
        let r = DeviceRegistry::load(dir.path());
        assert!(r.paired.is_empty());
        assert!(
            std::fs::read_dir(dir.path()).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt"))
        );
    }
}
