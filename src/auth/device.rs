//! Device identity: Ed25519 keys, device ids, the signed v1/v2 payloads (openssl).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use sha2::{Digest, Sha256};

use crate::protocol::connect::{ConnectParams, DeviceProof};

/// Allowed clock skew for `signedAt`.
pub const MAX_SKEW_MS: i64 = 10 * 60 * 1000;

/// Why a device proof is refused; the `Display` is the spec's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("device identity mismatch")]
    IdMismatch,
    #[error("device signature expired")]
    Expired,
    #[error("device nonce required")]
    NonceRequired,
    #[error("device nonce mismatch")]
    NonceMismatch,
    #[error("device signature invalid")]
    Invalid,
}

/// Raw 32-byte public key from base64url (or PEM).
pub fn raw_public_key(s: &str) -> Option<Vec<u8>> {
    if s.contains("BEGIN PUBLIC KEY") {
        let key = PKey::public_key_from_pem(s.as_bytes()).ok()?;
        return key.raw_public_key().ok();
    }
    let raw = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    (raw.len() == 32).then_some(raw)
}

/// Lowercase hex SHA-256 of the raw public key.
pub fn device_id(raw: &[u8]) -> String {
    crate::sys::hex(&Sha256::digest(raw))
}

/// The bytes a device signs: v2 includes the challenge nonce, v1 does not.
pub fn payload(p: &ConnectParams, d: &DeviceProof, token: &str, nonce: Option<&str>) -> String {
    let scopes = p.scopes.as_deref().unwrap_or_default().join(",");
    let head = format!(
        "{}|{}|{}|{}|{}|{}|{}|{token}",
        if nonce.is_some() { "v2" } else { "v1" },
        d.id,
        p.client.id,
        p.client.mode,
        p.role.as_str(),
        scopes,
        d.signed_at
    );
    match nonce {
        Some(n) => format!("{head}|{n}"),
        None => head,
    }
}

/// Checks a device proof. `local` allows the nonce-less v1 payload.
pub fn verify(
    p: &ConnectParams,
    d: &DeviceProof,
    token: &str,
    challenge: &str,
    now_ms: i64,
    local: bool,
) -> Result<(), DeviceError> {
    let raw = raw_public_key(&d.public_key).ok_or(DeviceError::IdMismatch)?;
    if device_id(&raw) != d.id.to_ascii_lowercase() {
        return Err(DeviceError::IdMismatch);
    }
    // `abs_diff`: a client's `signedAt` near the ends of i64 overflowed `now - signedAt`.
    if now_ms.abs_diff(d.signed_at) > MAX_SKEW_MS.unsigned_abs() {
        return Err(DeviceError::Expired);
    }
    let nonce = match (&d.nonce, local) {
        (Some(n), _) if n != challenge => return Err(DeviceError::NonceMismatch),
        (Some(n), _) => Some(n.as_str()),
        (None, true) => None,
        (None, false) => return Err(DeviceError::NonceRequired),
    };
    let sig = URL_SAFE_NO_PAD.decode(d.signature.trim_end_matches('=')).map_err(|_| DeviceError::Invalid)?;
    let key = PKey::public_key_from_raw_bytes(&raw, Id::ED25519).map_err(|_| DeviceError::Invalid)?;
    let msg = payload(p, d, token, nonce);
    if check(&key, msg.as_bytes(), &sig) { Ok(()) } else { Err(DeviceError::Invalid) }
}

fn check(key: &PKey<Public>, msg: &[u8], sig: &[u8]) -> bool {
    Verifier::new_without_digest(key).and_then(|mut v| v.verify_oneshot(sig, msg)).unwrap_or(false)
}

/// A device key pair (the CLI's own identity, and tests).
pub struct Identity {
    key: PKey<Private>,
}

impl Identity {
    pub fn generate() -> Self {
        Self { key: PKey::generate_ed25519().expect("ed25519 key generation") }
    }

