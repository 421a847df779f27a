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

    /// `&T` with `T: AsRawFd`, `&dyn Trait` with `AsRawFd` as supertrait.
    pub trait RefFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> RefFd for &&Wrap<'_, &T> {
        fn fd_of(&self) -> Option<RawFd> {
            non_negative(self.0.as_raw_fd())
        }
    }

    /// `Box<dyn Trait>` with `AsRawFd` as supertrait.
    pub trait BoxFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> BoxFd for &&Wrap<'_, Box<T>> {
        fn fd_of(&self) -> Option<RawFd> {
            non_negative((**self.0).as_raw_fd())
        }
    }

    /// A bare fd number (`RawFd`), as returned by an `as_raw_fd()` call.
    pub trait NumberFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl NumberFd for &&Wrap<'_, RawFd> {
        fn fd_of(&self) -> Option<RawFd> {
            non_negative(*self.0)
        }
    }

    /// `Option<T>` with `T: AsRawFd`.
    pub trait OptionFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd> OptionFd for &&Wrap<'_, Option<T>> {
        fn fd_of(&self) -> Option<RawFd> {
            self.0
                .as_ref()
                .and_then(|source| non_negative(source.as_raw_fd()))
        }
    }

    /// `Option<&T>`, as returned by a method.
    pub trait OptionRefFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> OptionRefFd for &Wrap<'_, Option<&T>> {
        fn fd_of(&self) -> Option<RawFd> {
            self.0.and_then(|source| non_negative(source.as_raw_fd()))
        }
    }

    /// `Option<Box<dyn Trait>>`.
    pub trait OptionBoxFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd + ?Sized> OptionBoxFd for &Wrap<'_, Option<Box<T>>> {
        fn fd_of(&self) -> Option<RawFd> {
            self.0
                .as_deref()
                .and_then(|source| non_negative(source.as_raw_fd()))
        }
    }

    /// `&Option<T>`, as returned by a method.
    pub trait RefOptionFd {
        fn fd_of(&self) -> Option<RawFd>;
    }
    impl<T: AsRawFd> RefOptionFd for &Wrap<'_, &Option<T>> {
        fn fd_of(&self) -> Option<RawFd> {
            self.0
                .as_ref()
                .and_then(|source| non_negative(source.as_raw_fd()))
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
