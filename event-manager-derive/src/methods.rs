//! The inherent methods the derive adds: for every watch `attach_<name>`,
//! `detach_<name>` and `set_<name>_interest`, for a collection also
//! `attach_all_<name>` and `detach_all_<name>`, and once per type
//! `sync_registrations`. They let a handler register, deregister or change
//! a declared source later (an `Option` that became `Some`, a device that
//! was activated, a new connection) without writing its data tag.
//!
//! The generated code calls no method by method-call syntax, only by
//! path: a trait of the user's in scope, with a blanket impl and a method
//! of the same name, would otherwise be picked instead.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::{DeriveInput, Visibility};

use crate::fd::{self, local};
use crate::valid::{method_part, Plan, Watch};

pub(crate) fn source_methods(input: &DeriveInput, plan: &Plan) -> TokenStream {
    let vis = plan.vis.as_ref().unwrap_or(&input.vis);
    let methods = plan
        .watches
        .iter()
        .map(|watch| match fd::collection(watch) {
            None => scalar_methods(vis, watch, plan),
            Some(collection) => collection_methods(vis, watch, plan, &collection),
        });
    let sync = sync_registrations(vis, plan);
    let header = crate::header::impl_header(input, None, plan);
    quote! {
        #[automatically_derived]
        #[allow(dead_code)]
        #header {
            #(#methods)*
            #sync
        }
    }
}

