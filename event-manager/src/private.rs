//! Support for the code that `event-manager-derive` generates. Not part of
//! the public API: only the derive calls it, and it may change in any
//! release.

use crate::Error;

/// What a derived `init` does when registering a field fails and the type
/// has no `init_error` method: panics, naming the type, the field and the
/// error. `add_subscriber` passes the panic on to its caller.
#[cold]
#[inline(never)]
#[track_caller]
pub fn registration_failed<T: ?Sized>(field: &str, error: Error) -> ! {
    panic!(
        "{}: cannot register the fd of field `{}` with the event manager: {} \
         (add `#[subscriber(init_error = method)]` to handle this)",
        core::any::type_name::<T>(),
        field,
        error
    )
}

/// What a derived `init` does with `#[subscriber(init_error = "log")]`
/// when registering a field fails: logs it as an error, naming the type,
/// the field and the error, and goes on; the subscriber runs without that
/// fd. `Feature` is `()`, which implements [`LogFeature`] only when this
/// crate's `log` feature is on, so that forgetting the feature is a
/// compile error that says so, at the user's `"log"`.
#[cold]
#[inline(never)]
pub fn registration_failed_log<T: ?Sized, Feature: LogFeature>(field: &str, error: Error) {
    #[cfg(feature = "log")]
    log::error!(
        "{}: cannot register the fd of field `{}` with the event manager: {}; \
         the subscriber goes on without it",
        core::any::type_name::<T>(),
        field,
        error
    );
    #[cfg(not(feature = "log"))]
    let _ = (field, error);
}

/// Implemented by `()` when the `log` feature is on.
#[diagnostic::on_unimplemented(
    message = "`init_error = \"log\"` needs the `log` feature of event-manager",
    label = "logs through the `log` crate, which event-manager uses only with its `log` feature",
    note = "turn it on: `event-manager = {{ version = \"0.5\", features = [\"derive\", \"log\"] }}`"
)]
pub trait LogFeature {}

#[cfg(feature = "log")]
impl LogFeature for () {}

/// How derived code reads a source's fd: see the module's own docs.
pub use crate::fd_source;

/// What a derived `attach_<name>`, `detach_<name>` or
/// `set_<name>_interest` returns when its source holds no fd (`None`, a
/// negative number, an index with no element).
#[cold]
pub fn no_fd() -> Error {
    Error::NoFd
}

pub use crate::registry::DERIVED_DATA;

/// Bits of a derived data tag that hold a collection element's index;
/// the 7 bits above them hold the `#[event]`'s position.
pub const INDEX_BITS: u32 = 24;

/// The data tag of element `index` of the collection whose first tag is
/// `base`, or `IndexTooLarge` when the index does not fit.
#[inline]
pub fn element_tag(base: u32, index: usize) -> Result<u32, Error> {
    if index < (1 << INDEX_BITS) {
        Ok(base | index as u32)
    } else {
        Err(Error::IndexTooLarge)
    }
}

/// The first thing a derived `init` does: from then on the subscriber's
/// hand registrations stay below [`DERIVED_DATA`], and without a
/// `fallback` there are none.
#[inline]
pub fn reserve(ops: &mut crate::EventOps<'_>, has_fallback: bool) {
    ops.reserve_derived_data(has_fallback);
}

/// Checks a collection index given to a generated method before anything
/// else: [`Error::IndexTooLarge`] from 2^24 on, whatever the collection
/// holds.
#[inline]
pub fn check_index(index: usize) -> Result<(), Error> {
    if index < (1 << INDEX_BITS) {
        Ok(())
    } else {
        Err(Error::IndexTooLarge)
    }
}

/// Whether this subscriber registered `fd` with `data` (paused or not),
/// for the generated `sync_registrations`.
#[inline]
pub fn is_registered(ops: &crate::EventOps<'_>, fd: std::os::unix::io::RawFd, data: u32) -> bool {
    ops.is_registered_with(fd, data)
}

