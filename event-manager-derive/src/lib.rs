//! Derive macros for `event-manager` subscribers.
//!
//! This crate is a placeholder: `#[derive(MutEventSubscriber)]` and
//! `#[derive(EventSubscriber)]` land in a later release. It exports nothing
//! yet.
#![deny(missing_docs)]
