//! Small facts about the machine and formats every layer uses: the host name, hex, the clock.

/// This machine's host name ("localhost" if the kernel will not say).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Lowercase hex of `bytes` (hashes, tokens, fingerprints).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Wall-clock milliseconds since the Unix epoch (the wire's timestamps).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(super::hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn hostname_is_not_empty() {
        assert!(!super::hostname().is_empty());
    }
}
