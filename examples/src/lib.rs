//! What the examples of `event-manager` share: a small command-line
//! parser, so that every example answers `--help` the same way and
//! reports a bad command line with its usage.
//!
//! Everything else an example needs (SIGINT and SIGTERM through an fd,
//! timers, stopping the loop) comes from `event-manager` itself: this
//! crate makes no system call of its own, and the lint below keeps it so.
//!
//! The examples themselves are the `[[example]]` targets of this package:
//! `cargo run --example counter` (or `device`, `remote`, `echo`, `nested`); each
//! takes `--help`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod command_line;

pub use command_line::{CommandLine, Parsed, USAGE_ERROR};
