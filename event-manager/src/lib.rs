//! An epoll event loop for Linux programs built around file descriptors:
//! virtual-machine monitors, device emulators, small servers.
//!
//! Each *subscriber* registers the fds it cares about; an [`EventManager`]
//! waits on epoll and calls the subscriber that owns each ready fd.
//!
//! - A subscriber implements [`MutEventSubscriber`] (`&mut self`
//!   callbacks) or [`EventSubscriber`] (`&self` callbacks, for types shared
//!   through `Arc` or `Rc`). `init` registers fds through [`EventOps`];
//!   `process` receives the ready [`Events`] and may change the interest
//!   list through the same [`EventOps`].
//! - The manager adds, removes and reaches subscribers through
//!   [`SubscriberOps`], and [`run`](EventManager::run) or
//!   [`run_with_timeout`](EventManager::run_with_timeout) waits and
//!   dispatches.
//! - With the `remote_endpoint` feature, `EventManager::remote_endpoint`
//!   gives other threads a `RemoteEndpoint` that runs closures on the loop's
//!   thread.
//!
//! The API is the one of event-manager 0.4: a program written for it builds
//! against this crate unchanged, unless it matches exhaustively on
//! [`Error`] (which gained the `FdNotRegistered` variant and is now
//! `#[non_exhaustive]`), uses the doc-hidden test helpers of 0.4, or builds
//! with a Rust older than 1.80.
//!
//! # Example
//!
//! With the `derive` feature (`event-manager = { version = "0.5", features
//! = ["derive"] }` in `Cargo.toml`), one `#[event]` attribute per fd writes
//! `init` and `process`: each fd is registered with its own data tag, and
//! its events go to its own method (`on_<field>` unless `handler = ...`
//! names another).
#![cfg_attr(
    feature = "derive",
    doc = "The [derive macro's page](macro@MutEventSubscriber) lists every key."
)]
#![cfg_attr(
    not(feature = "derive"),
    doc = "The derive macro's page, shown with the feature on, lists every key."
)]
//!
#![cfg_attr(feature = "derive", doc = "```")]
#![cfg_attr(not(feature = "derive"), doc = "```ignore")]
//! use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
//! use std::io::Read;
//! use std::os::unix::net::UnixStream;
//! use vmm_sys_util::eventfd::EventFd;
//!
//! #[derive(MutEventSubscriber)]
//! #[event(fd = doorbell)]
//! #[event(fd = socket, set = "IN | READ_HANG_UP")]
//! struct Device {
//!     doorbell: EventFd,
//!     socket: UnixStream,
//!     rings: u64,
//!     received: Vec<u8>,
//! }
//!
//! impl Device {
//!     fn on_doorbell(&mut self, _events: Events, _ops: &mut EventOps) {
//!         self.rings += self.doorbell.read().unwrap_or(0);
//!     }
//!
//!     fn on_socket(&mut self, events: Events, ops: &mut EventOps) {
//!         let mut buffer = [0; 64];
//!         match self.socket.read(&mut buffer) {
//!             Ok(0) | Err(_) => ops.remove(events).expect("deregister the socket"),
//!             Ok(read) => self.received.extend_from_slice(&buffer[..read]),
//!         }
//!     }
//! }
//!
//! let (socket, mut peer) = UnixStream::pair().unwrap();
//! let device = Device { doorbell: EventFd::new(0).unwrap(), socket, rings: 0, received: Vec::new() };
//! let mut manager = EventManager::new().expect("create the epoll instance");
//! let id = manager.add_subscriber(device);
//!
//! manager.subscriber_mut(id).unwrap().doorbell.write(1).unwrap();
//! std::io::Write::write_all(&mut peer, b"hello").unwrap();
//! assert_eq!(manager.run().unwrap(), 2);
//! let device = manager.subscriber_mut(id).unwrap();
//! assert_eq!((device.rings, &device.received[..]), (1, &b"hello"[..]));
//! ```
//!
//! The traits can be implemented by hand as well, here for a subscriber
//! that counts the writes to its eventfd and stops watching it after
//! three:
//!
//! ```
//! use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
//! use vmm_sys_util::eventfd::EventFd;
//!
//! /// Counts the writes to its eventfd and stops watching it after three.
//! struct Counter {
//!     doorbell: EventFd,
//!     count: u64,
//! }
//!
//! impl MutEventSubscriber for Counter {
//!     fn init(&mut self, ops: &mut EventOps) {
//!         ops.add(Events::new(&self.doorbell, EventSet::IN))
//!             .expect("register the doorbell");
//!     }
//!
//!     fn process(&mut self, events: Events, ops: &mut EventOps) {
//!         if events.event_set().contains(EventSet::IN) {
//!             self.count += self.doorbell.read().unwrap_or(0);
//!         }
//!         if self.count >= 3 {
//!             ops.remove(events).expect("deregister the doorbell");
//!         }
//!     }
//! }
//!
//! let mut manager = EventManager::new().expect("create the epoll instance");
//! let id = manager.add_subscriber(Counter { doorbell: EventFd::new(0).unwrap(), count: 0 });
//!
//! for _ in 0..3 {
//!     manager.subscriber_mut(id).unwrap().doorbell.write(1).unwrap();
//!     assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
//! }
//! manager.subscriber_mut(id).unwrap().doorbell.write(1).unwrap();
//! assert_eq!(manager.run_with_timeout(0).unwrap(), 0, "no longer watched");
//! assert_eq!(manager.remove_subscriber(id).unwrap().count, 3);
//! ```
//!
#![doc = include_str!("around_the_loop.md")]
//!
//! # Events a subscriber always gets
//!
//! The kernel reports `EventSet::ERROR` and `EventSet::HANG_UP` on an fd
//! whether or not they were asked for. `EventSet::READ_HANG_UP` (the peer
//! shut down its writing side) is reported when asked for, and the manager
//! asks for it on every registration that watches `EventSet::IN`, except
//! those with `EventSet::EXCLUSIVE`, which the kernel does not allow to be
//! combined with it. All three
//! reach the subscriber that owns the fd like any other event, often
//! together with `IN`, so test the set with `contains` rather than `==`. A
//! subscriber that ignores them on a level-triggered fd sees them again on
//! every `run` until it removes the fd.
//!
//! # Ownership of fds
//!
//! An fd belongs to the subscriber that added it. Adding it again, from any
//! subscriber, is [`Error::FdAlreadyRegistered`]; `modify` or `remove` from a
//! subscriber that did not add it is [`Error::FdNotRegistered`]. Removing a
//! subscriber deregisters all of its fds, and an event of a removed fd that
//! was already in the batch being dispatched is dropped, never delivered.
//!
//! # A subscriber that panics
//!
//! A panic in `process` unwinds out of `run`. The manager does not catch
//! it, but its state stays consistent: a caller that catches the panic
//! around `run` can go on using the manager. The next `run` first
//! dispatches the events of the interrupted batch that came after the one
//! that panicked (edge-triggered and one-shot events are reported by the
//! kernel only once), then waits as usual. A panic in `init` leaves the
//! subscriber out and its fds unregistered.
//!
//! ```
//! use std::panic::{catch_unwind, AssertUnwindSafe};
//! use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
//! use vmm_sys_util::eventfd::EventFd;
//!
//! struct Fragile { fd: EventFd, calls: u32 }
//!
//! impl MutEventSubscriber for Fragile {
//!     fn init(&mut self, ops: &mut EventOps) {
//!         ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
//!     }
//!     fn process(&mut self, _events: Events, _ops: &mut EventOps) {
//!         self.calls += 1;
//!         assert!(self.calls > 1, "the first event fails");
//!         self.fd.read().unwrap();
//!     }
//! }
//!
//! let mut manager = EventManager::new().unwrap();
//! let id = manager.add_subscriber(Fragile { fd: EventFd::new(0).unwrap(), calls: 0 });
//! manager.subscriber_mut(id).unwrap().fd.write(1).unwrap();
//! assert!(catch_unwind(AssertUnwindSafe(|| manager.run())).is_err());
//! // Level-triggered and still unread: the next run dispatches it again.
//! assert_eq!(manager.run().unwrap(), 1);
//! assert_eq!(manager.subscriber_mut(id).unwrap().calls, 2);
//! ```
//!
//! # Feature flags
//!
//! - `derive` (off by default): `#[derive(MutEventSubscriber)]` and
//!   `#[derive(EventSubscriber)]`, re-exported from `event-manager-derive`
//!   under the names of the traits they implement. Without it,
//!   `#[derive(MutEventSubscriber)]` fails with "cannot find derive macro
//!   `MutEventSubscriber` in this scope".
//! - `log` (off by default): `#[subscriber(init_error = "log")]` on a
//!   derived subscriber logs a failed registration through the `log` crate
//!   and goes on, instead of panicking; errors that derived handlers
//!   return go to `log::error!` instead of stderr.
//! - `remote_endpoint` (off by default): `EventManager::remote_endpoint`
//!   and `RemoteEndpoint`, and the error variants `ChannelSend`,
//!   `ChannelRecv` and `CallFromLoopThread`.
#![deny(missing_docs)]
// `unsafe` only in `sys` (system calls std and vmm-sys-util do not wrap);
// unit tests may also call libc where std has no safe way (putting an fd at
// a chosen number), each call commented.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod control;
#[cfg(feature = "remote_endpoint")]
mod endpoint;
mod error;
mod events;
#[doc(hidden)]
pub mod fd_source;
mod fd_table;
mod manager;
mod registry;
mod signals;
mod subscriber;
#[allow(unsafe_code)]
mod sys;
#[cfg(test)]
mod test_support;
mod timers;

/// The epoll event flags, re-exported from `vmm_sys_util` so that one
/// version is used by the crate and its users.
///
/// ```
/// use event_manager::EventSet;
///
/// let interest = EventSet::IN | EventSet::EDGE_TRIGGERED;
/// assert!(interest.contains(EventSet::IN));
/// ```
pub use vmm_sys_util::epoll::EventSet;

pub use control::StopHandle;
#[cfg(feature = "remote_endpoint")]
pub use endpoint::RemoteEndpoint;
pub use error::{Error, Result};
pub use events::{EventOps, Events};
pub use manager::{EventManager, MAX_READY_EVENTS_CAPACITY};
pub use signals::{SignalInfo, Signals};
pub use subscriber::{EventSubscriber, MutEventSubscriber, SubscriberId, SubscriberOps};
pub use timers::{TimerId, Timers};

#[cfg(feature = "derive")]
pub use event_manager_derive::{EventSubscriber, MutEventSubscriber};
