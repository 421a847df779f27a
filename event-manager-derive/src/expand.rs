//! Turning a checked `Plan` into the trait impl.
//!
//! Tokens that stand for something the user wrote (a field, a handler, a
//! flag) are located at the user's token, so that rustc's own errors (a
//! field that is not an fd, a handler with the wrong signature) land on the
//! attribute. They keep call-site hygiene, so lints treat them as generated
//! code. Every path is absolute, and the impl adds no names to the user's
//! scope.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DeriveInput, Expr, Ident, Member, Path};

use crate::ast::{Input, Kind};
use crate::attr::InitError;
use crate::errors::Errors;
use crate::valid::{self, Plan, Watch, WatchSource};

/// The whole derive: parse, validate, expand; on mistakes, the errors and
/// an empty impl, so the user's other uses of the trait do not add errors
/// of their own.
pub(crate) fn derive(input: &DeriveInput, kind: Kind) -> TokenStream {
    let mut errors = Errors::default();
    let model = Input::from_syn(input, kind, &mut errors);
    let stub_crate = model
        .subscriber
        .krate
        .clone()
        .unwrap_or_else(valid::default_crate);
    match valid::check(model, &mut errors) {
        Some(plan) if errors.is_empty() => subscriber_impl(input, kind, &plan),
        _ => {
            let stub = stub_impl(input, kind, &stub_crate);
            let errors = errors.into_compile_errors();
            quote!(#errors #stub)
        }
    }
}

/// A span that points at the user's token but resolves like the rest of
/// the generated code.
fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

fn receiver(kind: Kind) -> TokenStream {
    match kind {
        Kind::Mut => quote!(&mut self),
        Kind::Shared => quote!(&self),
    }
}

/// `&mut Self` or `&Self`: the first parameter of every method the user names.
fn self_type(kind: Kind) -> TokenStream {
    match kind {
        Kind::Mut => quote!(&mut Self),
        Kind::Shared => quote!(&Self),
    }
}

fn trait_path(kind: Kind, krate: &Path) -> TokenStream {
    let name = Ident::new(kind.trait_name(), Span::call_site());
    quote!(#krate::#name)
}

/// Calls `Self::method` through a fn pointer of the expected type: a method
/// with another signature fails right there, at the user's method name,
/// with "expected fn pointer `...`". The pointer is a constant, so the
/// optimizer calls the method directly.
fn checked_call(method: &Ident, signature: TokenStream, arguments: TokenStream) -> TokenStream {
    let span = at(method.span());
    let method = respanned(method, span);
    quote_spanned! {span=>
        {
            let method: #signature = Self::#method;
            method(#arguments)
        }
    }
}

fn subscriber_impl(input: &DeriveInput, kind: Kind, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let self_type = self_type(kind);
    let receiver = receiver(kind);
    let trait_path = trait_path(kind, krate);
    let header = impl_header(input, &trait_path, plan);
    let source_methods = source_methods(input, plan);

    let registrations = plan
        .watches
        .iter()
        .map(|watch| registration(watch, kind, plan));
    let init_hook = plan.init.as_ref().map(|method| {
        let call = checked_call(
            method,
            quote!(fn(#self_type, &mut #krate::EventOps<'_>)),
            quote!(self, ops),
        );
        quote!(#call;)
    });
    let handler_signature = quote!(fn(#self_type, #krate::Events, &mut #krate::EventOps<'_>));
    let arms = plan.watches.iter().map(|watch| {
        let tag = Literal::u32_suffixed(watch.tag);
        let call = checked_call(
            &watch.handler,
            handler_signature.clone(),
            quote!(self, events, ops),
        );
        quote!(#tag => #call,)
    });
    let fallback = match &plan.fallback {
        Some(method) => checked_call(method, handler_signature.clone(), quote!(self, events, ops)),
        None => quote!({}),
    };
    // `before` sees every event first and may skip it; `after` runs once
    // each event has been handled. Without them, `process` is the bare
    // `match`.
    let before = plan.before.as_ref().map(|method| {
        let call = checked_call(
            method,
            quote!(fn(#self_type, #krate::Events, &mut #krate::EventOps<'_>) -> bool),
            quote!(self, events, ops),
        );
        quote! {
            if !#call {
                return;
            }
        }
    });
    let after = plan.after.as_ref().map(|method| {
        let call = checked_call(
            method,
            quote!(fn(#self_type, &mut #krate::EventOps<'_>)),
            quote!(self, ops),
        );
        quote!(#call;)
    });

    quote! {
        #[automatically_derived]
        #header {
            fn init(#receiver, ops: &mut #krate::EventOps<'_>) {
                #(#registrations)*
                #init_hook
            }

            fn process(#receiver, events: #krate::Events, ops: &mut #krate::EventOps<'_>) {
                #before
                match #krate::Events::data(&events) {
                    #(#arms)*
                    _ => #fallback,
                }
                #after
            }
        }

        #source_methods
    }
}

/// `impl<...> Trait for Struct<...> where ...`: the struct's generics and
/// where-clause plus `bound`, or with `for`, the one instantiation (and
/// only `bound` as the where-clause).
fn impl_header(input: &DeriveInput, trait_path: &TokenStream, plan: &Plan) -> TokenStream {
    let bound = &plan.bound;
    if let Some(instance) = &plan.instance {
        let where_clause = (!bound.is_empty()).then(|| quote!(where #(#bound),*));
        return quote!(impl #trait_path for #instance #where_clause);
    }
    let mut generics = input.generics.clone();
    if !bound.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .extend(bound.iter().cloned());
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    let ident = &input.ident;
    quote!(impl #impl_generics #trait_path for #ident #type_generics #where_clause)
}

/// `init`'s code for one watched field.
fn registration(watch: &Watch, kind: Kind, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let self_type = self_type(kind);
    let tag = Literal::u32_suffixed(watch.tag);
    let flags = watch.flags.iter().map(|flag| {
        let flag = respanned(flag, at(flag.span()));
        quote!(#krate::EventSet::#flag)
    });
    let raw_fd = watch_fd(watch, krate);
    // The fd is read in a statement of its own, so that the temporaries of
    // a source path (a lock guard, say) are gone before `init_error` gets
    // `self`.
    let registered = quote! {
        let fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
        let registered = match fd {
            ::core::option::Option::Some(fd) => #krate::EventOps::add(
                ops,
                #krate::Events::with_data_raw(fd, #tag, interest),
            ),
            ::core::option::Option::None => ::core::result::Result::Ok(()),
        };
    };
    let field_name = &watch.field_name;
    let on_error = match &plan.init_error {
        Some(InitError::Method(method)) => {
            let call = checked_call(
                method,
                quote!(fn(#self_type, &'static str, #krate::Error)),
                quote!(self, #field_name, error),
            );
            quote!(#call;)
        }
        // Located at the user's `"log"`: without the runtime's `log`
        // feature, `()` does not implement `LogFeature`, and rustc's error
        // (whose message the runtime sets) lands there.
        Some(InitError::Log(text)) => {
            let span = at(text.span());
            let log_feature = quote_spanned!(span=> ());
            quote! {
                #krate::__private::registration_failed_log::<Self, #log_feature>(#field_name, error);
            }
        }
        Some(InitError::Panic) | None => quote! {
            #krate::__private::registration_failed::<Self>(#field_name, error);
        },
    };
    let registration = quote! {
        {
            let interest = #(#flags)|*;
            #registered
            if let ::core::result::Result::Err(error) = registered {
                #on_error
            }
        }
    };
    match &watch.when {
        Some(condition) => quote! {
            if #condition #registration
        },
        None => registration,
    }
}

/// `Option<RawFd>`: the watch's fd now, or `None`.
fn watch_fd(watch: &Watch, krate: &Path) -> TokenStream {
    match &watch.source {
        WatchSource::Field { member, optional } => field_fd(member, *optional),
        WatchSource::Path(expr) => path_fd(expr, krate),
    }
}

/// `attach_<name>`, `detach_<name>` and `set_<name>_interest` for every
/// watch, in an inherent impl with the struct's visibility. They let a
/// handler register, deregister or change one declared source later
/// (an `Option` that became `Some`, a device that was activated) without
/// writing its data tag.
fn source_methods(input: &DeriveInput, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let vis = &input.vis;
    let methods = plan.watches.iter().map(|watch| {
        let name = &watch.name;
        let attach = format_ident!("attach_{}", name);
        let detach = format_ident!("detach_{}", name);
        let set_interest = format_ident!("set_{}_interest", name);
        let tag = Literal::u32_suffixed(watch.tag);
        let flags = watch.flags.iter().map(|flag| {
            let flag = respanned(flag, at(flag.span()));
            quote!(#krate::EventSet::#flag)
        });
        let raw_fd = watch_fd(watch, krate);
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
            #vis fn #attach(&self, ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
                let interest = #(#flags)|*;
                let fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
                match fd {
                    ::core::option::Option::Some(fd) => #krate::EventOps::add(
                        ops,
                        #krate::Events::with_data_raw(fd, #tag, interest),
                    ),
                    ::core::option::Option::None => {
                        ::core::result::Result::Err(#krate::__private::no_fd())
                    }
                }
            }

            #[doc = #detach_doc]
            #vis fn #detach(&self, ops: &mut #krate::EventOps<'_>) -> #krate::Result<()> {
                let fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
                match fd {
                    ::core::option::Option::Some(fd) => {
                        #krate::EventOps::remove(ops, #krate::Events::empty_raw(fd))
                    }
                    ::core::option::Option::None => {
                        ::core::result::Result::Err(#krate::__private::not_registered())
                    }
                }
            }

            #[doc = #interest_doc]
            #vis fn #set_interest(
                &self,
                ops: &mut #krate::EventOps<'_>,
                interest: #krate::EventSet,
            ) -> #krate::Result<()> {
                let fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
                match fd {
                    ::core::option::Option::Some(fd) => #krate::EventOps::modify(
                        ops,
                        #krate::Events::with_data_raw(fd, #tag, interest),
                    ),
                    ::core::option::Option::None => {
                        ::core::result::Result::Err(#krate::__private::not_registered())
                    }
                }
            }
        }
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

/// `impl<...> Struct<...> where ...`, the inherent twin of `impl_header`.
fn inherent_header(input: &DeriveInput, plan: &Plan) -> TokenStream {
    let bound = &plan.bound;
    if let Some(instance) = &plan.instance {
        let where_clause = (!bound.is_empty()).then(|| quote!(where #(#bound),*));
        return quote!(impl #instance #where_clause);
    }
    let mut generics = input.generics.clone();
    if !bound.is_empty() {
        generics
            .make_where_clause()
            .predicates
            .extend(bound.iter().cloned());
    }
    let (impl_generics, type_generics, where_clause) = generics.split_for_impl();
    let ident = &input.ident;
    quote!(impl #impl_generics #ident #type_generics #where_clause)
}

/// A field's fd. The tokens are located at the field, so that a field
/// that is not an fd is reported there.
fn field_fd(member: &Member, optional: bool) -> TokenStream {
    let field_span = at(member.span());
    let member = relocated(member, field_span);
    if optional {
        quote_spanned! {field_span=>
            match &self.#member {
                ::core::option::Option::Some(source) => ::core::option::Option::Some(
                    ::std::os::unix::io::AsRawFd::as_raw_fd(source),
                ),
                ::core::option::Option::None => ::core::option::Option::None,
            }
        }
    } else {
        quote_spanned! {field_span=>
            ::core::option::Option::Some(::std::os::unix::io::AsRawFd::as_raw_fd(&self.#member))
        }
    }
}

/// A source path's fd: `self.` and the user's path (keeping its spans, so
/// that rustc reports a wrong step at it), read by the runtime's
/// `fd_source` helpers, which accept the value's shapes (a reference, an
/// `Option`, a `Box<dyn ...>`, a `RawFd`) and name the type when it is
/// none of them. A path written from `self` is used as it is.
fn path_fd(expr: &Expr, krate: &Path) -> TokenStream {
    let from_self = path_starts_at_self(expr);
    let span = at(expr_first_span(expr));
    let value = if from_self {
        quote!(#expr)
    } else {
        let receiver = quote_spanned!(span=> self);
        quote!(#receiver.#expr)
    };
    let wrap = quote_spanned!(span=> (&&&#krate::__private::fd_source::Wrap(&(#value))));
    let fd_of = quote_spanned!(span=> fd_of);
    quote! {
        {
            use #krate::__private::fd_source::{
                BoxFd as _, DirectFd as _, NotAnFd as _, NumberFd as _, OptionBoxFd as _,
                OptionFd as _, OptionRefFd as _, RefFd as _, RefOptionFd as _,
            };
            #wrap.#fd_of()
        }
    }
}

/// Whether a source path starts at `self` rather than at a field.
fn path_starts_at_self(expr: &Expr) -> bool {
    let mut expr = expr;
    loop {
        expr = match expr {
            Expr::Field(access) => &access.base,
            Expr::Index(index) => &index.expr,
            Expr::MethodCall(call) => &call.receiver,
            Expr::Paren(paren) => &paren.expr,
            Expr::Group(group) => &group.expr,
            Expr::Path(path) => return path.path.is_ident("self"),
            _ => return false,
        };
    }
}

fn expr_first_span(expr: &Expr) -> Span {
    expr.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

/// The same identifier (raw or not) at another span.
fn respanned(ident: &Ident, span: Span) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(span);
    ident
}

fn relocated(member: &Member, span: Span) -> TokenStream {
    match member {
        Member::Named(name) => respanned(name, span).into_token_stream(),
        Member::Unnamed(index) => syn::Index {
            index: index.index,
            span,
        }
        .into_token_stream(),
    }
}

/// What the derive emits beside its errors: an impl that does nothing, so
/// that `manager.add_subscriber(device)` elsewhere does not fail as well.
fn stub_impl(input: &DeriveInput, kind: Kind, krate: &Path) -> TokenStream {
    let receiver = receiver(kind);
    let trait_path = trait_path(kind, krate);
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let ident = &input.ident;
    quote! {
        #[automatically_derived]
        impl #impl_generics #trait_path for #ident #type_generics #where_clause {
            fn init(#receiver, _: &mut #krate::EventOps<'_>) {}
            fn process(#receiver, _: #krate::Events, _: &mut #krate::EventOps<'_>) {}
        }
    }
}