    pub fn from_pem(pem: &str) -> Option<Self> {
        PKey::private_key_from_pem(pem.as_bytes()).ok().map(|key| Self { key })
    }

    pub fn private_pem(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8 pem")
    }

    pub fn public_raw(&self) -> Vec<u8> {
        self.key.raw_public_key().expect("raw ed25519 key")
    }

    pub fn public_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_raw())
    }

    pub fn id(&self) -> String {
        device_id(&self.public_raw())
    }

    pub fn sign(&self, msg: &[u8]) -> String {
        let mut s = Signer::new_without_digest(&self.key).expect("signer");
        URL_SAFE_NO_PAD.encode(s.sign_oneshot_to_vec(msg).expect("ed25519 sign"))
    }

    /// A signed proof for `connect`: v2 over the challenge `nonce`, v1 without one.
    pub fn prove(&self, params: &ConnectParams, token: &str, nonce: Option<&str>, signed_at: i64) -> DeviceProof {
        let mut d = DeviceProof {
            id: self.id(),
            public_key: self.public_b64(),
            signature: String::new(),
            signed_at,
            nonce: nonce.map(Into::into),
        };
        d.signature = self.sign(payload(params, &d, token, nonce).as_bytes());
        d
    }
}

impl DeviceProof {
    /// The `device` object of connect params.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "publicKey": self.public_key, "signature": self.signature,
                           "signedAt": self.signed_at, "nonce": self.nonce})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::connect::parse;
    use serde_json::json;

    fn params_with(
        id: &Identity,
        signed_at: i64,
        nonce: Option<&str>,
        token: &str,
        sign_nonce: Option<&str>,
    ) -> ConnectParams {
        let mut p = parse(&json!({"minProtocol":3,"maxProtocol":3,
            "client":{"id":"cli","version":"1","platform":"linux","mode":"cli"}, "scopes":["operator.read"]}))
        .unwrap();
        let mut d = id.prove(&p, token, sign_nonce, signed_at);
        d.nonce = nonce.map(Into::into);
        p.device = Some(d);
        p
    }

    #[test]
    fn a_valid_v2_signature_verifies() {
        let id = Identity::generate();
        let p = params_with(&id, 1000, Some("n1"), "tok", Some("n1"));
        assert_eq!(verify(&p, p.device.as_ref().unwrap(), "tok", "n1", 1000, false), Ok(()));
    }

    #[test]
    fn expired_wrong_nonce_mismatched_id_and_bad_signatures_are_refused() {
        let id = Identity::generate();
        let p = params_with(&id, 0, Some("n1"), "", Some("n1"));
        let d = p.device.clone().unwrap();
        assert_eq!(verify(&p, &d, "", "n1", MAX_SKEW_MS + 1, false), Err(DeviceError::Expired));
        assert_eq!(verify(&p, &d, "", "other", 0, false), Err(DeviceError::NonceMismatch));
        let mut wrong_id = d.clone();
        wrong_id.id = Identity::generate().id();
        assert_eq!(verify(&p, &wrong_id, "", "n1", 0, false), Err(DeviceError::IdMismatch));
        assert_eq!(verify(&p, &d, "a-token-it-did-not-sign", "n1", 0, false), Err(DeviceError::Invalid));
    }

    #[test]
    fn v1_without_nonce_only_for_local_clients() {
        let id = Identity::generate();
        let p = params_with(&id, 0, None, "", None);
        let d = p.device.clone().unwrap();
        assert_eq!(verify(&p, &d, "", "n1", 0, true), Ok(()));
        assert_eq!(verify(&p, &d, "", "n1", 0, false), Err(DeviceError::NonceRequired));
    }

    #[test]
    fn pem_public_keys_are_accepted() {
        let id = Identity::generate();
        let pem = String::from_utf8(
            PKey::public_key_from_raw_bytes(&id.public_raw(), Id::ED25519).unwrap().public_key_to_pem().unwrap(),
        )
        .unwrap();
        assert_eq!(raw_public_key(&pem).unwrap(), id.public_raw());
    }
}
