//! Authentication logic without actors: secret sources, the rate limiter, peers and proxies,
//! device signatures and the device registry. The AuthActor (`actors::auth`) owns the state.

pub mod device;
pub mod peer;
pub mod ratelimit;
pub mod registry;
pub mod secret;

/// Constant-time comparison of two secrets (length is not secret).
pub fn secret_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 32 random bytes, hex: tokens the gateway generates.
pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    openssl::rand::rand_bytes(&mut buf).expect("system random source");
    crate::config::load::hex(&buf)
}

/// Tokens are stored only as this hash.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    crate::config::load::hex(&sha2::Sha256::digest(token.as_bytes()))
}
