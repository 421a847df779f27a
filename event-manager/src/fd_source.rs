//! How derived code reads the fd of a source (`fd = kick`, `fd =
//! inner.tap`, `fd = vm.exit_evt()`, each element of `fd = queues[..]`),
//! in two steps. First, inside a closure that is never called, method
//! lookup on `&&&&&&Wrap(&value)` picks, at the first autoref level where
//! one applies, the impl for the value's shape, whose method gives a
//! reader (a zero-sized type); [`reader`] makes that reader without
//! running the closure. Then the reader's `read_fd` reads the value,
//! evaluated once: a reader for a mistake (an `Option` of a type that only
//! derefs to an fd, a collection, a lock, anything else) has a bound the
//! value's type misses, which rustc reports at the user's whole
//! expression with a message saying what to write instead.
//!
//! The probes' method name is one no user trait is expected to have (a
//! user's trait with a method of that name and a blanket impl, in scope,
//! could be picked instead); `read_fd` is inherent, which method lookup
//! tries before any trait. Each probe trait is imported with `as _`, so
//! the user's scope gains no name.
//!
//! Not part of the public API: only the derive's generated code uses it,
//! and it changes with the derive. It is a module of its own, named for
//! what it does, because rustc's messages about a source of the wrong
//! type name its traits.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::Deref;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::{Arc, Mutex, RwLock};

/// The value being looked at, by reference.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// The reader the probe in `probe` picks, made without calling it.
#[inline(always)]
pub fn reader<R: Default>(_probe: impl FnOnce() -> R) -> R {
    R::default()
}

/// A negative number is "no fd": it is not registered.
#[inline(always)]
fn non_negative(fd: RawFd) -> Option<RawFd> {
    (fd >= 0).then_some(fd)
}

/// `T: AsRawFd` (including `Box<T>`, `Arc<T>`, `Rc<T>` of a sized `T`).
pub trait DirectFd {
    fn __event_manager_fd(&self) -> ReadDirect;
}
impl<T: AsRawFd + ?Sized> DirectFd for &&&&&&Wrap<'_, T> {
    fn __event_manager_fd(&self) -> ReadDirect {
        ReadDirect
    }
}
#[derive(Default)]
pub struct ReadDirect;
impl ReadDirect {
    #[inline(always)]
    pub fn read_fd<T: AsRawFd + ?Sized>(self, value: &T) -> Option<RawFd> {
        non_negative(value.as_raw_fd())
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
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        non_negative((**self).as_raw_fd())
    }
}
impl<T: AsRawFd + ?Sized> Outer for Box<T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        non_negative((**self).as_raw_fd())
    }
}
impl Outer for RawFd {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        non_negative(*self)
    }
}
impl<T: AsRawFd + ?Sized> Outer for std::sync::MutexGuard<'_, T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        non_negative((**self).as_raw_fd())
    }
}
impl<T: AsRawFd + ?Sized> Outer for std::sync::RwLockReadGuard<'_, T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        non_negative((**self).as_raw_fd())
    }
}
impl<T: AsRawFd + ?Sized> Outer for std::cell::Ref<'_, T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        non_negative((**self).as_raw_fd())
    }
}
impl<T: AsRawFd> Outer for Option<T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        self.as_ref()
            .and_then(|source| non_negative(source.as_raw_fd()))
    }
}
pub trait OuterFd {
    fn __event_manager_fd(&self) -> ReadOuter;
}
impl<T: Outer + ?Sized> OuterFd for &&&&&Wrap<'_, T> {
    fn __event_manager_fd(&self) -> ReadOuter {
        ReadOuter
    }
}
#[derive(Default)]
pub struct ReadOuter;
impl ReadOuter {
    #[inline(always)]
    pub fn read_fd<T: Outer + ?Sized>(self, value: &T) -> Option<RawFd> {
        value.raw()
    }
}

/// The values of the third probe, the same way: `Option<&T>` as a
/// method returns it, `Option<Box<dyn Trait>>`, and `&Option<T>`.
pub trait Inner {
    fn raw(&self) -> Option<RawFd>;
}
impl<T: AsRawFd + ?Sized> Inner for Option<&T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        self.and_then(|source| non_negative(source.as_raw_fd()))
    }
}
impl<T: AsRawFd + ?Sized> Inner for Option<Box<T>> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        self.as_deref()
            .and_then(|source| non_negative(source.as_raw_fd()))
    }
}
impl<T: AsRawFd> Inner for &Option<T> {
    #[inline(always)]
    fn raw(&self) -> Option<RawFd> {
        self.as_ref()
            .and_then(|source| non_negative(source.as_raw_fd()))
    }
}
pub trait InnerFd {
    fn __event_manager_fd(&self) -> ReadInner;
}
impl<T: Inner + ?Sized> InnerFd for &&&&Wrap<'_, T> {
    fn __event_manager_fd(&self) -> ReadInner {
        ReadInner
    }
}
#[derive(Default)]
pub struct ReadInner;
impl ReadInner {
    #[inline(always)]
    pub fn read_fd<T: Inner + ?Sized>(self, value: &T) -> Option<RawFd> {
        value.raw()
    }
}

