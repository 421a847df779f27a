//! Compile-fail and compile-pass cases for the derive macros arrive with the derive crate.
