//! Agent tools benchmark (placeholder until the measurements land).
fn main() {}
