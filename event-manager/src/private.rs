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
