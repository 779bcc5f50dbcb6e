//! Authentication logic without actors: secret sources, the rate limiter, peers and proxies,
//! device signatures and the device registry, the request-forgery and Host rules, and the
//! grant-or-refuse decision (`policy`). The AuthActor (`actors::auth`) owns the state.

pub mod device;
pub mod peer;
pub mod policy;
pub mod ratelimit;
pub mod registry;
pub mod request;
pub mod secret;

/// Constant-time comparison of two secrets (length is not secret).
pub fn secret_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 32 random bytes, hex: tokens the gateway generates.
pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    random_bytes(&mut buf);
    crate::sys::hex(&buf)
}

/// Kernel randomness (getrandom(2)): no user-space RNG to initialise, so an idle gateway
/// never touches libcrypto (it is only needed to verify device signatures).
pub fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most `buf.len() - filled` bytes into the rest of `buf`.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "getrandom failed: {e}");
            continue;
        }
        filled += n as usize;
    }
}

/// Tokens are stored only as this hash.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    crate::sys::hex(&sha2::Sha256::digest(token.as_bytes()))
}
