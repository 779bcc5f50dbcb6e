//! Build script: links the `openclaw` binary with packed relative relocations (DT_RELR) when
//! the C toolchain and library support them. The binary has about 35,000 relative relocations;
//! as RELA entries they are 24 bytes each (800 KB the loader reads at every start, `--version`
//! included), as RELR a few KB. A toolchain without it (binutils < 2.38, glibc < 2.36, or a
//! cross build whose probe cannot run) links as before.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && relr_links_and_runs() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether a C program linked with `-z pack-relative-relocs` links and runs here.
fn relr_links_and_runs() -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else { return false };
    let (src, exe) = (out.join("relr-probe.c"), out.join("relr-probe"));
    // A pointer in initialised data: a relative relocation for the linker to pack.
    let probe = "static const char *p = \"x\";\nint main(void) { return p[0] != 'x'; }\n";
    if std::fs::write(&src, probe).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(cc)
        .args(["-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&exe).status().is_ok_and(|s| s.success())
}
