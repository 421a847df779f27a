//! What the examples of `event-manager` share: stopping a loop on SIGINT
//! or SIGTERM through a file descriptor that the loop watches like any
//! other, and non-blocking mode for fds whose wrappers lack it.
//!
//! The examples themselves are the `[[example]]` targets of this package:
//! `cargo run --example counter` (or `device`, `remote`, `echo`).
#![deny(missing_docs)]

mod nonblocking;
mod stop_signals;

pub use nonblocking::set_nonblocking;
pub use stop_signals::{send_signal_to_self, signal_name, StopSignals};
