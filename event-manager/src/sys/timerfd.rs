//! A non-blocking monotonic timerfd (placeholder: filled by the timer
//! source's change).
