//! Reading `#[event(...)]` and `#[subscriber(...)]` into plain values.
//!
//! This module only checks the shape of each key and value; whether a field
//! exists or a flag is known is `valid.rs`'s job. A malformed key is
//! reported and skipped, so the keys after it are still read and their
//! mistakes reported in the same pass.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Expr, ExprLit, Ident, Lit, LitStr, Path, Token, Type, Visibility, WherePredicate,
};

use crate::errors::Errors;
use crate::source::{fd_value, single_ident, unwrap_groups, Source};

/// The keys `#[event(...)]` accepts, in the order the docs list them.
const EVENT_KEYS: &str = "`fd`, `set`, `handler`, `when`, `name`";
/// The keys `#[subscriber(...)]` accepts.
const SUBSCRIBER_KEYS: &str = "`init`, `fallback`, `before`, `after`, `init_error`, \
     `handler_error`, `sources`, `vis`, `bound`, `for`, `crate`";

/// One `#[event(...)]` as written.
pub(crate) struct EventAttr {
    /// `event(...)`, for mistakes that have no key to point at.
    pub meta: TokenStream,
    /// `fd = ...` was written, even if its value was not understood.
    pub fd_written: bool,
    pub fd: Option<Source>,
    pub set: Option<Interest>,
    pub handler: Option<Ident>,
    /// `when = expr`: register at `init` only if it holds.
    pub when: Option<Expr>,
    /// `name = ident`: the name in the generated `attach_<name>` methods.
    pub name: Option<Ident>,
}

/// `set = ...`: the interest, as flags checked at compile time or as an
/// expression evaluated when the fd is registered.
pub(crate) enum Interest {
    /// `set = "IN | OUT"`.
    Flags(LitStr),
    /// `set = self.backend.interest()`: an `EventSet`.
    Expr(Box<Expr>),
}

/// All `#[subscriber(...)]` attributes of the struct, merged.
#[derive(Default)]
pub(crate) struct SubscriberAttr {
    pub init: Option<Ident>,
    pub fallback: Option<Ident>,
    pub before: Option<Ident>,
    pub after: Option<Ident>,
    pub init_error: Option<InitError>,
    /// `handler_error = method`: where handlers' `Err`s go.
    pub handler_error: Option<Ident>,
    /// `bound = "..."`: where-clause predicates for the impl only.
    pub bound: Option<Vec<WherePredicate>>,
    /// `for = "Type<Args>"`: the one instantiation to implement the trait for.
    pub instance: Option<Type>,
    pub krate: Option<Path>,
    /// `sources = Name`: the enum of the sources to declare, which
    /// `before` may take.
    pub sources: Option<Ident>,
    /// `vis = ...`: the visibility of the generated methods.
    pub vis: Option<Visibility>,
}

/// `init_error = ...`: what a failed registration of a field does.
pub(crate) enum InitError {
    /// `init_error = method`: calls the user's method.
    Method(Ident),
    /// `init_error = "log"`: logs it and goes on.
    Log(LitStr),
    /// `init_error = "panic"`: the default, written out.
    Panic,
}

/// Reads one `#[event(...)]`.
pub(crate) fn event(attr: &Attribute, errors: &mut Errors) -> EventAttr {
    let mut event = EventAttr {
        meta: attr.meta.to_token_stream(),
        fd_written: false,
        fd: None,
        set: None,
        handler: None,
        when: None,
        name: None,
    };
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("fd") {
            event.fd_written = true;
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut event.fd, &meta, fd_value(value), errors);
        } else if meta.path.is_ident("set") {
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut event.set, &meta, set_value(value), errors);
        } else if meta.path.is_ident("handler") {
            let value = meta.value()?.parse::<Expr>()?;
            store(
                &mut event.handler,
                &meta,
                method_value("handler", value),
                errors,
            );
        } else if meta.path.is_ident("when") {
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut event.when, &meta, Ok(value), errors);
        } else if meta.path.is_ident("name") {
            let value = meta.value()?.parse::<Expr>()?;
            let name = match single_ident(&unwrap_groups(value.clone())) {
                Some(name) => Ok(name.clone()),
                None => Err(syn::Error::new_spanned(
                    value,
                    "`name` takes a plain name, e.g. `name = backend`, which the generated \
                     `attach_backend`, `detach_backend` and `set_backend_interest` carry",
                )),
            };
            store(&mut event.name, &meta, name, errors);
        } else {
            unknown_key(&meta, "event", EVENT_KEYS, errors)?;
        }
        Ok(())
    });
    if let Err(error) = result {
        // The attribute could not be read to the end (`#[event]` without
        // a list, say): its own error is enough.
        event.fd_written = true;
        errors.push(error);
    }
    event
}

