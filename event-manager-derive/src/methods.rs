//! The inherent methods the derive adds for every watch:
//! `attach_<name>`, `detach_<name>` and `set_<name>_interest`, and for a
//! collection `attach_all_<name>` and `detach_all_<name>`. They let a
//! handler register, deregister or change one declared source later (an
//! `Option` that became `Some`, a device that was activated, a new
//! connection) without writing its data tag.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::DeriveInput;

use crate::expand::inherent_header;
use crate::fd::{self, local};
use crate::valid::{Plan, Watch};

pub(crate) fn source_methods(input: &DeriveInput, plan: &Plan) -> TokenStream {
    let methods = plan
        .watches
        .iter()
        .map(|watch| match fd::collection(watch) {
            None => scalar_methods(input, watch, plan),
            Some(collection) => collection_methods(input, watch, plan, &collection),
        });
    let header = inherent_header(input, plan);
    quote! {
        #[automatically_derived]
        #[allow(dead_code)]
        #header {
            #(#methods)*
        }
    }
}

fn scalar_methods(input: &DeriveInput, watch: &Watch, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let vis = &input.vis;
    let name = &watch.name;
    let part = crate::valid::method_part(name);
    let attach = format_ident!("attach_{}", part, span = name.span());
    let detach = format_ident!("detach_{}", part, span = name.span());
    let set_interest = format_ident!("set_{}_interest", part, span = name.span());
    let (ops, fd, interest) = (local("ops"), local("fd"), local("interest"));
    let tag = Literal::u32_suffixed(watch.base);
    let interest_value = fd::interest(watch, krate);
    let raw_fd = fd::scalar_fd(watch, krate);
    let source = &watch.field_name;
    let attach_doc = format!(
        "Registers `{source}` as its `#[event]` does in `init` (same data tag and \
         interest), so that its events reach `{}`. Fails like `EventOps::add`, and \
         with `Error::Epoll(EBADF)` when `{source}` holds no fd.",
        watch.handler
    );
    let detach_doc = format!(
        "Deregisters `{source}`; call it before the fd is closed or replaced. Fails \
         like `EventOps::remove`, and with `Error::FdNotRegistered` when `{source}` \
         holds no fd."
    );
    let interest_doc = format!(
        "Changes the interest of `{source}`, keeping its data tag. Fails like \
         `EventOps::modify`, and with `Error::FdNotRegistered` when `{source}` holds \
         no fd."
    );
    quote! {
        #[doc = #attach_doc]
        #vis fn #attach(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let #interest = #interest_value;
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
            match #fd {
                ::core::option::Option::Some(#fd) => {
                    #krate::__private::add(#ops, #fd, #tag, #interest)
                }
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::no_fd())
                }
            }
        }

        #[doc = #detach_doc]
        #vis fn #detach(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
            match #fd {
                ::core::option::Option::Some(#fd) => #krate::__private::remove(#ops, #fd),
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::not_registered())
                }
            }
        }

        #[doc = #interest_doc]
        #vis fn #set_interest(
            &self,
            #ops: &mut #krate::EventOps<'_>,
            #interest: #krate::EventSet,
        ) -> #krate::Result<()> {
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
            match #fd {
                ::core::option::Option::Some(#fd) => {
                    #krate::__private::modify(#ops, #fd, #tag, #interest)
                }
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::not_registered())
                }
            }
        }
    }
}

