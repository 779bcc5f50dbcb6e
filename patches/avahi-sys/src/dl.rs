//! libavahi-client.so.3, opened with `dlopen` the first time it is needed rather than linked:
//! a process that never uses mDNS does not load it (nor libdbus, libsystemd, libgcrypt, liblz4,
//! libzstd and liblzma, which it pulls in), and one on a host without it gets an error it can
//! report instead of failing to start.

use std::ffi::{CStr, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The library's file name (its soname: the runtime package, not the -dev one, provides it).
pub const LIBRARY: &str = "libavahi-client.so.3";

struct Handle(*mut c_void);
// The handle is only passed to dlsym, which is thread-safe.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

static LIB: OnceLock<Result<Handle, String>> = OnceLock::new();

fn dlerror() -> String {
    let e = unsafe { libc::dlerror() };
    if e.is_null() { "unknown error".into() } else { unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned() }
}

fn handle() -> Result<*mut c_void, String> {
    LIB.get_or_init(|| {
        let name = format!("{LIBRARY}\0");
        let h = unsafe { libc::dlopen(name.as_ptr().cast(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if h.is_null() { Err(dlerror()) } else { Ok(Handle(h)) }
    })
    .as_ref()
    .map(|h| h.0)
    .map_err(Clone::clone)
}

/// Loads the library (once; later calls return the first outcome). Call it before anything
/// else of this crate: on `Err` (the loader's message, e.g. "libavahi-client.so.3: cannot open
/// shared object file"), no Avahi function may be called.
pub fn load() -> Result<(), String> {
    handle().map(|_| ())
}

/// One function's address in the library, resolved on first use.
pub struct Slot {
    name: &'static str,
    ptr: AtomicPtr<c_void>,
}

impl Slot {
    pub const fn new(name: &'static str) -> Self {
        Slot { name, ptr: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// The address; aborts the process when the library or the symbol is missing, since the
    /// caller's C signature has no way to return an error (callers check [`load`] first).
    pub fn get(&self) -> *mut c_void {
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            return p;
        }
        let found = handle().and_then(|h| {
            let p = unsafe { libc::dlsym(h, self.name.as_ptr().cast()) };
            if p.is_null() { Err(dlerror()) } else { Ok(p) }
        });
        match found {
            Ok(p) => {
                self.ptr.store(p, Ordering::Release);
                p
            }
            Err(e) => {
                let name = self.name.trim_end_matches('\0');
                eprintln!("fatal: {name} from {LIBRARY} is not available ({e}); install libavahi-client3");
                std::process::abort()
            }
        }
    }
}
