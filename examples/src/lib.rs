//! Runnable examples for `event-manager` live beside this crate as `[[example]]` targets.