/// Reads one `#[subscriber(...)]` into `into`, so that a key repeated in a
/// second attribute is a duplicate like one repeated in the first.
pub(crate) fn subscriber(attr: &Attribute, into: &mut SubscriberAttr, errors: &mut Errors) {
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("init") {
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut into.init, &meta, method_value("init", value), errors);
        } else if meta.path.is_ident("fallback") {
            let value = meta.value()?.parse::<Expr>()?;
            store(
                &mut into.fallback,
                &meta,
                method_value("fallback", value),
                errors,
            );
        } else if meta.path.is_ident("before") {
            let value = meta.value()?.parse::<Expr>()?;
            store(
                &mut into.before,
                &meta,
                method_value("before", value),
                errors,
            );
        } else if meta.path.is_ident("after") {
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut into.after, &meta, method_value("after", value), errors);
        } else if meta.path.is_ident("init_error") {
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut into.init_error, &meta, init_error_value(value), errors);
        } else if meta.path.is_ident("handler_error") {
            let value = meta.value()?.parse::<Expr>()?;
            store(
                &mut into.handler_error,
                &meta,
                method_value("handler_error", value),
                errors,
            );
        } else if meta.path.is_ident("bound") {
            let input = meta.value()?;
            if !input.peek(LitStr) {
                // Unquoted predicates hold `:` and `,`, which would be
                // misread as the attribute's next key: report once, and
                // skip the rest of this attribute.
                errors.push(input.error(
                    "`bound` takes its predicates in a string, e.g. `bound = \"B: Backend\"`",
                ));
                input.parse::<TokenStream>()?;
                return Ok(());
            }
            let value = input.parse::<Expr>()?;
            store(&mut into.bound, &meta, bound_value(value), errors);
        } else if meta.path.is_ident("for") {
            // A type, written as it is or in a string.
            let input = meta.value()?;
            let instance = if input.peek(LitStr) {
                input
                    .parse::<LitStr>()
                    .and_then(|text| lexes(&text).and_then(|()| text.parse::<Type>()))
            } else {
                input.parse::<Type>()
            };
            store(&mut into.instance, &meta, instance, errors);
        } else if meta.path.is_ident("sources") {
            // A name, written as it is or in a string.
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut into.sources, &meta, sources_value(value), errors);
        } else if meta.path.is_ident("vis") {
            let value = vis_value(meta.value()?);
            store(&mut into.vis, &meta, value, errors);
        } else if meta.path.is_ident("crate") {
            let value = meta.value()?.parse::<Expr>()?;
            store(&mut into.krate, &meta, crate_value(value), errors);
        } else {
            unknown_key(&meta, "subscriber", SUBSCRIBER_KEYS, errors)?;
        }
        Ok(())
    });
    if let Err(error) = result {
        errors.push(error);
    }
}

/// Keeps the first value of a key; a second one is a mistake.
fn store<T>(
    slot: &mut Option<T>,
    meta: &ParseNestedMeta,
    value: syn::Result<T>,
    errors: &mut Errors,
) {
    let key = meta
        .path
        .get_ident()
        .map(Ident::to_string)
        .unwrap_or_default();
    match value {
        Err(error) => errors.push(error),
        Ok(_) if slot.is_some() => errors.push(syn::Error::new_spanned(
            &meta.path,
            format!("duplicate key `{key}`: each key may be given once"),
        )),
        Ok(value) => *slot = Some(value),
    }
}

