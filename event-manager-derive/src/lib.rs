//! `#[derive(MutEventSubscriber)]` and `#[derive(EventSubscriber)]` for
//! the [event-manager](https://crates.io/crates/event-manager) crate.
//!
//! Use them through event-manager's `derive` feature, which re-exports
//! them next to the traits of the same name:
//!
//! ```toml
//! [dependencies]
//! event-manager = { version = "0.5", features = ["derive"] }
//! ```
//!
//! Each macro's page, [`MutEventSubscriber`](macro@MutEventSubscriber) and
//! [`EventSubscriber`](macro@EventSubscriber), describes the attributes it
//! reads, with examples.
#![deny(missing_docs)]

mod ast;
mod attr;
mod errors;
mod expand;
mod fd;
mod flags;
mod header;
mod methods;
#[cfg(test)]
mod never_panics;
mod source;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

use crate::ast::Kind;

/// The event-manager release these docs link to: the one with this
/// crate's major and minor version, which the two crates share.
macro_rules! docs_version {
    () => {
        concat!(
            env!("CARGO_PKG_VERSION_MAJOR"),
            ".",
            env!("CARGO_PKG_VERSION_MINOR")
        )
    };
}

/// Implements `event_manager::MutEventSubscriber` from `#[event(...)]`
/// attributes, with `&mut self` handlers.
///
// The reference is shared by both macros. Its examples need event-manager,
// which this crate cannot depend on (not even as a dev-dependency: it
// depends on this crate), so they are left out when rustdoc collects this
// crate's doc tests, and tests/src/lib.rs runs them instead. Its links are
// absolute: the same text is rendered inside event_manager's docs, where
// the re-export puts it, and links relative to this crate break there.
#[cfg_attr(not(doctest), doc = include_str!("reference.md"))]
#[doc = concat!("\n\n[`Events::data`]: https://docs.rs/event-manager/", docs_version!(), "/event_manager/struct.Events.html#method.data")]
#[proc_macro_derive(MutEventSubscriber, attributes(event, subscriber))]
pub fn derive_mut_event_subscriber(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, Kind::Mut).into()
}

/// Implements `event_manager::EventSubscriber` from `#[event(...)]`
/// attributes, with `&self` handlers, for subscribers shared through `Arc`
/// or `Rc` that keep their state behind inner mutability. The examples
/// below use `MutEventSubscriber`; the attributes are the same.
///
#[cfg_attr(not(doctest), doc = include_str!("reference.md"))]
#[doc = concat!("\n\n[`Events::data`]: https://docs.rs/event-manager/", docs_version!(), "/event_manager/struct.Events.html#method.data")]
#[proc_macro_derive(EventSubscriber, attributes(event, subscriber))]
pub fn derive_event_subscriber(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, Kind::Shared).into()
}
