//! The `runlog` command-line tool.
fn main() {}
