//! Small facts about the machine and formats every layer uses: the host name, hex, the clock,
//! this process's resident memory.

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

/// This process's resident set size in bytes, sampled at most once a second (no file read
/// per request: `/health` and `/metrics` both report it).
pub fn rss_bytes() -> u64 {
    static LAST: parking_lot::Mutex<(Option<std::time::Instant>, u64)> = parking_lot::Mutex::new((None, 0));
    let mut guard = LAST.lock();
    if guard.0.is_none_or(|t| t.elapsed().as_secs() >= 1) {
        *guard = (Some(std::time::Instant::now()), read_rss().unwrap_or(guard.1));
    }
    guard.1
}

fn read_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}

/// Hands the allocator's free pages back to the kernel (glibc keeps freed heap memory for
/// reuse, so a burst of connections would otherwise stay resident after they closed).
/// Returns whether anything was released; a no-op on other C libraries.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it only walks the allocator's own state.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
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
