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
