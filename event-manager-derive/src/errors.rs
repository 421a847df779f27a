//! The mistakes found in one derive input, collected so that all of them
//! are reported in one pass. Every stage (attr, ast, valid) adds to it;
//! it depends on none of them.

use proc_macro2::TokenStream;

/// Every mistake found so far, reported together at the end.
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// One `compile_error!` per mistake.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.first
            .map(|error| error.to_compile_error())
            .unwrap_or_default()
    }
}
