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
        WatchSource::Field { member, optional } => field_fd(member, *optional, krate),
        WatchSource::Path(expr) => value_fd(&from_self(expr), first_span(expr), krate),
        // Collections read one element at a time: `element_fd`.
        WatchSource::Each { .. } => quote!(::core::option::Option::None),
    }
}

/// The collection a `fd = name[..]` watch walks.
pub(crate) fn collection(watch: &Watch) -> Option<TokenStream> {
    match &watch.source {
        WatchSource::Each { collection, .. } => Some(from_self(collection)),
        _ => None,
    }
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
    let span = at(first_span(collection));
    let all = from_self(collection);
    let placeholder = Ident::new(crate::source::ELEMENT, Span::mixed_site());
    let (value, value_span) = match element {
        Some(path) => (path.to_token_stream(), first_span(path)),
        None => (quote!(*#placeholder), first_span(collection)),
    };
    let element_fd = value_fd(&value, value_span, krate);
    let collection_trait = tokens_at(&quote!(#krate::__private::Collection::element), span);
    let lookup = quote_spanned!(span=> #collection_trait(&#all, #index));
    quote! {
        match #lookup {
            ::core::option::Option::Some(#placeholder) => #element_fd,
            ::core::option::Option::None => ::core::option::Option::None,
        }
    }
}

/// A field's fd. The tokens are located at the field, so that a field
/// that is not an fd is reported there.
fn field_fd(member: &Member, optional: bool, krate: &Path) -> TokenStream {
    let field_span = at(member.span());
    let member = relocated(member, field_span);
    if optional {
        let source = local_at("source", field_span);
        quote_spanned! {field_span=>
            match &self.#member {
                ::core::option::Option::Some(#source) => #krate::__private::field_fd(
                    ::std::os::unix::io::AsRawFd::as_raw_fd(#source),
                ),
                ::core::option::Option::None => ::core::option::Option::None,
            }
        }
    } else {
        quote_spanned! {field_span=>
            #krate::__private::field_fd(::std::os::unix::io::AsRawFd::as_raw_fd(&self.#member))
        }
    }
}

/// A source path as an expression: `self.` and the user's path (keeping
/// its spans, so that rustc reports a wrong step at it), or the path as it
/// is when it starts at `self`.
fn from_self(expr: &Expr) -> TokenStream {
    if starts_at_self(expr) {
        quote!(#expr)
    } else {
        let receiver = quote_spanned!(at(first_span(expr))=> self);
        quote!(#receiver.#expr)
    }
}

/// The fd of a value, read by the runtime's `fd_source` helpers, which
/// accept the value's shapes (a reference, an `Option`, a `Box<dyn ...>`,
/// a `RawFd`) and name the type when it is none of them.
fn value_fd(value: &TokenStream, span: Span, krate: &Path) -> TokenStream {
    let span = at(span);
    let wrap_type = tokens_at(&quote!(#krate::__private::fd_source::Wrap), span);
    let wrap = quote_spanned!(span=> (&&&#wrap_type(&(#value))));
    let fd_of = quote_spanned!(span=> fd_of);
    quote! {
        {
            use #krate::__private::fd_source::{
                DirectFd as _, InnerFd as _, NotAnFd as _, OuterFd as _,
            };
            #wrap.#fd_of()
        }
    }
}

/// Whether a source path starts at `self` rather than at a field.
fn starts_at_self(expr: &Expr) -> bool {
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
