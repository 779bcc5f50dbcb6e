//! Lifecycle phases, mirrored to `/readyz` and to systemd through sd_notify, and the process
//! set-up around them: the allocator tuning, the descriptor limit, code pages released.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use sd_notify::NotifyState;

/// Log target of the lifecycle milestones (starting, ready, stopping, stopped): always
/// logged at info, whatever the configured level, so the journal shows every start and stop.
pub const LIFECYCLE: &str = "openclaw::lifecycle";

/// Starting -> Ready <-> Reloading -> Draining -> Stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Ready = 1,
    Reloading = 2,
    Draining = 3,
    Stopped = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Starting,
            1 => Self::Ready,
            2 => Self::Reloading,
            3 => Self::Draining,
            _ => Self::Stopped,
        }
    }

    /// Whether `/readyz` answers 200: only while serving normally (a reload keeps serving).
    pub fn is_ready(self) -> bool {
        matches!(self, Self::Ready | Self::Reloading)
    }
}

/// The phase cell behind the three handles below.
#[derive(Debug, Default)]
struct PhaseCell {
    phase: AtomicU8,
    service: AtomicBool,
}

/// Reads the phase (anyone: probes, `/health`, lanes).
#[derive(Debug, Clone)]
pub struct PhaseView(Arc<PhaseCell>);

/// Moves the phase through start, ready, draining and stopped: the supervisor's alone.
#[derive(Debug)]
pub struct PhaseWriter(Arc<PhaseCell>);

/// Moves Ready <-> Reloading and nothing else: the ConfigActor's.
#[derive(Debug)]
pub struct ReloadPhase(Arc<PhaseCell>);

/// A new phase (Starting) and its handles.
pub fn phase() -> (PhaseWriter, ReloadPhase, PhaseView) {
    let cell = Arc::new(PhaseCell::default());
    (PhaseWriter(cell.clone()), ReloadPhase(cell.clone()), PhaseView(cell))
}

impl PhaseView {
    pub fn get(&self) -> Phase {
        self.0.get()
    }
}

impl PhaseWriter {
    /// Marks this gateway as the process's service (`openclaw gateway`): from now on phase
    /// changes go to systemd. A gateway embedded in another process (a test) is not the
    /// service manager's unit, so it never speaks for the process.
    pub fn serve_as_service(&self) {
        self.0.service.store(true, Ordering::Release);
    }

    /// Whether this gateway is the process's service (see `serve_as_service`).
    pub fn is_service(&self) -> bool {
        self.0.service.load(Ordering::Acquire)
    }

    /// Moves to `next` and tells systemd.
    pub fn set(&self, next: Phase, status: &str) {
        let prev = Phase::from_u8(self.0.phase.swap(next as u8, Ordering::AcqRel));
        if prev != next {
            self.0.announce(next, status);
        }
    }
}

impl ReloadPhase {
    /// Ready -> Reloading; false (and no change) in any other phase.
    pub fn begin_reload(&self, status: &str) -> bool {
        self.0.transition(Phase::Ready, Phase::Reloading, status)
    }

    /// Reloading -> Ready, unless a shutdown began meanwhile.
    pub fn end_reload(&self, status: &str) {
        self.0.transition(Phase::Reloading, Phase::Ready, status);
    }
}

