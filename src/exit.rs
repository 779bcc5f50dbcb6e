//! Process exit codes (sysexits.h), one per root cause a service manager can act on.

/// Success.
pub const OK: i32 = 0;
/// Command-line usage error.
pub const USAGE: i32 = 64;
/// A needed resource is unavailable: the port is in use, another gateway runs on the state dir.
pub const UNAVAILABLE: i32 = 69;
/// Internal failure, or the supervisor gave up after its restart budget.
pub const SOFTWARE: i32 = 70;
/// The state directory or a file in it cannot be created or written.
pub const CANTCREAT: i32 = 73;
/// Invalid configuration.
pub const CONFIG: i32 = 78;
