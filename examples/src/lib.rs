//! What the examples of `event-manager` share: stopping a loop on SIGINT
//! or SIGTERM through a file descriptor that the loop watches like any
//! other, non-blocking mode for fds whose wrappers lack it, and a small
//! command-line parser, so every example answers `--help` the same way.
//!
//! The examples themselves are the `[[example]]` targets of this package:
//! `cargo run --example counter` (or `device`, `remote`, `echo`); each
//! takes `--help`.
#![deny(missing_docs)]

mod command_line;
mod nonblocking;
mod stop_signals;

pub use command_line::{CommandLine, Parsed, USAGE_ERROR};
pub use nonblocking::set_nonblocking;
pub use stop_signals::{send_signal_to_self, signal_name, StopSignals};
