//! The loops, shapes and report of the peer comparison, shared by the
//! comparison itself (`src/main.rs`) and the instruction-count driver
//! (`src/bin/instructions.rs`).

pub mod churn;
pub mod dispatch;
pub mod endpoint;
pub mod fds;
pub mod measure;
pub mod memory;
pub mod report;
pub mod timers;
