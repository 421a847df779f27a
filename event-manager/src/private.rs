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

/// How a derived `init` reads the fd of a source written as an expression
/// (`fd = inner.tap`, `fd = vm.exit_evt()`): `(&&&Wrap(&value)).fd_of()`,
/// where method lookup picks, at the first autoref level where one
/// applies, the impl for the value's shape. `None` registers nothing.
/// Each trait is imported with `as _`, so the user's scope gains no name.
pub mod fd_source {
    use std::os::unix::io::{AsRawFd, RawFd};

    /// The value being looked at, by reference.
    pub struct Wrap<'a, T: ?Sized>(pub &'a T);

    /// A negative number is "no fd": it is not registered.
    fn non_negative(fd: RawFd) -> Option<RawFd> {
        (fd >= 0).then_some(fd)
    }

    /// `T: AsRawFd` (including `Box<T>`, `Arc<T>`, `Rc<T>` of a sized `T`).
    pub trait DirectFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> DirectFd for &&&Wrap<'_, T> {
        fn fd_of(&self) -> Option<RawFd> {
            non_negative(self.0.as_raw_fd())
        }
    }

    /// The values of the second probe, each with its own impl, so that a
    /// value whose type is unknown (after an earlier error) meets one
    /// candidate here instead of several:
    /// `&T` with `T: AsRawFd` (also `&dyn Trait` with `AsRawFd` as
    /// supertrait), `Box<dyn Trait>`, a bare fd number (`RawFd`, as an
    /// `as_raw_fd()` call returns it) and `Option<T>` with `T: AsRawFd`.
    pub trait Outer {
        fn raw(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> Outer for &T {
        fn raw(&self) -> Option<RawFd> {
            non_negative((**self).as_raw_fd())
        }
    }
    impl<T: AsRawFd + ?Sized> Outer for Box<T> {
        fn raw(&self) -> Option<RawFd> {
            non_negative((**self).as_raw_fd())
        }
    }
    impl Outer for RawFd {
        fn raw(&self) -> Option<RawFd> {
            non_negative(*self)
        }
    }
    impl<T: AsRawFd> Outer for Option<T> {
        fn raw(&self) -> Option<RawFd> {
            self.as_ref()
                .and_then(|source| non_negative(source.as_raw_fd()))
        }
    }
    pub trait OuterFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: Outer + ?Sized> OuterFd for &&Wrap<'_, T> {
        fn fd_of(&self) -> Option<RawFd> {
            self.0.raw()
        }
    }

    /// The values of the third probe, the same way: `Option<&T>` as a
    /// method returns it, `Option<Box<dyn Trait>>`, and `&Option<T>`.
    pub trait Inner {
        fn raw(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> Inner for Option<&T> {
        fn raw(&self) -> Option<RawFd> {
            self.and_then(|source| non_negative(source.as_raw_fd()))
        }
    }
    impl<T: AsRawFd + ?Sized> Inner for Option<Box<T>> {
        fn raw(&self) -> Option<RawFd> {
            self.as_deref()
                .and_then(|source| non_negative(source.as_raw_fd()))
        }
    }
    impl<T: AsRawFd> Inner for &Option<T> {
        fn raw(&self) -> Option<RawFd> {
            self.as_ref()
                .and_then(|source| non_negative(source.as_raw_fd()))
        }
    }
    pub trait InnerFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: Inner + ?Sized> InnerFd for &Wrap<'_, T> {
        fn fd_of(&self) -> Option<RawFd> {
            self.0.raw()
        }
    }

    /// Any other type: picked last, and its bound fails with a message
    /// that names the type.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not an fd source",
        label = "this value is not an fd",
        note = "an `#[event(fd = ...)]` expression gives a type that implements `AsRawFd`, \
                a reference to one, a `Box<dyn Trait>` of a trait with `AsRawFd` as supertrait, \
                an `Option` of any of these, or a `RawFd`"
    )]
    pub trait IsFdSource {}

    pub trait NotAnFd {
        type Value: ?Sized;
        fn fd_of(&self) -> Option<RawFd>
        where
            Self::Value: IsFdSource;
    }
    impl<T: ?Sized> NotAnFd for Wrap<'_, T> {
        type Value = T;
        fn fd_of(&self) -> Option<RawFd>
        where
            T: IsFdSource,
        {
            None
        }
    }
}

/// A field's fd as a derived `init` reads it: a negative number (an
/// `AsRawFd` type that holds no fd, say a rate limiter without a timer)
/// is "no fd", and nothing is registered.
#[inline(always)]
pub fn field_fd(fd: std::os::unix::io::RawFd) -> Option<std::os::unix::io::RawFd> {
    (fd >= 0).then_some(fd)
}

/// What a derived `attach_<name>` returns when its source holds no fd
/// (`None`, or a negative number): the error epoll gives for a negative fd.
#[cold]
pub fn no_fd() -> Error {
    Error::Epoll(vmm_sys_util::errno::Error::new(libc::EBADF))
}

/// What a derived `detach_<name>` or `set_<name>_interest` returns when its
/// source holds no fd: there is nothing registered to change.
#[cold]
pub fn not_registered() -> Error {
    Error::FdNotRegistered
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
/// hand registrations stay below [`DERIVED_DATA`].
#[inline]
pub fn reserve(ops: &mut crate::EventOps<'_>) {
    ops.reserve_derived_data();
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
/// in this order and each only if the method uses it, the `Events` and the
/// `EventOps`; returning whether the event goes on to its handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `before` hook",
    label = "this method's parameters or return type do not fit `before`",
    note = "`before` takes `&mut self` (`&self` for `EventSubscriber`), then, in this order and \
            only those it uses, `events: Events` and `ops: &mut EventOps`, and returns `bool`: \
            `false` skips the event"
)]
pub trait Before<Receiver, Params> {
    /// Calls the method with the parameters it takes.
    fn call(self, receiver: Receiver, events: crate::Events, ops: &mut crate::EventOps<'_>)
        -> bool;
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

macro_rules! hook_impls {
    ($trait:ident -> $output:ty { $(($($param:ident),*) => |$events:ident, $ops:ident| ($($argument:ident),*);)* }) => {$(
        impl<Receiver, Method> $trait<Receiver, ($(params::$param,)*)> for Method
        where
            Method: FnOnce(Receiver $(, handler_impls!(@type $param))*) -> $output,
        {
            #[inline(always)]
            #[allow(unused_variables)]
            fn call(
                self,
                receiver: Receiver,
                $events: crate::Events,
                $ops: &mut crate::EventOps<'_>,
            ) -> $output {
                self(receiver $(, $argument)*)
            }
        }
    )*};
}

hook_impls! {
    Before -> bool {
        () => |events, ops| ();
        (Events) => |events, ops| (events);
        (Ops) => |events, ops| (ops);
        (Events, Ops) => |events, ops| (events, ops);
    }
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
