//! The HTTP server's accept thread runs below the priority of the rest of the gateway: under a
//! flood of new connections, serving the clients already connected comes first.
//!
//! Measured with the hostile bench's half-open floods (ten alternating pairs): the probe's p99
//! ratio, median, fell from 1.9x to 1.4x (10,000 from one address) and from 2.3x to 1.7x (all
//! admitted). A connection waits in the kernel's backlog a little longer while the CPUs are busy.
//! Linux only (threads are found in `/proc`); elsewhere the thread keeps the workers' priority.

use std::io;

/// actix-server's accept thread as the kernel names it (`comm` keeps 15 bytes of
/// "actix-server acceptor").
const ACCEPT_THREAD: &str = "actix-server ac";
/// How far below the calling thread's priority it runs (nice values; 19 is the lowest).
pub const LOWER_BY: i32 = 10;

/// Lowers every accept thread of this process still at the calling thread's priority (a new
/// listener's; an earlier one's was lowered at its start). Returns how many it lowered.
pub fn lower() -> io::Result<usize> {
    let base = nice(0)?;
    let mut lowered = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?;
        let Ok(tid) = task.file_name().to_string_lossy().parse::<libc::id_t>() else { continue };
        // A thread may end while we look: skip it.
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else { continue };
        if comm.trim_end() != ACCEPT_THREAD || nice(tid).ok() != Some(base) {
            continue;
        }
        // SAFETY: plain system call on a thread id of this process.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, (base + LOWER_BY).min(19)) } != 0 {
            return Err(io::Error::last_os_error());
        }
        lowered += 1;
    }
    Ok(lowered)
}

/// The nice value of thread `tid` (0: the calling thread).
fn nice(tid: libc::id_t) -> io::Result<i32> {
    // -1 is a valid nice value: errno tells it from an error.
    // SAFETY: errno is thread-local; getpriority is a plain system call.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, tid);
        match io::Error::last_os_error() {
            e if n == -1 && e.raw_os_error() != Some(0) => Err(e),
            _ => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_named_as_the_accept_thread_is_lowered_once() {
        let base = nice(0).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("actix-server acceptor".into())
            .spawn(move || {
                tx.send(nice(0).unwrap()).unwrap();
                stop_rx.recv().ok();
                nice(0).unwrap()
            })
            .unwrap();
        assert_eq!(rx.recv().unwrap(), base);
        // At least this one (another test may run a server beside it).
        assert!(lower().unwrap() >= 1);
        // Already lowered: left as it is, not lowered twice.
        lower().unwrap();
        stop_tx.send(()).unwrap();
        assert_eq!(t.join().unwrap(), (base + LOWER_BY).min(19));
        assert_eq!(nice(0).unwrap(), base, "the calling thread keeps its priority");
    }
}
