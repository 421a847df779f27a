//! The trybuild suite of the derive macros lives in `ui.rs` (cases in
//! `pass/` and `fail/`); this library is empty.
