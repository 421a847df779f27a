//! The flags of `set = "..."`: `EventSet` constant names joined by `|`,
//! checked at compile time, with a suggestion for a misspelled one and
//! the kernel's rule for `EXCLUSIVE`.

use syn::{Ident, LitStr};

use crate::errors::Errors;

/// The flags `set` accepts: the `EventSet` constants, by name.
const FLAGS: [&str; 10] = [
    "IN",
    "OUT",
    "ERROR",
    "READ_HANG_UP",
    "HANG_UP",
    "EDGE_TRIGGERED",
    "ONE_SHOT",
    "PRIORITY",
    "WAKE_UP",
    "EXCLUSIVE",
];

/// The flags the kernel accepts beside `EXCLUSIVE` (`epoll_ctl(2)`).
const EXCLUSIVE_COMPANIONS: [&str; 6] =
    ["IN", "OUT", "ERROR", "HANG_UP", "EDGE_TRIGGERED", "WAKE_UP"];

/// The kernel's names of the flags, for users who write those.
const KERNEL_NAMES: [(&str, &str); 10] = [
    ("EPOLLIN", "IN"),
    ("EPOLLOUT", "OUT"),
    ("EPOLLERR", "ERROR"),
    ("EPOLLRDHUP", "READ_HANG_UP"),
    ("EPOLLHUP", "HANG_UP"),
    ("EPOLLET", "EDGE_TRIGGERED"),
    ("EPOLLONESHOT", "ONE_SHOT"),
    ("EPOLLPRI", "PRIORITY"),
    ("EPOLLWAKEUP", "WAKE_UP"),
    ("EPOLLEXCLUSIVE", "EXCLUSIVE"),
];

/// The flag a misspelled one most likely means: another case, or the
/// kernel's `EPOLL...` name.
fn suggestion(name: &str) -> Option<&'static str> {
    FLAGS
        .iter()
        .copied()
        .find(|flag| flag.eq_ignore_ascii_case(name))
        .or_else(|| {
            KERNEL_NAMES
                .iter()
                .find(|(kernel, _)| kernel.eq_ignore_ascii_case(name))
                .map(|(_, flag)| *flag)
        })
}

/// Splits `"IN | EDGE_TRIGGERED"` into `EventSet` constant names, or
/// reports every bad flag in it.
pub(crate) fn flags(set: &LitStr, errors: &mut Errors) -> Option<Vec<Ident>> {
    let text = set.value();
    let expected = FLAGS.map(|flag| format!("`{flag}`")).join(", ");
    let fail =
        |errors: &mut Errors, message: String| errors.push(syn::Error::new(set.span(), message));
    if text.trim().is_empty() {
        fail(
            errors,
            format!("`set` names no flag, expected flags joined by `|` from {expected}"),
        );
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    let mut bad = false;
    for name in text.split('|').map(str::trim) {
        if name.is_empty() {
            fail(
                errors,
                format!("empty flag in `set = \"{text}\"`: join flags with single `|`"),
            );
        } else if !FLAGS.contains(&name) {
            let hint = suggestion(name)
                .map(|flag| format!(" (did you mean `{flag}`?)"))
                .unwrap_or_default();
            fail(
                errors,
                format!("unknown flag `{name}` in `set`{hint}, expected one of {expected}"),
            );
        } else if names.contains(&name) {
            fail(errors, format!("flag `{name}` appears twice in `set`"));
        } else {
            names.push(name);
            continue;
        }
        bad = true;
    }
    let exclusive_with = names
        .iter()
        .find(|name| !EXCLUSIVE_COMPANIONS.contains(name) && **name != "EXCLUSIVE");
    if let (true, Some(other)) = (names.contains(&"EXCLUSIVE"), exclusive_with) {
        fail(
            errors,
            format!(
                "the kernel refuses `EXCLUSIVE` together with `{other}` (EINVAL); beside `EXCLUSIVE`, \
                 `set` may hold `IN`, `OUT`, `ERROR`, `HANG_UP`, `EDGE_TRIGGERED` and `WAKE_UP`"
            ),
        );
        bad = true;
    }
    if bad {
        return None;
    }
    Some(
        names
            .into_iter()
            .map(|name| Ident::new(name, set.span()))
            .collect(),
    )
}
