//! The expansion of `#[derive(MutEventSubscriber)]` and
//! `#[derive(EventSubscriber)]` as plain functions on
//! `proc_macro2::TokenStream`, for the `derive_expansion` fuzz target.
//!
//! event-manager-derive is a proc-macro crate: another crate cannot link
//! its functions. Its modules take and return `proc_macro2` tokens and
//! reach each other through `crate::<module>` paths, so they compile here
//! unchanged, included under the same names. Only the derive's `lib.rs`
//! (the `proc_macro` entry points) is not included; `expand` below stands
//! in for it. A module added to the derive must be added here too.
//!
//! `#[rustfmt::skip]`: `cargo fmt` in this workspace leaves the derive's
//! files to the main workspace's `cargo fmt`.

#[rustfmt::skip]
#[path = "../../event-manager-derive/src/ast.rs"]
mod ast;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/attr.rs"]
mod attr;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/errors.rs"]
mod errors;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/expand.rs"]
mod expand;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/fd.rs"]
mod fd;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/flags.rs"]
mod flags;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/header.rs"]
mod header;

#[path = "../../event-manager-derive/src/methods.rs"]
mod methods;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/source.rs"]
mod source;
#[rustfmt::skip]
#[path = "../../event-manager-derive/src/valid.rs"]
mod valid;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::ast::Kind;

/// What `#[derive(MutEventSubscriber)]` expands `input` to.
pub fn derive_mut_event_subscriber(input: TokenStream) -> TokenStream {
    expand(input, Kind::Mut)
}

/// What `#[derive(EventSubscriber)]` expands `input` to.
pub fn derive_event_subscriber(input: TokenStream) -> TokenStream {
    expand(input, Kind::Shared)
}

/// The derive's entry points, minus the `proc_macro` conversions: input
/// that is not a struct, enum or union becomes syn's `compile_error!`, as
/// `parse_macro_input!` makes it.
fn expand(input: TokenStream, kind: Kind) -> TokenStream {
    match syn::parse2::<DeriveInput>(input) {
        Ok(input) => expand::derive(&input, kind),
        Err(error) => error.to_compile_error(),
    }
}
