//! signalfd and the thread's signal mask (placeholder: filled by the
//! signal source's change).
