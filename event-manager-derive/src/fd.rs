//! The generated code that reads a watch's fd and interest: from a field,
//! a path, or one element of a collection.
//!
//! Tokens that stand for something the user wrote are located at the
//! user's token, so that rustc's own errors (a field that is not an fd, an
//! interest that is not an `EventSet`) land on the attribute. Names the
//! generated code binds have mixed-site hygiene: no item of the user's can
//! meet them.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Member, Path};

use crate::valid::{Watch, WatchInterest, WatchSource};

/// A span that points at the user's token but resolves like the rest of
/// the generated code.
pub(crate) fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// A local binding of the generated code, out of the user's reach.
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(&format!("{LOCAL_PREFIX}{name}"), Span::mixed_site())
}

/// A local binding of the generated code that rustc reports at `span`.
pub(crate) fn local_at(name: &str, span: Span) -> Ident {
    Ident::new(
        &format!("{LOCAL_PREFIX}{name}"),
        Span::mixed_site().located_at(span),
    )
}

/// What every name the generated code binds starts with. Mixed-site
/// hygiene keeps a binding apart from the user's variables, but not from
/// the user's items: a lower-case `const error` in scope would turn a
/// binding named `error` into a constant pattern. No item of the user's
/// is expected to start with this.
const LOCAL_PREFIX: &str = "__em_";

/// A path of the generated code (the runtime crate's, say) with every
/// token reported at `span`, so that an error about the expression it
/// starts does not stretch over the derive.
pub(crate) fn tokens_at(tokens: &impl ToTokens, span: Span) -> TokenStream {
    tokens
        .to_token_stream()
        .into_iter()
        .map(|mut token| {
            token.set_span(token.span().located_at(span));
            token
        })
        .collect()
}

/// The same identifier (raw or not) at another span.
pub(crate) fn respanned(ident: &Ident, span: Span) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(span);
    ident
}

