fn main() {
    println!("cargo:rerun-if-changed=sqlite-vec.c");
    let include = std::env::var("DEP_SQLITE3_INCLUDE")
        .expect("libsqlite3-sys (bundled) gives the SQLite headers' directory as DEP_SQLITE3_INCLUDE");
    cc::Build::new()
        .file("sqlite-vec.c")
        .include(include)
        .define("SQLITE_CORE", None)
        // OPENCLAW PATCH: cc compiles with -fPIC, under which gcc does not inline a global
        // function (bitmap_get, in every KNN loop) in case it is interposed; nothing interposes
        // this library's functions.
        .flag_if_supported("-fno-semantic-interposition")
        // Upstream's code: its warnings under cc's -Wall -Wextra are upstream's to fix, and
        // cargo would print them on every build of a path dependency.
        .warnings(false)
        .compile("sqlite_vec0");
}