/// Reports a key the attribute does not know and skips its value.
fn unknown_key(
    meta: &ParseNestedMeta,
    attr: &str,
    keys: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    let name = path_text(&meta.path);
    errors.push(syn::Error::new_spanned(
        &meta.path,
        format!("unknown key `{name}` in `#[{attr}]`, expected one of {keys}"),
    ));
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|nested| {
            if nested.input.peek(Token![=]) {
                nested.value()?.parse::<Expr>()?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn path_text(path: &Path) -> String {
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    names.join("::")
}

fn set_value(value: Expr) -> syn::Result<Interest> {
    match unwrap_groups(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if text.suffix().is_empty() => Ok(Interest::Flags(text)),
        other @ Expr::Lit(_) => Err(syn::Error::new_spanned(
            other,
            "`set` takes a string of `EventSet` flags joined by `|`, e.g. \
             `set = \"IN | EDGE_TRIGGERED\"`, or an expression giving an `EventSet`, \
             e.g. `set = self.backend.interest()`",
        )),
        other => Ok(Interest::Expr(Box::new(other))),
    }
}

fn method_value(key: &str, value: Expr) -> syn::Result<Ident> {
    let value = unwrap_groups(value);
    match single_ident(&value) {
        Some(name) => Ok(name.clone()),
        None => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes the name of a method of this type, e.g. `{key} = on_event`"),
        )),
    }
}

fn init_error_value(value: Expr) -> syn::Result<InitError> {
    let value = unwrap_groups(value);
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = &value
    {
        if text.suffix().is_empty() {
            match text.value().as_str() {
                "log" => return Ok(InitError::Log(text.clone())),
                "panic" => return Ok(InitError::Panic),
                _ => {}
            }
        }
        return Err(syn::Error::new_spanned(
            text,
            format!(
                "unknown `init_error` policy {:?}: expected `\"log\"`, `\"panic\"` \
                 or the name of a method (`init_error = on_init_error`)",
                text.value()
            ),
        ));
    }
    match single_ident(&value) {
        Some(name) => Ok(InitError::Method(name.clone())),
        None => Err(syn::Error::new_spanned(
            value,
            "`init_error` takes the name of a method of this type (`init_error = on_init_error`), \
             `\"log\"` or `\"panic\"`",
        )),
    }
}

fn bound_value(value: Expr) -> syn::Result<Vec<WherePredicate>> {
    let text = match unwrap_groups(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if text.suffix().is_empty() => text,
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "`bound` takes its predicates in a string, e.g. `bound = \"B: Backend\"`",
            ))
        }
    };
    lexes(&text)?;
    let predicates = text
        .parse_with(Punctuated::<WherePredicate, Token![,]>::parse_terminated)
        .map_err(|error| {
            syn::Error::new(
                error.span(),
                format!(
                    "`bound` holds where-clause predicates such as `B: Backend`, \
                     separated by commas: {error}"
                ),
            )
        })?;
    if predicates.is_empty() {
        return Err(syn::Error::new_spanned(
            text,
            "`bound` is empty: write the where-clause predicates the impl needs, \
             e.g. `bound = \"B: Backend\"`",
        ));
    }
    Ok(predicates.into_iter().collect())
}

/// Checks that a string holding Rust (`bound`, `for`, `crate`) is made of
/// Rust tokens. syn reports a string that does not lex at a place inside
/// the string's own text, which is nowhere in the user's file; this error
/// sits at the string.
fn lexes(text: &LitStr) -> syn::Result<()> {
    match text.value().parse::<TokenStream>() {
        Ok(_) => Ok(()),
        Err(error) => Err(syn::Error::new(
            text.span(),
            format!("this string does not hold Rust tokens: {error}"),
        )),
    }
}

const SOURCES_HINT: &str =
    "`sources` takes the name of the enum to declare, e.g. `sources = NetSource`";

fn sources_value(value: Expr) -> syn::Result<Ident> {
    match unwrap_groups(value) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) if text.suffix().is_empty() => lexes(&text)
            .and_then(|()| text.parse::<Ident>())
            .map_err(|_| syn::Error::new_spanned(&text, SOURCES_HINT)),
        other => match single_ident(&other) {
            Some(name) => Ok(name.clone()),
            None => Err(syn::Error::new_spanned(other, SOURCES_HINT)),
        },
    }
}

const VIS_HINT: &str = "`vis` takes a visibility: `pub`, `pub(crate)`, `pub(super)`, \
     `pub(in path)`, or `pub(self)` for methods private to the module";

/// `vis = ...`: a visibility, written as it is or in a string. The value
/// is read to its end (the next `,`), so that a mistake is one error, at
/// the value.
fn vis_value(input: syn::parse::ParseStream) -> syn::Result<Visibility> {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        let tree: proc_macro2::TokenTree = input.parse()?;
        tokens.extend(std::iter::once(tree));
    }
    let text = syn::parse2::<LitStr>(tokens.clone()).ok();
    let parsed = match &text {
        Some(text) => lexes(text).and_then(|()| text.parse::<Visibility>()),
        None => syn::parse2::<Visibility>(tokens.clone()),
    };
    let at = match &text {
        Some(text) => text.to_token_stream(),
        None => tokens,
    };
    match parsed {
        Ok(Visibility::Inherited) | Err(_) => {
            if at.is_empty() {
                Err(input.error(VIS_HINT))
            } else {
                Err(syn::Error::new_spanned(at, VIS_HINT))
            }
        }
        Ok(vis) => Ok(vis),
    }
}

fn crate_value(value: Expr) -> syn::Result<Path> {
    match unwrap_groups(value) {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => lexes(&text).and_then(|()| text.parse::<Path>()),
        other => Err(syn::Error::new_spanned(
            other,
            "`crate` takes the path of the event-manager crate, e.g. `crate = my_runtime::event_manager`",
        )),
    }
}
