//! The signal source (placeholder).

/// Placeholder for the signal source.
#[derive(Debug)]
pub struct Signals {}
/// Placeholder for a received signal.
#[derive(Debug)]
pub struct SignalInfo {}