/// `Option<T>` where `T` only derefs to an fd (`Option<EventFdTrigger>`).
pub trait DerefHint {
    fn __event_manager_fd(&self) -> SuggestAsDeref;
}
impl<T> DerefHint for &&&Wrap<'_, Option<T>>
where
    T: Deref,
    T::Target: AsRawFd,
{
    fn __event_manager_fd(&self) -> SuggestAsDeref {
        SuggestAsDeref
    }
}
#[derive(Default)]
pub struct SuggestAsDeref;
impl SuggestAsDeref {
    pub fn read_fd<T: ?Sized + AddAsDeref>(self, _value: &T) -> Option<RawFd> {
        None
    }
}
#[diagnostic::on_unimplemented(
    message = "`{Self}` holds a value that derefs to an fd, but is not an fd source",
    label = "add `.as_deref()` at the end of this `fd = ...` path",
    note = "`Option<T>` is an fd source when `T` implements `AsRawFd`; `.as_deref()` \
            gives an `Option` of what `T` derefs to"
)]
pub trait AddAsDeref {}

/// A collection named where one fd is expected (`fd = queue_evts`).
pub trait CollectionHint {
    fn __event_manager_fd(&self) -> SuggestIndex;
}
macro_rules! collection_hint {
    ($([$($generics:tt)*] $collection:ty;)*) => {$(
        impl<$($generics)*> CollectionHint for &&Wrap<'_, $collection> {
            fn __event_manager_fd(&self) -> SuggestIndex {
                SuggestIndex
            }
        }
    )*};
}
collection_hint! {
    [T] Vec<T>;
    [T] VecDeque<T>;
    [T, const N: usize] [T; N];
    [T] [T];
    [T] Box<[T]>;
    [T] Box<Vec<T>>;
    [T] Arc<[T]>;
    [T] Arc<Vec<T>>;
    [T] Rc<[T]>;
    [T] Rc<Vec<T>>;
    ['a, T] &'a Vec<T>;
    ['a, T] &'a VecDeque<T>;
    ['a, T] &'a [T];
    ['a, T, const N: usize] &'a [T; N];
}
#[derive(Default)]
pub struct SuggestIndex;
impl SuggestIndex {
    pub fn read_fd<T: ?Sized + IndexTheCollection>(self, _value: &T) -> Option<RawFd> {
        None
    }
}
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a collection of fds, not one fd",
    label = "write `[..]` after this to watch every element, or `[index]` for one",
    note = "`fd = queues[..]` watches each element and gives its handler the index"
)]
pub trait IndexTheCollection {}

/// An fd behind a lock (`fd = serial` of an `Arc<Mutex<Serial>>`).
pub trait LockHint {
    fn __event_manager_fd(&self) -> SuggestLock;
}
macro_rules! lock_hint {
    ($($lock:ty),*) => {$(
        impl<T: ?Sized> LockHint for &Wrap<'_, $lock> {
            fn __event_manager_fd(&self) -> SuggestLock {
                SuggestLock
            }
        }
    )*};
}
lock_hint!(
    Mutex<T>,
    RwLock<T>,
    RefCell<T>,
    Arc<Mutex<T>>,
    Arc<RwLock<T>>,
    Rc<RefCell<T>>
);
#[derive(Default)]
pub struct SuggestLock;
impl SuggestLock {
    pub fn read_fd<T: ?Sized + TakeTheLock>(self, _value: &T) -> Option<RawFd> {
        None
    }
}
#[diagnostic::on_unimplemented(
    message = "`{Self}` keeps its fd behind a lock",
    label = "write a path that takes the lock: add `.lock().unwrap()` (`.read().unwrap()` \
             for an `RwLock`, `.borrow()` for a `RefCell`), and then the field that holds \
             the fd if the fd is not the locked value itself",
    note = "the generated code takes the lock each time it reads the fd: in `init` and \
            in the generated methods, which must not be called while the lock is held"
)]
pub trait TakeTheLock {}

/// Any other type: picked last.
pub trait NotAnFd {
    fn __event_manager_fd(&self) -> NotAnFdReader;
}
impl<T: ?Sized> NotAnFd for Wrap<'_, T> {
    fn __event_manager_fd(&self) -> NotAnFdReader {
        NotAnFdReader
    }
}
#[derive(Default)]
pub struct NotAnFdReader;
impl NotAnFdReader {
    pub fn read_fd<T: ?Sized + IsFdSource>(self, _value: &T) -> Option<RawFd> {
        None
    }
}
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an fd source",
    label = "this value is not an fd",
    note = "an `#[event(fd = ...)]` expression gives a type that implements `AsRawFd`, \
            a reference to one, a `Box<dyn Trait>` of a trait with `AsRawFd` as supertrait, \
            an `Option` of any of these, or a `RawFd`"
)]
pub trait IsFdSource {}