/// The `EventSet` a watch is registered with.
pub(crate) fn interest(watch: &Watch, krate: &Path) -> TokenStream {
    match &watch.interest {
        WatchInterest::Flags(flags) => {
            let flags = flags.iter().map(|flag| {
                let flag = respanned(flag, at(flag.span()));
                quote!(#krate::EventSet::#flag)
            });
            quote!(#(#flags)|*)
        }
        WatchInterest::Expr(expr) => {
            // The annotation sits at the user's expression, so a value of
            // another type is reported there.
            let span = at(first_span(expr));
            let interest = local("interest");
            let set_type = tokens_at(&quote!(#krate::EventSet), span);
            quote! {
                {
                    let #interest: #set_type = #expr;
                    #interest
                }
            }
        }
    }
}

/// `Option<RawFd>`: a scalar watch's fd now, or `None`.
pub(crate) fn scalar_fd(watch: &Watch, krate: &Path) -> TokenStream {
    match &watch.source {
        WatchSource::Field { member } => {
            // The field goes the way of any path, so that it may hold every
            // shape a path may give (`&T`, `Box<dyn Trait>`, `Option<...>`).
            let span = member.span();
            let receiver = Ident::new("self", at(span));
            let member = relocated(member, span);
            let value: Expr = syn::parse_quote!(#receiver.#member);
            value_fd(&value, krate)
        }
        WatchSource::Path(expr) => value_fd(&from_self(expr), krate),
        // Collections read one element at a time: `element_fd`.
        WatchSource::Each { .. } => quote!(::core::option::Option::None),
    }
}

/// The collection a `fd = name[..]` watch walks, as an expression on `self`.
pub(crate) fn collection(watch: &Watch) -> Option<TokenStream> {
    match &watch.source {
        WatchSource::Each { collection, .. } => Some(from_self(collection).into_token_stream()),
        _ => None,
    }
}

/// `usize`: how many elements a collection watch has now, read in an
/// expression of its own so that the caller can bind it before a loop
/// (the temporaries of a path that locks are gone by then).
pub(crate) fn element_count(collection: &TokenStream, krate: &Path) -> TokenStream {
    let span = at(first_span(collection));
    let count_fn = tokens_at(&quote!(#krate::__private::Collection::count), span);
    quote_spanned!(span=> #count_fn(&#collection))
}

/// `Option<RawFd>`: element `index` (a `usize` expression) of a collection
/// watch, or `None` when there is no such element or it holds no fd.
pub(crate) fn element_fd(watch: &Watch, index: &TokenStream, krate: &Path) -> TokenStream {
    let WatchSource::Each {
        collection,
        element,
    } = &watch.source
    else {
        return scalar_fd(watch, krate);
    };
    let all = from_self(collection);
    let placeholder = Ident::new(crate::source::ELEMENT, Span::mixed_site());
    // The element stands where the collection is written, so that a
    // mistake about it (an element that is not an fd) is reported there.
    let here = Span::mixed_site().located_at(last_span(collection));
    let value: Expr = match element {
        Some(path) => relocate_placeholder(path, here),
        None => {
            let star = quote_spanned!(at(first_span(collection))=> *);
            let element = Ident::new(crate::source::ELEMENT, here);
            syn::parse_quote!(#star #element)
        }
    };
    let element_fd = value_fd(&value, krate);
    element_lookup(&all, index, &placeholder, element_fd, krate)
}

/// `path` with its element placeholder located at `here`.
fn relocate_placeholder(path: &Expr, here: Span) -> Expr {
    fn relocate(tokens: TokenStream, here: Span) -> TokenStream {
        tokens
            .into_iter()
            .map(|token| match token {
                proc_macro2::TokenTree::Ident(ident) if ident == crate::source::ELEMENT => {
                    proc_macro2::TokenTree::Ident(Ident::new(crate::source::ELEMENT, here))
                }
                proc_macro2::TokenTree::Group(group) => {
                    let mut relocated =
                        proc_macro2::Group::new(group.delimiter(), relocate(group.stream(), here));
                    relocated.set_span(group.span());
                    proc_macro2::TokenTree::Group(relocated)
                }
                other => other,
            })
            .collect()
    }
    syn::parse2(relocate(path.to_token_stream(), here)).unwrap_or_else(|_| path.clone())
}

/// `match Collection::element(&collection, index) { Some(name) => found,
/// None => None }`: an element that is not there holds no fd, and
/// nothing panics.
fn element_lookup(
    collection: &impl ToTokens,
    index: &TokenStream,
    name: &Ident,
    found: TokenStream,
    krate: &Path,
) -> TokenStream {
    let span = at(first_span(collection));
    let element_fn = tokens_at(&quote!(#krate::__private::Collection::element), span);
    let lookup = quote_spanned!(span=> #element_fn(&#collection, #index));
    quote! {
        match #lookup {
            ::core::option::Option::Some(#name) => #found,
            ::core::option::Option::None => ::core::option::Option::None,
        }
    }
}

/// A source path as an expression: the user's path with `self.` before
/// its first field (keeping the user's spans, so that rustc reports a
/// wrong step at it), or the path as it is when it starts at `self`.
fn from_self(expr: &Expr) -> Expr {
    match expr {
        Expr::Field(access) => {
            let mut access = access.clone();
            access.base = Box::new(from_self(&access.base));
            Expr::Field(access)
        }
        Expr::Index(index) => {
            let mut index = index.clone();
            index.expr = Box::new(from_self(&index.expr));
            Expr::Index(index)
        }
        Expr::MethodCall(call) => {
            let mut call = call.clone();
            call.receiver = Box::new(from_self(&call.receiver));
            Expr::MethodCall(call)
        }
        Expr::Paren(paren) => {
            let mut paren = paren.clone();
            paren.expr = Box::new(from_self(&paren.expr));
            Expr::Paren(paren)
        }
        Expr::Group(group) => from_self(&group.expr),
        Expr::Path(path) if path.path.is_ident("self") => expr.clone(),
        Expr::Path(path) => match path.path.get_ident() {
            Some(field) => {
                let receiver = Ident::new("self", at(field.span()));
                syn::parse_quote!(#receiver.#field)
            }
            None => expr.clone(),
        },
        _ => expr.clone(),
    }
}

/// Splits a path at its first single-element index from the root:
/// `a.b[i].c` gives `a.b`, `i` and `name.c` (the rest, on `name`).
fn split_at_index(expr: &Expr, name: &Ident) -> Option<(Expr, Expr, Expr)> {
    let rebuilt = |inner: &Expr, rebuild: &dyn Fn(Expr) -> Expr| {
        split_at_index(inner, name).map(|(base, index, rest)| (base, index, rebuild(rest)))
    };
    match expr {
        Expr::Index(step) => rebuilt(&step.expr, &|rest| {
            let mut step = step.clone();
            step.expr = Box::new(rest);
            Expr::Index(step)
        })
        .or_else(|| {
            Some((
                (*step.expr).clone(),
                (*step.index).clone(),
                syn::parse_quote!(#name),
            ))
        }),
        Expr::Field(access) => rebuilt(&access.base, &|rest| {
            let mut access = access.clone();
            access.base = Box::new(rest);
            Expr::Field(access)
        }),
        Expr::MethodCall(call) => rebuilt(&call.receiver, &|rest| {
            let mut call = call.clone();
            call.receiver = Box::new(rest);
            Expr::MethodCall(call)
        }),
        Expr::Paren(paren) => split_at_index(&paren.expr, name),
        Expr::Group(group) => split_at_index(&group.expr, name),
        _ => None,
    }
}

/// `Option<RawFd>`: the fd of a value, read by the runtime's `fd_source`
/// probes, which accept the value's shapes (a reference, an `Option`, a
/// `Box<dyn ...>`, a `RawFd`) and name the type when it is none of them.
/// Each index step of the path (`queue_evts[RX_INDEX]`) looks its element
/// up, so that an index with no element is "no fd", not a panic.
fn value_fd(value: &Expr, krate: &Path) -> TokenStream {
    value_fd_from(value, krate, 0)
}

fn value_fd_from(value: &Expr, krate: &Path, depth: usize) -> TokenStream {
    let name = local(&format!("step{depth}"));
    if let Some((base, index, rest)) = split_at_index(value, &name) {
        // The element itself (`queue_evts[RX_INDEX]`) is looked at through
        // the reference the lookup gives, as `[..]` does.
        let rest = match &rest {
            Expr::Path(path) if path.path.is_ident(&name) => {
                let star = quote_spanned!(at(first_span(&index))=> *);
                syn::parse_quote!(#star #name)
            }
            _ => rest,
        };
        let found = value_fd_from(&rest, krate, depth + 1);
        let index = index.into_token_stream();
        return element_lookup(&base, &index, &name, found, krate);
    }
    // The probe runs in a closure that is never called, so the value is
    // evaluated once, by `read_fd`. Its argument's first tokens sit at the
    // value's first token and its last ones at the value's last, so that
    // rustc underlines the whole value when it is not an fd.
    let (first, last) = (at(first_span(value)), at(last_span(value)));
    let fd_source = quote!(#krate::__private::fd_source);
    let reader = local("reader");
    let argument_open = quote_spanned!(first=> &);
    let argument = quote_spanned!(last=> (#value));
    // The call's own label ("required by a bound introduced by this
    // call") goes to the derive, not into the user's expression.
    let read = quote!(read_fd);
    quote! {
        {
            #[allow(unused_imports)]
            use #fd_source::{
                CollectionHint as _, DerefHint as _, DirectFd as _, InnerFd as _, LockHint as _,
                NotAnFd as _, OuterFd as _,
            };
            let #reader = #fd_source::reader(|| (&&&&&&#fd_source::Wrap(&(#value))).__event_manager_fd());
            #reader.#read(#argument_open #argument)
        }
    }
}

/// Where rustc should end a mark on an expression: its last token.
fn last_span(expr: &impl ToTokens) -> Span {
    expr.to_token_stream()
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |token| token.span())
}

/// Where rustc should point for an expression: its first token.
pub(crate) fn first_span(expr: &impl ToTokens) -> Span {
    expr.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
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