fn collection_methods(
    input: &DeriveInput,
    watch: &Watch,
    plan: &Plan,
    collection: &TokenStream,
) -> TokenStream {
    let krate = &plan.krate;
    let vis = &input.vis;
    let name = &watch.name;
    let part = crate::valid::method_part(name);
    let attach = format_ident!("attach_{}", part, span = name.span());
    let detach = format_ident!("detach_{}", part, span = name.span());
    let attach_all = format_ident!("attach_all_{}", part, span = name.span());
    let detach_all = format_ident!("detach_all_{}", part, span = name.span());
    let set_interest = format_ident!("set_{}_interest", part, span = name.span());
    let (ops, fd, interest, index, first_error, result) = (
        local("ops"),
        local("fd"),
        local("interest"),
        local("index"),
        local("first_error"),
        local("result"),
    );
    let base = Literal::u32_suffixed(watch.base);
    let interest_value = fd::interest(watch, krate);
    let element_fd = fd::element_fd(watch, &quote!(#index), krate);
    let source = &watch.field_name;
    let attach_doc = format!(
        "Registers element `index` of `{source}` as its `#[event]` does in `init`, so \
         that its events reach `{}` with that index. Fails like `EventOps::add`, with \
         `Error::Epoll(EBADF)` when there is no such element or it holds no fd, and \
         with `Error::IndexTooLarge` from index 2^24 on.",
        watch.handler
    );
    let attach_all_doc = format!(
        "Registers every element of `{source}` that holds an fd, as `init` does. Goes \
         on past a failure and returns the first one."
    );
    let detach_doc = format!(
        "Deregisters element `index` of `{source}`; call it before the element is \
         removed, closed or replaced. Fails like `EventOps::remove`, and with \
         `Error::FdNotRegistered` when there is no such element or it holds no fd."
    );
    let detach_all_doc = format!(
        "Deregisters every element of `{source}` that holds an fd. Goes on past a \
         failure (an element that was not registered, say) and returns the first one."
    );
    let interest_doc = format!(
        "Changes the interest of element `index` of `{source}`, keeping its data tag. \
         Fails like `EventOps::modify`, and with `Error::FdNotRegistered` when there is \
         no such element or it holds no fd."
    );
    let span = fd::at(fd::first_span(collection));
    let count_fn = fd::tokens_at(&quote!(#krate::__private::Collection::count), span);
    let count = quote_spanned!(span=> #count_fn(&#collection));
    quote! {
        #[doc = #attach_doc]
        #vis fn #attach(
            &self,
            #index: ::core::primitive::usize,
            #ops: &mut #krate::EventOps<'_>,
        ) -> #krate::Result<()> {
            let #interest = #interest_value;
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
            match #fd {
                ::core::option::Option::Some(#fd) => #krate::__private::add(
                    #ops,
                    #fd,
                    #krate::__private::element_tag(#base, #index)?,
                    #interest,
                ),
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::no_fd())
                }
            }
        }

        #[doc = #attach_all_doc]
        #vis fn #attach_all(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let mut #first_error = ::core::result::Result::Ok(());
            for #index in 0..#count {
                let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
                if #fd.is_some() {
                    let #result = self.#attach(#index, #ops);
                    if #first_error.is_ok() {
                        #first_error = #result;
                    }
                }
            }
            #first_error
        }

        #[doc = #detach_doc]
        #vis fn #detach(
            &self,
            #index: ::core::primitive::usize,
            #ops: &mut #krate::EventOps<'_>,
        ) -> #krate::Result<()> {
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
            match #fd {
                ::core::option::Option::Some(#fd) => #krate::__private::remove(#ops, #fd),
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::not_registered())
                }
            }
        }

        #[doc = #detach_all_doc]
        #vis fn #detach_all(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let mut #first_error = ::core::result::Result::Ok(());
            for #index in 0..#count {
                let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
                if let ::core::option::Option::Some(#fd) = #fd {
                    let #result = #krate::__private::remove(#ops, #fd);
                    if #first_error.is_ok() {
                        #first_error = #result;
                    }
                }
            }
            #first_error
        }

        #[doc = #interest_doc]
        #vis fn #set_interest(
            &self,
            #index: ::core::primitive::usize,
            #ops: &mut #krate::EventOps<'_>,
            #interest: #krate::EventSet,
        ) -> #krate::Result<()> {
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
            match #fd {
                ::core::option::Option::Some(#fd) => #krate::__private::modify(
                    #ops,
                    #fd,
                    #krate::__private::element_tag(#base, #index)?,
                    #interest,
                ),
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::not_registered())
                }
            }
        }
    }
}