/// Keeps the first error of a series of operations that go on past
/// failures.
#[inline]
pub fn keep_first(first: &mut Result<(), Error>, result: Result<(), Error>) {
    if first.is_ok() {
        *first = result;
    }
}

/// Registers a derived fd, with its data in the derived range.
#[inline]
pub fn add(
    ops: &mut crate::EventOps<'_>,
    fd: std::os::unix::io::RawFd,
    data: u32,
    interest: crate::EventSet,
) -> Result<(), Error> {
    ops.add_derived(crate::Events::with_data_raw(fd, data, interest))
}

/// Changes the interest of a derived fd, keeping its data.
#[inline]
pub fn modify(
    ops: &mut crate::EventOps<'_>,
    fd: std::os::unix::io::RawFd,
    data: u32,
    interest: crate::EventSet,
) -> Result<(), Error> {
    ops.modify_derived(crate::Events::with_data_raw(fd, data, interest))
}

/// Deregisters a derived fd.
#[inline]
pub fn remove(ops: &mut crate::EventOps<'_>, fd: std::os::unix::io::RawFd) -> Result<(), Error> {
    ops.remove(crate::Events::empty_raw(fd))
}

/// What `fd = name[..]` walks: the elements of a `Vec`, `VecDeque`, array
/// or slice (also behind `&`, `Box`, `Rc` or `Arc`), by index, in O(1).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a collection of fds",
    label = "`[..]` watches every element of a `Vec`, `VecDeque`, array or slice",
    note = "write `fd = name[..]` on a field of one of these types, or `fd = name[0]` for one element"
)]
pub trait Collection {
    /// The element type.
    type Element;
    /// How many elements there are now.
    fn count(&self) -> usize;
    /// The element at `index`, if there is one.
    fn element(&self, index: usize) -> Option<&Self::Element>;
}

impl<T> Collection for [T] {
    type Element = T;
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn element(&self, index: usize) -> Option<&T> {
        self.get(index)
    }
}

impl<T, const N: usize> Collection for [T; N] {
    type Element = T;
    #[inline]
    fn count(&self) -> usize {
        N
    }
    #[inline]
    fn element(&self, index: usize) -> Option<&T> {
        self.get(index)
    }
}

impl<T> Collection for Vec<T> {
    type Element = T;
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn element(&self, index: usize) -> Option<&T> {
        self.get(index)
    }
}

impl<T> Collection for std::collections::VecDeque<T> {
    type Element = T;
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }
    #[inline]
    fn element(&self, index: usize) -> Option<&T> {
        self.get(index)
    }
}

macro_rules! collection_behind {
    ($($pointer:ty),*) => {$(
        impl<C: Collection + ?Sized> Collection for $pointer {
            type Element = C::Element;
            #[inline]
            fn count(&self) -> usize {
                (**self).count()
            }
            #[inline]
            fn element(&self, index: usize) -> Option<&C::Element> {
                (**self).element(index)
            }
        }
    )*};
}
collection_behind!(&C, &mut C, Box<C>, std::rc::Rc<C>, std::sync::Arc<C>);

/// A handler's parameters after the receiver, as marker types: which of
/// `index`, `events` and `ops` it takes.
pub mod params {
    /// `index: usize`.
    pub struct Index;
    /// `events: Events`.
    pub struct Events;
    /// `ops: &mut EventOps`.
    pub struct Ops;
    /// `source`, the enum of `#[subscriber(sources = Name)]`.
    pub struct Source;
}

/// A method that can handle a derived event: `&mut self` (or `&self`),
/// then, in this order and each only if the method uses it, the element
/// index, the `Events` and the `EventOps`; returning `()` or
/// `Result<(), E>`. `Params` is inferred from the method's signature.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot handle this `#[event]`",
    label = "this method's parameters or return type do not fit a handler",
    note = "a handler takes `&mut self` (`&self` for `EventSubscriber`), then, in this order and \
            only those it uses, `index: usize`, `events: Events` and `ops: &mut EventOps`, and \
            returns `()` or `Result<(), E>` where `E: Display`"
)]
pub trait Handler<Receiver, Params> {
    /// `()` or `Result<(), E>`.
    type Output: Outcome;
    /// Calls the method with the parameters it takes.
    fn call(
        self,
        receiver: Receiver,
        index: usize,
        events: crate::Events,
        ops: &mut crate::EventOps<'_>,
    ) -> Self::Output;
}

