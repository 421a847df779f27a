//! Turning a checked `Plan` into the trait impl.
//!
//! Tokens that stand for something the user wrote (a field, a handler, a
//! flag) are located at the user's token, so that rustc's own errors (a
//! field that is not an fd, a handler with the wrong signature) land on the
//! attribute. They keep call-site hygiene, so lints treat them as generated
//! code. Every path is absolute, and the impl adds no names to the user's
//! scope.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{DeriveInput, Ident, Path};

use crate::ast::{Input, Kind};
use crate::attr::InitError;
use crate::errors::Errors;
use crate::fd::{self, at, local, respanned};
use crate::valid::{self, Plan, Sources, Watch, WatchSource, INDEX_BITS};

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

pub(crate) fn receiver(kind: Kind) -> TokenStream {
    match kind {
        Kind::Mut => quote!(&mut self),
        Kind::Shared => quote!(&self),
    }
}

/// `&mut Self` or `&Self`: the first parameter of every method the user names.
pub(crate) fn self_type(kind: Kind) -> TokenStream {
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
pub(crate) fn checked_call(
    method: &Ident,
    signature: TokenStream,
    arguments: TokenStream,
) -> TokenStream {
    let span = at(method.span());
    let method = respanned(method, span);
    let pointer = local("method");
    quote_spanned! {span=>
        {
            let #pointer: #signature = Self::#method;
            #pointer(#arguments)
        }
    }
}

fn subscriber_impl(input: &DeriveInput, kind: Kind, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let self_type = self_type(kind);
    let receiver = receiver(kind);
    let trait_path = trait_path(kind, krate);
    let header = crate::header::impl_header(input, Some(&trait_path), plan);
    let source_methods = crate::methods::source_methods(input, plan);
    let ops = local("ops");
    let events = local("events");

    let registrations = plan
        .watches
        .iter()
        .map(|watch| registration(watch, kind, plan));
    let init_hook = plan.init.as_ref().map(|method| {
        let call = checked_call(
            method,
            quote!(fn(#self_type, &mut #krate::EventOps<'_>)),
            quote!(self, #ops),
        );
        quote!(#call;)
    });
    let handler_signature = quote!(fn(#self_type, #krate::Events, &mut #krate::EventOps<'_>));
    let data = local("data");
    // A one-fd `#[event]` is matched by its whole tag; a collection by the
    // range of its tags, the offset in the range being the index (of the
    // forms measured, the one that keeps the dispatch loop's registers
    // free; BENCHMARKS.md).
    let arms = plan.watches.iter().map(|watch| {
        let base = Literal::u32_suffixed(watch.base);
        match watch.source {
            WatchSource::Each { .. } => {
                let last = Literal::u32_suffixed(watch.base | ((1 << INDEX_BITS) - 1));
                let index = quote!((#data - #base) as ::core::primitive::usize);
                let call = handler_call(watch, kind, plan, &index);
                quote!(#base..=#last => #call,)
            }
            _ => {
                let call = handler_call(watch, kind, plan, &quote!(0usize));
                quote!(#base => #call,)
            }
        }
    });
    let fallback = match &plan.fallback {
        Some(method) => checked_call(
            method,
            handler_signature.clone(),
            quote!(self, #events, #ops),
        ),
        None => quote!({}),
    };

    // `before` sees every event first and may skip it; `after` runs once
    // each event has been handled. Without them, `process` is the bare
    // `match`.
    // A generic parameter is not reborrowed on its own.
    let this = match kind {
        Kind::Mut => quote!(&mut *self),
        Kind::Shared => quote!(self),
    };
    let (before_trait, after_trait, handler_error_trait) =
        (local("Before"), local("After"), local("HandlerError"));
    let source = local("source");
    let before = plan.before.as_ref().map(|method| {
        let span = at(method.span());
        let method = respanned(method, span);
        let hook = fd::local_at("Before", span);
        // The source the event is for, when the type declares the enum of
        // its sources; a `before` that does not take it costs nothing, the
        // value being unused once the call is inlined.
        // The source's type is named, so that a `before` that takes
        // another one is reported as not fitting, at its name.
        let (source_value, source_type) = match &plan.sources {
            Some(sources) => {
                let name = &sources.name;
                (source_of(sources, plan, &data), quote!(#name))
            }
            None => (quote!(()), quote!(())),
        };
        quote_spanned! {span=>
            let #source: #source_type = #source_value;
            if !#hook::<#self_type, #source_type, _>::call(Self::#method, #this, #source, #events, #ops) {
                return;
            }
        }
    });
    let after = plan.after.as_ref().map(|method| {
        let span = at(method.span());
        let method = respanned(method, span);
        let hook = fd::local_at("After", span);
        quote_spanned! {span=>
            #hook::<#self_type, _>::call(Self::#method, #this, #ops);
        }
    });
    let handler_trait = local("Handler");
    let has_fallback = plan.fallback.is_some();
    let sources_enum = plan
        .sources
        .as_ref()
        .map(|sources| declare_sources(input, sources, plan));

    quote! {
        #[automatically_derived]
        #header {
            fn init(#receiver, #ops: &mut #krate::EventOps<'_>) {
                #krate::__private::reserve(#ops, #has_fallback);
                #(#registrations)*
                #init_hook
            }

            fn process(#receiver, #events: #krate::Events, #ops: &mut #krate::EventOps<'_>) {
                #[allow(unused_imports)]
                use #krate::__private::{
                    After as #after_trait, Before as #before_trait, Handler as #handler_trait,
                    HandlerError as #handler_error_trait,
                };
                // Derived tags are `DERIVED_DATA | position << INDEX_BITS |
                // index`, and hand registrations stay below `DERIVED_DATA`:
                // those are the fallback's.
                let #data = #krate::Events::data(&#events);
                #before
                match #data {
                    #(#arms)*
                    _ => #fallback,
                }
                #after
            }
        }

        #source_methods
        #sources_enum
    }
}

/// The value of the sources enum for the event whose tag is `data`: its
/// source's variant, with the index for a collection.
fn source_of(sources: &Sources, plan: &Plan, data: &Ident) -> TokenStream {
    let name = &sources.name;
    let arms = plan.watches.iter().zip(&sources.variants).map(|(watch, variant)| {
        let base = Literal::u32_suffixed(watch.base);
        match watch.source {
            WatchSource::Each { .. } => {
                let last = Literal::u32_suffixed(watch.base | ((1 << INDEX_BITS) - 1));
                quote!(#base..=#last => #name::#variant((#data - #base) as ::core::primitive::usize),)
            }
            _ => quote!(#base => #name::#variant,),
        }
    });
    // A subscriber without a fallback has no fd outside its sources
    // (`EventOps::add` refuses them), so the last arm only ever sees the
    // fallback's events.
    let rest = match &sources.fallback {
        Some(fallback) => quote!(#name::#fallback),
        None => quote!(return),
    };
    quote! {
        match #data {
            #(#arms)*
            _ => #rest,
        }
    }
}

/// `#[subscriber(sources = Name)]`: the enum, beside the struct, with the
/// struct's visibility.
fn declare_sources(input: &DeriveInput, sources: &Sources, plan: &Plan) -> TokenStream {
    let vis = &input.vis;
    let name = &sources.name;
    let variants = plan
        .watches
        .iter()
        .zip(&sources.variants)
        .map(|(watch, variant)| {
            let doc = format!("An event of `{}`.", watch.field_name);
            match watch.source {
                WatchSource::Each { .. } => {
                    quote!(#[doc = #doc] #variant(::core::primitive::usize),)
                }
                _ => quote!(#[doc = #doc] #variant,),
            }
        });
    let names = plan
        .watches
        .iter()
        .zip(&sources.variants)
        .map(|(watch, variant)| {
            let text = crate::valid::method_part(&watch.name);
            match watch.source {
                WatchSource::Each { .. } => quote!(#name::#variant(_) => #text,),
                _ => quote!(#name::#variant => #text,),
            }
        });
    let indexes = plan
        .watches
        .iter()
        .zip(&sources.variants)
        .filter_map(|(watch, variant)| {
            let index = local("index");
            match watch.source {
                WatchSource::Each { .. } => Some(quote!(#name::#variant(#index) => #index,)),
                _ => None,
            }
        });
    let (fallback_variant, fallback_name) = match &sources.fallback {
        Some(fallback) => (
            Some(quote!(#[doc = "An event of an fd added by hand, for `fallback`."] #fallback,)),
            Some(quote!(#name::#fallback => "fallback",)),
        ),
        None => (None, None),
    };
    let doc = format!(
        "The sources of `{}`'s events, one variant per `#[event]`, as its `before` \
         hook may take them.",
        input.ident
    );
    quote! {
        #[doc = #doc]
        // A variant of a source whose events `before` never sees by it is
        // not an unused variant the user wrote.
        #[allow(dead_code)]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug,
                 ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
        #vis enum #name {
            #(#variants)*
            #fallback_variant
        }

        #[automatically_derived]
        #[allow(dead_code)]
        impl #name {
            /// The source's name, as in its `attach_<name>` method.
            #vis fn name(self) -> &'static ::core::primitive::str {
                match self {
                    #(#names)*
                    #fallback_name
                }
            }

            /// The element's index for a collection, 0 for another source.
            #vis fn index(self) -> ::core::primitive::usize {
                #[allow(unreachable_patterns)]
                match self {
                    #(#indexes)*
                    _ => 0,
                }
            }
        }
    }
}

/// Calls a watch's handler with the parameters it takes (the runtime's
/// `Handler` trait picks them from its signature), and passes an `Err` it
/// returns to `handler_error` or the default.
fn handler_call(watch: &Watch, kind: Kind, plan: &Plan, index: &TokenStream) -> TokenStream {
    let krate = &plan.krate;
    let self_type = self_type(kind);
    let (ops, events, error, position, outcome) = (
        local("ops"),
        local("events"),
        local("error"),
        local("index"),
        local("outcome"),
    );
    let span = at(watch.handler.span());
    let handler = respanned(&watch.handler, span);
    // A generic parameter is not reborrowed on its own.
    let this = match kind {
        Kind::Mut => quote!(&mut *self),
        Kind::Shared => quote!(self),
    };
    // The receiver type is given, so a handler that takes `&mut self`
    // under `EventSubscriber` is reported as not fitting, not as a
    // mismatched argument.
    // `Handler` is named through the `use` at the top of `process`, so the
    // whole call sits at the handler's name, and a wrong `crate = ...`
    // path is reported once, at the path.
    let handler_trait = fd::local_at("Handler", span);
    let call = quote_spanned! {span=>
        #handler_trait::<#self_type, _>::call(Self::#handler, #this, #position, #events, #ops)
    };
    let name = &watch.field_name;
    match &plan.handler_error {
        Some(method) => {
            // The handler's whole result goes to the runtime's
            // `HandlerError`, which calls the method on an `Err`, with the
            // error as the handler's own type or as `&dyn Display`,
            // whichever the method takes; a handler returning `()` needs
            // nothing of it.
            let span = at(method.span());
            let method = respanned(method, span);
            let hook = fd::local_at("HandlerError", span);
            let report = quote_spanned! {span=>
                #hook::<_, #self_type, _>::call(Self::#method, #this, #name, #position, #outcome, #ops);
            };
            quote! {
                {
                    let #position: ::core::primitive::usize = #index;
                    let #outcome = #call;
                    #report
                }
            }
        }
        None => quote! {
            {
                let #position: ::core::primitive::usize = #index;
                let #outcome = #call;
                if let ::core::result::Result::Err(#error) =
                    #krate::__private::Outcome::into_result(#outcome)
                {
                    #krate::__private::handler_failed::<Self>(#name, #position, &#error);
                }
            }
        },
    }
}

/// What a failed registration in `init` does: `init_error`'s method, a
/// log line, or a panic. `error` holds the `Error`, `index` the element's
/// index (0 for a source of one fd).
fn on_registration_error(watch: &Watch, kind: Kind, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let self_type = self_type(kind);
    let (error, index) = (local("error"), local("index"));
    let field_name = &watch.field_name;
    match &plan.init_error {
        Some(InitError::Method(method)) => {
            let span = at(method.span());
            let method = respanned(method, span);
            let hook = fd::tokens_at(&quote!(#krate::__private::InitError), span);
            let this = match kind {
                Kind::Mut => quote!(&mut *self),
                Kind::Shared => quote!(self),
            };
            quote_spanned! {span=>
                #hook::<#self_type, _>::call(Self::#method, #this, #field_name, #index, #error);
            }
        }
        // Located at the user's `"log"`: without the runtime's `log`
        // feature, `()` does not implement `LogFeature`, and rustc's error
        // (whose message the runtime sets) lands there.
        Some(InitError::Log(text)) => {
            let span = at(text.span());
            let log_feature = quote_spanned!(span=> ());
            quote! {
                #krate::__private::registration_failed_log::<Self, #log_feature>(#field_name, #error);
            }
        }
        Some(InitError::Panic) | None => quote! {
            #krate::__private::registration_failed::<Self>(#field_name, #error);
        },
    }
}

/// `init`'s code for one watch. Each fd is read in a statement of its
/// own, so that the temporaries of a source path (a lock guard, say) are
/// gone before `init_error` gets `self`.
fn registration(watch: &Watch, kind: Kind, plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let (ops, fd, error, interest, registered) = (
        local("ops"),
        local("fd"),
        local("error"),
        local("interest"),
        local("registered"),
    );
    let interest_value = fd::interest(watch, krate);
    let on_error = on_registration_error(watch, kind, plan);
    let base = Literal::u32_suffixed(watch.base);
    let registration = match fd::collection(watch) {
        None => {
            let raw_fd = fd::scalar_fd(watch, krate);
            // The index an `init_error` method is given.
            let scalar_index = matches!(plan.init_error, Some(InitError::Method(_))).then(|| {
                let index = local("index");
                quote!(let #index: ::core::primitive::usize = 0;)
            });
            quote! {
                {
                    let #interest = #interest_value;
                    #scalar_index
                    let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #raw_fd;
                    let #registered = match #fd {
                        ::core::option::Option::Some(#fd) => {
                            #krate::__private::add(#ops, #fd, #base, #interest)
                        }
                        ::core::option::Option::None => ::core::result::Result::Ok(()),
                    };
                    if let ::core::result::Result::Err(#error) = #registered {
                        #on_error
                    }
                }
            }
        }
        Some(collection) => {
            let (index, count, tag) = (local("index"), local("count"), local("tag"));
            let element_fd = fd::element_fd(watch, &quote!(#index), krate);
            let count_value = fd::element_count(&collection, krate);
            quote! {
                {
                    let #interest = #interest_value;
                    let #count: ::core::primitive::usize = #count_value;
                    let mut #index: ::core::primitive::usize = 0;
                    while #index < #count {
                        let #fd: ::core::option::Option<::std::os::unix::io::RawFd> = #element_fd;
                        let #registered = match #fd {
                            ::core::option::Option::Some(#fd) => {
                                match #krate::__private::element_tag(#base, #index) {
                                    ::core::result::Result::Ok(#tag) => {
                                        #krate::__private::add(#ops, #fd, #tag, #interest)
                                    }
                                    ::core::result::Result::Err(#error) => {
                                        ::core::result::Result::Err(#error)
                                    }
                                }
                            }
                            ::core::option::Option::None => ::core::result::Result::Ok(()),
                        };
                        if let ::core::result::Result::Err(#error) = #registered {
                            #on_error
                        }
                        #index += 1;
                    }
                }
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
