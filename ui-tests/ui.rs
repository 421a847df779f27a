//! Compile-time behaviour of the derive: the `pass/` cases must build
//! without warnings, and each `fail/` case must fail with exactly the
//! errors in its `.stderr`. After a deliberate change to a message, run
//! `TRYBUILD=overwrite cargo test -p event-manager-ui-tests` and review the
//! new `.stderr` files before committing them.

#[test]
fn derive_pass_cases_compile() {
    trybuild::TestCases::new().pass("pass/*.rs");
}

#[test]
fn derive_mistakes_are_reported_at_the_users_tokens() {
    trybuild::TestCases::new().compile_fail("fail/*.rs");
}
