//! The bridge inside a sandbox (`openclaw sandbox bridge`): listens on the sandbox's own
//! loopback and carries each connection to the egress proxy's Unix socket, then runs the
//! command with the proxy variables set and exits with its status.

use std::ffi::OsString;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Runs `command` with `HTTP_PROXY` and friends pointing at `127.0.0.1:port`, bridged to
/// `socket`. Returns the command's exit code (128 + signal when killed).
pub fn run(socket: &Path, port: u16, command: &[OsString]) -> io::Result<i32> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let socket = socket.to_path_buf();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let socket = socket.clone();
            std::thread::spawn(move || carry(conn, &socket));
        }
    });
    let (program, rest) = command.split_first().ok_or_else(|| io::Error::other("no command to run"))?;
    let proxy = format!("http://127.0.0.1:{port}");
    let status = std::process::Command::new(program)
        .args(rest)
        .envs(["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"].map(|k| (k, &proxy)))
        .envs([("NO_PROXY", ""), ("no_proxy", "")])
        .status()?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// Copies both ways between a sandbox connection and the proxy socket until both ends close.
fn carry(tcp: TcpStream, socket: &PathBuf) {
    let Ok(unix) = UnixStream::connect(socket) else { return };
    let (Ok(mut tcp_r), Ok(mut unix_r)) = (tcp.try_clone(), unix.try_clone()) else { return };
    let (mut tcp_w, mut unix_w) = (tcp, unix);
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut unix_r, &mut tcp_w);
    let _ = tcp_w.shutdown(Shutdown::Write);
    let _ = up.join();
}