impl PhaseCell {
    fn get(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    fn transition(&self, from: Phase, to: Phase, status: &str) -> bool {
        let moved = self.phase.compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if moved {
            self.announce(to, status);
        }
        moved
    }

    fn announce(&self, phase: Phase, status: &str) {
        if self.service.load(Ordering::Acquire) {
            announce(phase, status);
        }
    }
}

/// Tells systemd about a phase change.
fn announce(phase: Phase, status: &str) {
    match phase {
        Phase::Starting | Phase::Stopped => notify(&[NotifyState::Status(status)]),
        Phase::Ready => notify(&[NotifyState::Ready, NotifyState::Status(status)]),
        Phase::Reloading => {
            let mut states = vec![NotifyState::Reloading, NotifyState::Status(status)];
            if let Ok(now) = NotifyState::monotonic_usec_now() {
                states.push(now);
            }
            notify(&states);
        }
        Phase::Draining => notify(&[NotifyState::Stopping, NotifyState::Status(status)]),
    }
}

/// The allocator setting the daemon runs with: one cached chunk per size class in glibc's
/// per-thread cache instead of seven. After a burst of connections, the cached chunks sit
/// scattered over the worker threads' heaps and pin the pages around them, which
/// `malloc_trim` cannot return (measured: 3.4 MiB kept after 10,000 connections closed;
/// 0.4 MiB with one, at the same call throughput).
pub const MALLOC_TUNABLES: &str = "glibc.malloc.tcache_count=1";

/// glibc reads its tunables only when a process starts, so the daemon re-executes itself once
/// with [`MALLOC_TUNABLES`] (same pid, arguments and descriptors) before any thread exists.
/// An operator's own `GLIBC_TUNABLES` is left alone, and after the re-execution the variable
/// is removed again, so the processes the gateway starts do not inherit it. Best effort: if
/// the exec fails the gateway runs on as it is.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const VAR: &str = "GLIBC_TUNABLES";
        const DONE: &str = "OPENCLAW_MALLOC_TUNED";
        if std::env::var_os(DONE).is_some() {
            // SAFETY: called first thing in the daemon, before any other thread exists.
            unsafe {
                std::env::remove_var(DONE);
                std::env::remove_var(VAR);
            }
            return;
        }
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let mut args = std::env::args_os();
        let Some(argv0) = args.next() else { return };
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(argv0)
            .args(args)
            .env(VAR, MALLOC_TUNABLES)
            .env(DONE, "1")
            .exec();
        eprintln!("note: running without the allocator tuning ({err})");
    }
}

/// Releases the resident pages of this binary's code: once start-up is over (much of it, CLI
/// parsing, config schema and validation, is not needed again) and after a burst of
/// connections (the paths it ran are cold again). What is needed gets faulted back from the
/// page cache. Clean file pages only; nothing is lost. Best effort (Linux 5.4+).
pub fn release_code_pages() {
    let (Ok(maps), Ok(exe)) = (std::fs::read_to_string("/proc/self/maps"), std::fs::read_link("/proc/self/exe")) else {
        return;
    };
    let exe = exe.to_string_lossy();
    for line in maps.lines().filter(|l| l.ends_with(exe.as_ref())) {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else { continue };
        // Read-only and executable file mappings: clean pages the kernel can drop.
        if perms.contains('w') {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else { continue };
        // SAFETY: advice on our own read-only file mapping; MADV_PAGEOUT changes no contents.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
    }
}

/// Raises the open-file soft limit to the hard limit: each client connection is a file
/// descriptor, and a default soft limit of 1024 would cap the gateway far below its capacity.
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return None;
            }
        }
    }
    Some(lim.rlim_cur)
}

/// sd_notify is a no-op when NOTIFY_SOCKET is unset (outside systemd).
pub fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// The watchdog interval when systemd asked for one (`WATCHDOG_USEC`): ping at half of it.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

pub fn watchdog_ping() {
    notify(&[NotifyState::Watchdog]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_start_only_when_ready_and_never_undo_a_shutdown() {
        let (w, r, p) = phase();
        assert_eq!(p.get(), Phase::Starting);
        assert!(!r.begin_reload("x"), "no reload while starting");
        w.set(Phase::Ready, "x");
        assert!(r.begin_reload("x"));
        assert!(p.get().is_ready(), "a reload keeps serving");
        r.end_reload("x");
        assert_eq!(p.get(), Phase::Ready);
        assert!(r.begin_reload("x"));
        w.set(Phase::Draining, "x");
        r.end_reload("x");
        assert_eq!(p.get(), Phase::Draining, "a reload ending during shutdown leaves it draining");
        assert!(!p.get().is_ready());
    }
}
