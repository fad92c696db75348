//! End-to-end tests of the local store through the public API of the `runlog` crate.

mod append_only;
mod bad_input;
mod concurrency;
mod crash;
mod durability;
mod one_file;
mod props;
mod roundtrip;
mod util;
