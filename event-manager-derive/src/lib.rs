//! `#[derive(MutEventSubscriber)]` and `#[derive(EventSubscriber)]` for the
//! [`event-manager`](https://docs.rs/event-manager) crate.
//!
//! Use them through the runtime crate's `derive` feature, which re-exports
//! them next to the traits of the same name:
//!
//! ```toml
//! [dependencies]
//! event-manager = { version = "0.5", features = ["derive"] }
//! ```
//!
//! A subscriber that watches several fds usually registers each one in
//! `init` with its own data tag, and in `process` matches on the tag to call
//! one method per fd. The derive writes both methods from one attribute per
//! fd:
//!
//! ```
//! use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
//! use std::os::unix::net::UnixStream;
//! use vmm_sys_util::eventfd::EventFd;
//!
//! #[derive(MutEventSubscriber)]
//! #[event(fd = kick, handler = on_kick)]
//! #[event(fd = conn, set = "IN | EDGE_TRIGGERED")]
//! struct Device {
//!     kick: EventFd,
//!     conn: Option<UnixStream>,
//!     kicks: u64,
//! }
//!
//! impl Device {
//!     fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {
//!         self.kicks += self.kick.read().unwrap();
//!     }
//!
//!     fn on_conn(&mut self, _events: Events, _ops: &mut EventOps) {
//!         // Read from `self.conn` until it would block.
//!     }
//! }
//!
//! let mut manager = EventManager::new().unwrap();
//! let device = Device { kick: EventFd::new(0).unwrap(), conn: None, kicks: 0 };
//! let id = manager.add_subscriber(device);
//! manager.subscriber_mut(id).unwrap().kick.write(2).unwrap();
//! assert_eq!(manager.run().unwrap(), 1);
//! assert_eq!(manager.subscriber_mut(id).unwrap().kicks, 2);
//! ```
//!
//! # `#[event(...)]`
//!
//! On the struct, one per fd to watch; at least one.
//!
//! - `fd = field` (required): the field that holds the fd, by name, or by
//!   index in a tuple struct (`fd = 0`). Its type implements `AsRawFd`, or
//!   is written `Option<T>` with `T: AsRawFd`; a `None` registers nothing.
//!   The derive recognizes `Option` by how the type is written, so a type
//!   alias of `Option` is taken for an fd type.
//! - `set = "..."` (default `"IN"`): the interest, as `EventSet` constant
//!   names joined by `|`: `IN`, `OUT`, `ERROR`, `READ_HANG_UP`, `HANG_UP`,
//!   `EDGE_TRIGGERED`, `ONE_SHOT`, `PRIORITY`, `WAKE_UP`, `EXCLUSIVE`. The
//!   names are checked at compile time, as is the kernel's rule that
//!   `EXCLUSIVE` goes only with `IN`, `OUT`, `ERROR`, `HANG_UP`,
//!   `EDGE_TRIGGERED` and `WAKE_UP`.
//! - `handler = method` (default `on_<field>`, with the field's leading
//!   underscores and `r#` left out: `_kick` and `r#kick` give `on_kick`;
//!   required for tuple fields):
//!   the method that receives this fd's events, of type
//!   `fn(&mut self, Events, &mut EventOps)`, or `fn(&self, Events, &mut
//!   EventOps)` under `#[derive(EventSubscriber)]`. `ERROR` and `HANG_UP`
//!   events of the fd reach the same method.
//!
//! # `#[subscriber(...)]`
//!
//! On the struct, optional, every key optional; the keys may be spread
//! over several `#[subscriber]` attributes.
//!
//! - `init = method`: `fn(&mut self, &mut EventOps)`, called at the end of
//!   `init`, after the fields' registrations, to add fds by hand.
//! - `fallback = method`: `fn(&mut self, Events, &mut EventOps)`, receives
//!   the events whose data tag is not one of the derive's (fds added by
//!   hand with other tags). Without it such events are ignored.
//! - `init_error = method`: `fn(&mut self, field: &'static str, error:
//!   event_manager::Error)`, called when registering a field fails (for
//!   example because another subscriber already watches the fd). Without
//!   it, `init` panics with a message that names the type, the field and
//!   the error, and `add_subscriber` passes the panic on.
//! - `crate = path` (default `::event_manager`): where the runtime crate
//!   is, for crates that re-export it under another path. A string holding
//!   the path works too.
//!
//! Under `#[derive(EventSubscriber)]` the methods take `&self` instead of
//! `&mut self`.
//!
//! # Data tags
//!
//! The `#[event]` attributes get the data tags `0`, `1`, `2`, ... in the
//! order they are written, and `process` dispatches with a `match` on
//! [`Events::data`](https://docs.rs/event-manager/latest/event_manager/struct.Events.html#method.data).
//! A handler that changes its fd's interest keeps the tag by passing
//! `events.data()` on:
//!
//! ```
//! # use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
//! # use std::os::unix::net::UnixStream;
//! # #[derive(MutEventSubscriber)]
//! # #[event(fd = conn)]
//! # struct Connection { conn: UnixStream }
//! # impl Connection {
//! fn on_conn(&mut self, events: Events, ops: &mut EventOps) {
//!     // ... a reply is queued: wait until the socket is writable.
//!     ops.modify(Events::with_data(&self.conn, events.data(), EventSet::OUT))
//!         .expect("change the interest of a registered fd");
//! }
//! # }
//! ```
//!
//! An fd added later from a handler (an `Option` field that became `Some`)
//! is registered the same way, with its attribute's position as the tag.
//! Fds added by hand for the `fallback` method should use tags from the
//! number of `#[event]` attributes upwards.
//!
//! # Generics
//!
//! The impl has the struct's generics and where-clause and nothing more.
//! Bounds that the handlers' `impl` block needs (`S: AsRawFd + Read`) go on
//! the struct.
//!
//! # Mistakes
//!
//! Mistakes are compile errors at the attribute, key, value or field that
//! is wrong, all of them in one pass. A field whose type is not an fd, a
//! handler that does not exist or has another signature, are reported by
//! rustc at the `fd = ...` or `handler = ...` value.
#![deny(missing_docs)]

mod ast;
mod attr;
mod expand;
#[cfg(test)]
mod never_panics;
mod valid;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

use crate::ast::Kind;

/// Implements `event_manager::MutEventSubscriber` from `#[event(...)]`
/// attributes, with `&mut self` handlers. See the [crate docs](crate).
#[proc_macro_derive(MutEventSubscriber, attributes(event, subscriber))]
pub fn derive_mut_event_subscriber(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, Kind::Mut).into()
}

/// Implements `event_manager::EventSubscriber` from `#[event(...)]`
/// attributes, with `&self` handlers, for subscribers shared through `Arc`
/// or `Rc` that keep their state behind inner mutability. See the [crate
/// docs](crate).
#[proc_macro_derive(EventSubscriber, attributes(event, subscriber))]
pub fn derive_event_subscriber(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, Kind::Shared).into()
}