macro_rules! handler_impls {
    ($(($($param:ident),*) => |$index:ident, $events:ident, $ops:ident| ($($argument:ident),*);)*) => {$(
        impl<Receiver, Method, Output> Handler<Receiver, ($(params::$param,)*)> for Method
        where
            Method: FnOnce(Receiver $(, handler_impls!(@type $param))*) -> Output,
            Output: Outcome,
        {
            type Output = Output;
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(
                self,
                receiver: Receiver,
                $index: usize,
                $events: crate::Events,
                $ops: &mut crate::EventOps<'_>,
            ) -> Output {
                self(receiver $(, $argument)*)
            }
        }
    )*};
    (@type Index) => { usize };
    (@type Events) => { crate::Events };
    (@type Ops) => { &mut crate::EventOps<'_> };
}

handler_impls! {
    () => |index, events, ops| ();
    (Index) => |index, events, ops| (index);
    (Events) => |index, events, ops| (events);
    (Ops) => |index, events, ops| (ops);
    (Index, Events) => |index, events, ops| (index, events);
    (Index, Ops) => |index, events, ops| (index, ops);
    (Events, Ops) => |index, events, ops| (events, ops);
    (Index, Events, Ops) => |index, events, ops| (index, events, ops);
}

/// What a handler returns: `()`, or `Result<(), E>` whose error goes to
/// `handler_error` or to [`handler_failed`].
pub trait Outcome {
    /// `Infallible` for `()`.
    type Error: core::fmt::Display;
    /// The result as a `Result`.
    fn into_result(self) -> Result<(), Self::Error>;
}

impl Outcome for () {
    type Error = core::convert::Infallible;
    #[inline(always)]
    fn into_result(self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<E: core::fmt::Display> Outcome for Result<(), E> {
    type Error = E;
    #[inline(always)]
    fn into_result(self) -> Result<(), E> {
        self
    }
}

/// What a derived `process` does with a handler's error when the type has
/// no `handler_error` method: logs it through `log` with the `log`
/// feature, and writes it to standard error without it. The subscriber
/// stays registered.
#[cold]
#[inline(never)]
pub fn handler_failed<T: ?Sized>(event: &str, index: usize, error: &dyn core::fmt::Display) {
    #[cfg(feature = "log")]
    log::error!(
        "{}: handler of `{}` (index {}) failed: {}",
        core::any::type_name::<T>(),
        event,
        index,
        error
    );
    #[cfg(not(feature = "log"))]
    eprintln!(
        "{}: handler of `{}` (index {}) failed: {}",
        core::any::type_name::<T>(),
        event,
        index,
        error
    );
}

/// A method that can be the `before` hook: `&mut self` (or `&self`), then,
/// in this order and each only if the method uses it, the source (the
/// enum of `#[subscriber(sources = Name)]`), the `Events` and the
/// `EventOps`; returning whether the event goes on to its handler.
/// `Source` is `()` for a type without `sources`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `before` hook",
    label = "this method's parameters or return type do not fit `before`",
    note = "`before` takes `&mut self` (`&self` for `EventSubscriber`), then, in this order and \
            only those it uses, `source` (the enum of `#[subscriber(sources = Name)]`, which \
            the type must declare to take it), `events: Events` and `ops: &mut EventOps`, and \
            returns `bool`: `false` skips the event"
)]
pub trait Before<Receiver, Source, Params> {
    /// Calls the method with the parameters it takes.
    fn call(
        self,
        receiver: Receiver,
        source: Source,
        events: crate::Events,
        ops: &mut crate::EventOps<'_>,
    ) -> bool;
}

macro_rules! before_impls {
    ($(($($param:ident),*) => |$source:ident, $events:ident, $ops:ident| ($($argument:ident),*);)*) => {$(
        impl<Receiver, Source, Method> Before<Receiver, Source, ($(params::$param,)*)> for Method
        where
            Method: FnOnce(Receiver $(, before_impls!(@type $param))*) -> bool,
        {
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(
                self,
                receiver: Receiver,
                $source: Source,
                $events: crate::Events,
                $ops: &mut crate::EventOps<'_>,
            ) -> bool {
                self(receiver $(, $argument)*)
            }
        }
    )*};
    (@type Source) => { Source };
    (@type Events) => { crate::Events };
    (@type Ops) => { &mut crate::EventOps<'_> };
}

before_impls! {
    () => |source, events, ops| ();
    (Source) => |source, events, ops| (source);
    (Events) => |source, events, ops| (events);
    (Ops) => |source, events, ops| (ops);
    (Source, Events) => |source, events, ops| (source, events);
    (Source, Ops) => |source, events, ops| (source, ops);
    (Events, Ops) => |source, events, ops| (events, ops);
    (Source, Events, Ops) => |source, events, ops| (source, events, ops);
}

/// A method that can be `init_error`: `&mut self` (or `&self`), the
/// source's name, the element's index if it takes it, and the `Error`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `init_error` method",
    label = "this method's parameters or return type do not fit `init_error`",
    note = "`init_error` takes `&mut self` (`&self` for `EventSubscriber`), \
            `source: &'static str`, then `index: usize` if it uses it, and \
            `error: event_manager::Error`, and returns nothing"
)]
pub trait InitError<Receiver, Params> {
    /// Calls the method with the parameters it takes.
    fn call(self, receiver: Receiver, source: &'static str, index: usize, error: Error);
}

impl<Receiver, Method> InitError<Receiver, ()> for Method
where
    Method: FnOnce(Receiver, &'static str, Error),
{
    #[inline(always)]
    fn call(self, receiver: Receiver, source: &'static str, _index: usize, error: Error) {
        self(receiver, source, error)
    }
}

impl<Receiver, Method> InitError<Receiver, (params::Index,)> for Method
where
    Method: FnOnce(Receiver, &'static str, usize, Error),
{
    #[inline(always)]
    fn call(self, receiver: Receiver, source: &'static str, index: usize, error: Error) {
        self(receiver, source, index, error)
    }
}

/// The error parameter of a `handler_error` method, as marker types.
pub mod error_params {
    /// `error: &dyn Display`.
    pub struct Shown;
    /// `error: E`, the handler's own error type.
    pub struct Owned;
    /// Any error type, for a handler that returns `()`.
    pub struct Any;
}

/// A method that can be `handler_error` for a handler that returns
/// `Output`: `&mut self` (or `&self`), the source's name, the element's
/// index, the error (as `&dyn Display`, or as the handler's own error
/// type), and the `EventOps` if it uses them. A handler that returns `()`
/// has no error, and any method fits it; `call` gets the handler's whole
/// result and calls the method on an `Err` only.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `handler_error` method",
    label = "this method's parameters or return type do not fit `handler_error`",
    note = "`handler_error` takes `&mut self` (`&self` for `EventSubscriber`), \
            `source: &'static str`, `index: usize`, then the error, as `&dyn Display` or as the \
            type the handler returns in its `Err`, then `ops: &mut EventOps` if it uses them, \
            and returns nothing"
)]
pub trait HandlerError<Output, Receiver, Params> {
    /// Calls the method if `output` is an error.
    fn call(
        self,
        receiver: Receiver,
        source: &'static str,
        index: usize,
        output: Output,
        ops: &mut crate::EventOps<'_>,
    );
}

// A handler that returns `()` has no error to pass on, but the method
// must still have the shape of a `handler_error` (the error's type is
// free: it is never called).
impl<Receiver, E, Method> HandlerError<(), Receiver, (error_params::Any, E)> for Method
where
    Method: FnOnce(Receiver, &'static str, usize, E),
{
    #[inline(always)]
    fn call(
        self,
        _receiver: Receiver,
        _source: &'static str,
        _index: usize,
        _output: (),
        _ops: &mut crate::EventOps<'_>,
    ) {
    }
}

impl<Receiver, E, Method> HandlerError<(), Receiver, (error_params::Any, E, params::Ops)> for Method
where
    Method: for<'o, 'm> FnOnce(Receiver, &'static str, usize, E, &'o mut crate::EventOps<'m>),
{
    #[inline(always)]
    fn call(
        self,
        _receiver: Receiver,
        _source: &'static str,
        _index: usize,
        _output: (),
        _ops: &mut crate::EventOps<'_>,
    ) {
    }
}

impl<Receiver, E: core::fmt::Display, Method>
    HandlerError<Result<(), E>, Receiver, (error_params::Shown,)> for Method
where
    Method: for<'e> FnOnce(Receiver, &'static str, usize, &'e dyn core::fmt::Display),
{
    #[inline(always)]
    fn call(
        self,
        receiver: Receiver,
        source: &'static str,
        index: usize,
        output: Result<(), E>,
        _ops: &mut crate::EventOps<'_>,
    ) {
        if let Err(error) = output {
            self(receiver, source, index, &error)
        }
    }
}

impl<Receiver, E: core::fmt::Display, Method>
    HandlerError<Result<(), E>, Receiver, (error_params::Shown, params::Ops)> for Method
where
    Method: for<'e, 'o, 'm> FnOnce(
        Receiver,
        &'static str,
        usize,
        &'e dyn core::fmt::Display,
        &'o mut crate::EventOps<'m>,
    ),
{
    #[inline(always)]
    fn call(
        self,
        receiver: Receiver,
        source: &'static str,
        index: usize,
        output: Result<(), E>,
        ops: &mut crate::EventOps<'_>,
    ) {
        if let Err(error) = output {
            self(receiver, source, index, &error, ops)
        }
    }
}

impl<Receiver, E, Method> HandlerError<Result<(), E>, Receiver, (error_params::Owned,)> for Method
where
    Method: FnOnce(Receiver, &'static str, usize, E),
{
    #[inline(always)]
    fn call(
        self,
        receiver: Receiver,
        source: &'static str,
        index: usize,
        output: Result<(), E>,
        _ops: &mut crate::EventOps<'_>,
    ) {
        if let Err(error) = output {
            self(receiver, source, index, error)
        }
    }
}

impl<Receiver, E, Method> HandlerError<Result<(), E>, Receiver, (error_params::Owned, params::Ops)>
    for Method
where
    Method: for<'o, 'm> FnOnce(Receiver, &'static str, usize, E, &'o mut crate::EventOps<'m>),
{
    #[inline(always)]
    fn call(
        self,
        receiver: Receiver,
        source: &'static str,
        index: usize,
        output: Result<(), E>,
        ops: &mut crate::EventOps<'_>,
    ) {
        if let Err(error) = output {
            self(receiver, source, index, error, ops)
        }
    }
}

/// A method that can be the `after` hook: `&mut self` (or `&self`), then
/// the `EventOps` if it uses them; returning nothing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `after` hook",
    label = "this method's parameters or return type do not fit `after`",
    note = "`after` takes `&mut self` (`&self` for `EventSubscriber`), then `ops: &mut EventOps` \
            if it uses them, and returns nothing"
)]
pub trait After<Receiver, Params> {
    /// Calls the method with the parameters it takes.
    fn call(self, receiver: Receiver, ops: &mut crate::EventOps<'_>);
}

macro_rules! after_impls {
    ($(($($param:ident),*) => |$ops:ident| ($($argument:ident),*);)*) => {$(
        impl<Receiver, Method> After<Receiver, ($(params::$param,)*)> for Method
        where
            Method: FnOnce(Receiver $(, handler_impls!(@type $param))*),
        {
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(self, receiver: Receiver, $ops: &mut crate::EventOps<'_>) {
                self(receiver $(, $argument)*)
            }
        }
    )*};
}

after_impls! {
    () => |ops| ();
    (Ops) => |ops| (ops);
}
