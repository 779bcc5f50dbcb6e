//! The bubblewrap command line for one sandboxed command (pure: built here, run by the caller).

use std::ffi::OsString;
use std::path::Path;

use super::{BRIDGE_PORT, INSIDE_BINARY, INSIDE_DIR, INSIDE_SOCKET, Spec};

/// Files of `/etc` a command may need (certificates, users, name-service config, Debian's
/// alternatives links behind `awk`, `editor`...), read-only, when present.
const ETC: &[&str] = &[
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/localtime",
    "/etc/ld.so.cache",
];

/// What every sandbox gets: all namespaces new (the network one has only loopback), no
/// capabilities, killed with its parent, a new session (no terminal to inject into), `/usr`
/// read-only with the merged-/usr links, `/proc`, a minimal `/dev`, a private `/tmp`.
fn base(args: &mut Vec<OsString>) {
    for a in [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ] {
        args.push(a.into());
    }
    // Debian and Ubuntu merge /bin, /lib... into /usr; older layouts have real directories.
    for dir in ["/bin", "/sbin", "/lib", "/lib64", "/lib32"] {
        match std::fs::read_link(dir) {
            Ok(target) => args.extend(["--symlink".into(), target.into_os_string(), dir.into()]),
            Err(_) if Path::new(dir).is_dir() => args.extend(["--ro-bind".into(), dir.into(), dir.into()]),
            Err(_) => {}
        }
    }
}

/// The arguments of the availability probe: the same isolation, running `true`.
pub fn probe_args() -> Vec<OsString> {
    let mut args = Vec::new();
    base(&mut args);
    args.extend(["--".into(), "true".into()]);
    args
}

/// `bwrap` arguments running `command` (argv) under `spec`. With a proxy socket, the command runs
/// under this binary's bridge (`openclaw sandbox bridge`), which carries `127.0.0.1:3128` inside
/// to the socket and sets the proxy variables; `exe` is this binary on the host.
pub fn args(spec: &Spec, exe: &Path, command: &[OsString]) -> Vec<OsString> {
    let mut args = Vec::new();
    base(&mut args);
    for etc in ETC {
        args.extend(["--ro-bind-try".into(), (*etc).into(), (*etc).into()]);
    }
    let ws = spec.workspace.as_os_str().to_os_string();
    args.extend(["--bind".into(), ws.clone(), ws.clone()]);
    for b in &spec.binds {
        let flag = if b.read_only { "--ro-bind" } else { "--bind" };
        args.extend([flag.into(), b.path.clone().into_os_string(), b.path.clone().into_os_string()]);
    }
    if let Some(sock) = &spec.proxy_socket {
        args.extend(["--dir".into(), INSIDE_DIR.into()]);
        args.extend(["--ro-bind".into(), exe.into(), INSIDE_BINARY.into()]);
        args.extend(["--bind".into(), sock.into(), INSIDE_SOCKET.into()]);
    }
    // The sandbox's root (a tmpfs holding the mount points) read-only: nothing to write but
    // the workspace, the allowlisted paths and /tmp.
    args.extend(["--remount-ro".into(), "/".into()]);
    let cwd = spec.workdir.as_ref().map_or_else(|| ws.clone(), |w| w.clone().into_os_string());
    args.extend(["--chdir".into(), cwd, "--clearenv".into()]);
    let mut env: Vec<(String, OsString)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), ws),
        ("TMPDIR".into(), "/tmp".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.into())));
    for (k, v) in env {
        args.extend(["--setenv".into(), k.into(), v]);
    }
    match &spec.proxy_socket {
        Some(_) => {
            args.extend(["--".into(), INSIDE_BINARY.into(), "sandbox".into(), "bridge".into()]);
            args.extend(["--socket".into(), INSIDE_SOCKET.into(), "--port".into(), BRIDGE_PORT.to_string().into()]);
            args.push("--".into());
        }
        None => args.push("--".into()),
    }
    args.extend(command.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Bind;

    fn strs(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    /// The pairs/triples that follow each occurrence of `flag`.
    fn after(args: &[String], flag: &str, n: usize) -> Vec<Vec<String>> {
        args.iter().enumerate().filter(|(_, a)| *a == flag).map(|(i, _)| args[i + 1..=i + n].to_vec()).collect()
    }

    #[test]
    fn isolation_flags_come_first_and_the_command_last() {
        let spec = Spec { workspace: "/w".into(), workdir: None, binds: vec![], proxy_socket: None, env: vec![] };
        let a = strs(&args(&spec, Path::new("/x/openclaw"), &["sh".into(), "-c".into(), "echo hi".into()]));
        for flag in ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"] {
            assert!(a.contains(&flag.to_string()), "{flag} in {a:?}");
        }
        assert_eq!(after(&a, "--cap-drop", 1), [["ALL"]]);
        assert_eq!(after(&a, "--tmpfs", 1), [["/tmp"]]);
        let dd = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(&a[dd + 1..], ["sh", "-c", "echo hi"]);
        assert_eq!(after(&a, "--chdir", 1), [["/w"]]);
        assert!(after(&a, "--setenv", 2).contains(&vec!["HOME".to_string(), "/w".to_string()]));
        // Without a proxy there is no way out and nothing of this binary inside.
        assert!(!a.iter().any(|x| x.contains("/run/openclaw")));
    }

    #[test]
    fn only_the_workspace_and_allowlisted_paths_are_writable() {
        let spec = Spec {
            workspace: "/w".into(),
            workdir: None,
            binds: vec![Bind::parse("/data"), Bind::parse("/ref:ro")],
            proxy_socket: None,
            env: vec![],
        };
        let a = strs(&args(&spec, Path::new("/x/openclaw"), &["true".into()]));
        assert_eq!(after(&a, "--bind", 2), [["/w", "/w"], ["/data", "/data"]]);
        let ro = after(&a, "--ro-bind", 2);
        assert!(ro.contains(&vec!["/usr".to_string(), "/usr".to_string()]));
        assert!(ro.contains(&vec!["/ref".to_string(), "/ref".to_string()]));
        assert!(!ro.iter().any(|p| p[0] == "/" || p[0] == "/home" || p[0] == "/root"), "{ro:?}");
    }

    #[test]
    fn with_a_proxy_the_command_runs_under_the_bridge() {
        let spec = Spec {
            workspace: "/w".into(),
            workdir: None,
            binds: vec![],
            proxy_socket: Some("/s/egress.sock".into()),
            env: vec![],
        };
        let a = strs(&args(&spec, Path::new("/x/openclaw"), &["curl".into(), "http://a.test/".into()]));
        assert!(after(&a, "--bind", 2).contains(&vec!["/s/egress.sock".to_string(), INSIDE_SOCKET.to_string()]));
        assert!(after(&a, "--ro-bind", 2).contains(&vec!["/x/openclaw".to_string(), INSIDE_BINARY.to_string()]));
        let dd = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(
            &a[dd + 1..],
            [
                INSIDE_BINARY,
                "sandbox",
                "bridge",
                "--socket",
                INSIDE_SOCKET,
                "--port",
                "3128",
                "--",
                "curl",
                "http://a.test/"
            ]
        );
    }
}