/// What `attach_`, `detach_` and `set_..._interest` do with the fd they
/// read (bound to `fd`) and the tag `tag`: register, deregister, change
/// the interest (bound to `interest`), or `Err(NoFd)` when there is none.
fn one_fd_bodies(krate: &syn::Path, tag: &TokenStream) -> [TokenStream; 3] {
    let (ops, fd, interest) = (local("ops"), local("fd"), local("interest"));
    let with_fd = |some: TokenStream| {
        quote! {
            match #fd {
                ::core::option::Option::Some(#fd) => #some,
                ::core::option::Option::None => {
                    ::core::result::Result::Err(#krate::__private::no_fd())
                }
            }
        }
    };
    [
        with_fd(quote!(#krate::__private::add(#ops, #fd, #tag, #interest))),
        with_fd(quote!(#krate::__private::remove(#ops, #fd))),
        with_fd(quote!(#krate::__private::modify(#ops, #fd, #tag, #interest))),
    ]
}

fn scalar_methods(vis: &Visibility, watch: &Watch, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let name = &watch.name;
    let part = method_part(name);
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
         with `Error::NoFd` when `{source}` holds no fd.",
        watch.handler
    );
    let detach_doc = format!(
        "Deregisters `{source}`; call it before the fd is closed or replaced. Fails \
         like `EventOps::remove`, and with `Error::NoFd` when `{source}` holds no fd."
    );
    let interest_doc = format!(
        "Changes the interest of `{source}`, keeping its data tag. Fails like \
         `EventOps::modify`, and with `Error::NoFd` when `{source}` holds no fd."
    );
    let [attach_body, detach_body, interest_body] = one_fd_bodies(krate, &quote!(#tag));
    quote! {
        #[doc = #attach_doc]
        #vis fn #attach(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let #interest = #interest_value;
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
            #attach_body
        }

        #[doc = #detach_doc]
        #vis fn #detach(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
            #detach_body
        }

        #[doc = #interest_doc]
        #vis fn #set_interest(
            &self,
            #ops: &mut #krate::EventOps<'_>,
            #interest: #krate::EventSet,
        ) -> #krate::Result<()> {
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
            #interest_body
        }
    }
}

fn collection_methods(
    vis: &Visibility,
    watch: &Watch,
    plan: &Plan,
    collection: &TokenStream,
) -> TokenStream {
    let krate = &plan.krate;
    let name = &watch.name;
    let part = method_part(name);
    let attach = format_ident!("attach_{}", part, span = name.span());
    let detach = format_ident!("detach_{}", part, span = name.span());
    let attach_all = format_ident!("attach_all_{}", part, span = name.span());
    let detach_all = format_ident!("detach_all_{}", part, span = name.span());
    let set_interest = format_ident!("set_{}_interest", part, span = name.span());
    let (ops, fd, interest, index, count, first_error, tag_value) = (
        local("ops"),
        local("fd"),
        local("interest"),
        local("index"),
        local("count"),
        local("first_error"),
        local("tag"),
    );
    let base = Literal::u32_suffixed(watch.base);
    let interest_value = fd::interest(watch, krate);
    let element_fd = fd::element_fd(watch, &quote!(#index), krate);
    let count_value = fd::element_count(collection, krate);
    let source = &watch.field_name;
    let attach_doc = format!(
        "Registers element `index` of `{source}` as its `#[event]` does in `init`, so \
         that its events reach `{}` with that index. Fails like `EventOps::add`, with \
         `Error::IndexTooLarge` from index 2^24 on, and with `Error::NoFd` when there is \
         no such element or it holds no fd.",
        watch.handler
    );
    let attach_all_doc = format!(
        "Registers every element of `{source}` that holds an fd, as `init` does. Goes \
         on past a failure and returns the first one."
    );
    let detach_doc = format!(
        "Deregisters element `index` of `{source}`; call it before the element is \
         removed, closed or replaced. Fails like `EventOps::remove`, with \
         `Error::IndexTooLarge` from index 2^24 on, and with `Error::NoFd` when there is \
         no such element or it holds no fd."
    );
    let detach_all_doc = format!(
        "Deregisters every element of `{source}` that holds an fd. Goes on past a \
         failure (an element that was not registered, say) and returns the first one."
    );
    let interest_doc = format!(
        "Changes the interest of element `index` of `{source}`, keeping its data tag. \
         Fails like `EventOps::modify`, with `Error::IndexTooLarge` from index 2^24 on, \
         and with `Error::NoFd` when there is no such element or it holds no fd."
    );
    let tag = quote!(#krate::__private::element_tag(#base, #index)?);
    let [attach_body, detach_body, interest_body] = one_fd_bodies(krate, &quote!(#tag));
    // The count is read in a statement of its own: a path that takes a
    // lock (`config.lock().unwrap().queues[..]`) releases it before each
    // element's fd takes it again.
    quote! {
        #[doc = #attach_doc]
        #vis fn #attach(
            &self,
            #index: ::core::primitive::usize,
            #ops: &mut #krate::EventOps<'_>,
        ) -> #krate::Result<()> {
            #krate::__private::check_index(#index)?;
            let #interest = #interest_value;
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
            #attach_body
        }

        #[doc = #attach_all_doc]
        #[inline(never)]
        #vis fn #attach_all(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let mut #first_error = ::core::result::Result::Ok(());
            let #interest = #interest_value;
            let #count: ::core::primitive::usize = #count_value;
            let mut #index: ::core::primitive::usize = 0;
            while #index < #count {
                let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
                if let ::core::option::Option::Some(#fd) = #fd {
                    #krate::__private::keep_first(
                        &mut #first_error,
                        match #krate::__private::element_tag(#base, #index) {
                            ::core::result::Result::Ok(#tag_value) => {
                                #krate::__private::add(#ops, #fd, #tag_value, #interest)
                            }
                            ::core::result::Result::Err(#tag_value) => {
                                ::core::result::Result::Err(#tag_value)
                            }
                        },
                    );
                }
                #index += 1;
            }
            #first_error
        }

        #[doc = #detach_doc]
        #vis fn #detach(
            &self,
            #index: ::core::primitive::usize,
            #ops: &mut #krate::EventOps<'_>,
        ) -> #krate::Result<()> {
            #krate::__private::check_index(#index)?;
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
            #detach_body
        }

        #[doc = #detach_all_doc]
        #[inline(never)]
        #vis fn #detach_all(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let mut #first_error = ::core::result::Result::Ok(());
            let #count: ::core::primitive::usize = #count_value;
            let mut #index: ::core::primitive::usize = 0;
            while #index < #count {
                let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
                if let ::core::option::Option::Some(#fd) = #fd {
                    #krate::__private::keep_first(&mut #first_error, #krate::__private::remove(#ops, #fd));
                }
                #index += 1;
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
            #krate::__private::check_index(#index)?;
            let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
            #interest_body
        }
    }
}

/// `sync_registrations`: every source's registration brought in line with
/// its `when`, in one pass over the sources (and the elements of each
/// collection). A source's interest is read only when it is attached, as
/// `init` reads it only when `when` holds.
fn sync_registrations(vis: &Visibility, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let (ops, fd, index, count, first_error, wanted, tag, registered) = (
        local("ops"),
        local("fd"),
        local("index"),
        local("count"),
        local("first_error"),
        local("wanted"),
        local("tag"),
        local("registered"),
    );
    let steps = plan.watches.iter().map(|watch| {
        let interest_value = fd::interest(watch, krate);
        // Written as `init` writes it, so that a `when` that is not a `bool`
        // gives the same error here as there, which rustc reports once.
        let wanted_value = match &watch.when {
            Some(condition) => quote! {
                if #condition {
                    true
                } else {
                    false
                }
            },
            None => quote!(true),
        };
        let base = Literal::u32_suffixed(watch.base);
        // One fd with its tag: attach or detach it as `when` says.
        let sync_one = |tag: &TokenStream| {
            quote! {
                let #registered = #krate::__private::is_registered(#ops, #fd, #tag);
                if #wanted && !#registered {
                    #krate::__private::keep_first(
                        &mut #first_error,
                        #krate::__private::add(#ops, #fd, #tag, #interest_value),
                    );
                } else if !#wanted && #registered {
                    #krate::__private::keep_first(&mut #first_error, #krate::__private::remove(#ops, #fd));
                }
            }
        };
        let body = match fd::collection(watch) {
            None => {
                let raw_fd = fd::scalar_fd(watch, krate);
                let sync_fd = sync_one(&quote!(#base));
                quote! {
                    let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
                    if let ::core::option::Option::Some(#fd) = #fd {
                        #sync_fd
                    }
                }
            }
            Some(collection) => {
                let element_fd = fd::element_fd(watch, &quote!(#index), krate);
                let count_value = fd::element_count(&collection, krate);
                let sync_fd = sync_one(&quote!(#tag));
                quote! {
                    let #count: ::core::primitive::usize = #count_value;
                    let mut #index: ::core::primitive::usize = 0;
                    while #index < #count {
                        let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
                        if let ::core::option::Option::Some(#fd) = #fd {
                            match #krate::__private::element_tag(#base, #index) {
                                ::core::result::Result::Ok(#tag) => {
                                    #sync_fd
                                }
                                ::core::result::Result::Err(#tag) => {
                                    #krate::__private::keep_first(
                                        &mut #first_error,
                                        ::core::result::Result::Err(#tag),
                                    );
                                }
                            }
                        }
                        #index += 1;
                    }
                }
            }
        };
        quote! {
            {
                let #wanted: ::core::primitive::bool = #wanted_value;
                #body
            }
        }
    });
    let doc = "Brings every source's registration in line with its `when`: registers \
               each source (each element of a collection) that holds an fd, whose `when` \
               holds (or that has none) and that this subscriber has not registered, and \
               deregisters each registered one whose `when` does not hold. A registered \
               source whose `when` holds is left as it is, with the interest it has now. \
               Goes on past a failure and returns the first one.";
    quote! {
        #[doc = #doc]
        // Out of line: it runs at activation or reset, and inlined into a
        // handler it would make `process` too large to stay in the
        // dispatch loop (BENCHMARKS.md, `derived-activated`).
        #[inline(never)]
        #vis fn sync_registrations(&self, #ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
            let mut #first_error = ::core::result::Result::Ok(());
            #(#steps)*
            #first_error
        }
    }
}
