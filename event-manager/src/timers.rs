//! The timer source (placeholder).

/// Placeholder for the timer source.
#[derive(Debug)]
pub struct Timers<T = ()> {
    _payload: std::marker::PhantomData<T>,
}
/// Placeholder for a timer's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {}
