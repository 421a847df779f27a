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
    Attribute, Expr, ExprLit, Ident, Index, Lit, LitStr, Member, Path, Token, Type, WherePredicate,
};

use crate::errors::Errors;

/// The keys `#[event(...)]` accepts, in the order the docs list them.
const EVENT_KEYS: &str = "`fd`, `set`, `handler`, `when`, `name`";
/// The keys `#[subscriber(...)]` accepts.
const SUBSCRIBER_KEYS: &str = "`init`, `fallback`, `before`, `after`, `init_error`, \
     `handler_error`, `bound`, `for`, `crate`";

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

/// Where an `#[event]`'s fd comes from.
pub(crate) enum Source {
    /// `fd = kick` or `fd = 0`: a field of the struct.
    Field(Member),
    /// `fd = inner.tap`, `fd = queues[0]`, `fd = vm.exit_evt()`,
    /// `fd = self.exit_evt()`: field accesses, constant indexes and method
    /// calls, starting at a field (`root`) or at `self` (`root` is `None`).
    Path {
        expr: Box<Expr>,
        root: Option<Member>,
        /// The name for the default handler and methods (see
        /// `last_name`).
        last: Option<Ident>,
    },
    /// `fd = queues[..]`, `fd = queues[..].eventfd`: every element of a
    /// collection. `element` is the path from the element to its fd, written
    /// on the placeholder [`ELEMENT`] (`None`: the element is the fd).
    Each {
        collection: Box<Expr>,
        element: Option<Box<Expr>>,
        root: Option<Member>,
        /// The collection's name when it is a named field (`queues`).
        last: Option<Ident>,
    },
}

/// The name the generated code gives each collection element, with
/// mixed-site hygiene so that it can never meet a name of the user's.
pub(crate) const ELEMENT: &str = "element";

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
                    .and_then(|text| text.parse::<Type>())
            } else {
                input.parse::<Type>()
            };
            store(&mut into.instance, &meta, instance, errors);
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

/// Looks through the invisible groups that `macro_rules!` puts around
/// fragments it passes on, so a derive inside a macro reads the same.
fn unwrap_groups(mut expr: Expr) -> Expr {
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    expr
}

/// A plain identifier: `name`, not `a::b`, `Self::name` or `name::<T>`.
fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => path.path.get_ident(),
        _ => None,
    }
}

fn fd_value(value: Expr) -> syn::Result<Source> {
    let value = unwrap_groups(value);
    if let Some(name) = single_ident(&value) {
        if name == "self" {
            return Err(syn::Error::new_spanned(
                name,
                "`fd = self` names the whole subscriber: name the field that holds the fd",
            ));
        }
        return Ok(Source::Field(Member::Named(name.clone())));
    }
    if let Some((collection, element)) = split_each(&value)? {
        let Some(root) = path_root(&collection).or_else(|| {
            single_ident(&collection)
                .filter(|name| *name != "self")
                .map(|name| Some(Member::Named(name.clone())))
        }) else {
            return Err(syn::Error::new_spanned(
                &collection,
                "`[..]` goes after a field holding a collection, as in `fd = queues[..]` \
                 or `fd = inner.queues[..].eventfd`",
            ));
        };
        let last = last_name(&collection);
        return Ok(Source::Each {
            collection: Box::new(collection),
            element: element.map(Box::new),
            root,
            last,
        });
    }
    if let Some(root) = path_root(&value) {
        let last = last_name(&value);
        return Ok(Source::Path {
            expr: Box::new(value),
            root,
            last,
        });
    }
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(index),
        ..
    }) = &value
    {
        // Only a plain decimal number names a tuple field (`x.0x1` is not Rust).
        let plain = index.to_string().bytes().all(|byte| byte.is_ascii_digit());
        if plain {
            if let Ok(number) = index.base10_parse::<u32>() {
                return Ok(Source::Field(Member::Unnamed(Index {
                    index: number,
                    span: index.span(),
                })));
            }
        }
    }
    if let Expr::Index(index) = &value {
        return Err(syn::Error::new_spanned(
            &index.index,
            "the index in `fd = ...` is a number, as in `fd = queues[0]` (one element), \
             or `..`, as in `fd = queues[..]` (every element)",
        ));
    }
    let hint = match &value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => match field_name_for(&text.value()) {
            Some(name) => format!("`fd` takes a field name, not a string: write `fd = {name}`"),
            None => "`fd` takes a field name or a tuple index, not a string".to_owned(),
        },
        _ => "`fd` takes a field (`fd = kick`, `fd = 0`), a path into one (`fd = inner.tap`, \
              `fd = queues[0]`), a method call on one (`fd = vm.exit_evt()`, \
              `fd = self.exit_evt()`) or every element of a collection (`fd = queues[..]`)"
            .to_owned(),
    };
    Err(syn::Error::new_spanned(value, hint))
}

/// The name a source path gives its handler and methods by default: its
/// last named field (`tap` in `inner.tap`, `vm` in `vm.exit_evt()`), or
/// for a path without one, its last method (`exit_evt` in
/// `self.exit_evt()`).
fn last_name(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Field(access) => match &access.member {
            Member::Named(name) => Some(name.clone()),
            Member::Unnamed(_) => last_name(&access.base),
        },
        Expr::MethodCall(call) => last_name(&call.receiver).or_else(|| Some(call.method.clone())),
        Expr::Index(index) => last_name(&index.expr),
        Expr::Paren(paren) => last_name(&paren.expr),
        Expr::Group(group) => last_name(&group.expr),
        Expr::Path(path) => path
            .path
            .get_ident()
            .filter(|name| *name != "self")
            .cloned(),
        _ => None,
    }
}

/// `a[..]`: the index that means "every element".
fn is_full_range(expr: &Expr) -> bool {
    matches!(unwrap_ref(expr), Expr::Range(range)
        if range.start.is_none() && range.end.is_none() && range.attrs.is_empty()
            && matches!(range.limits, syn::RangeLimits::HalfOpen(_)))
}

/// Splits `queues[..].eventfd` into the collection (`queues`) and the path
/// from an element to its fd (`element.eventfd`, on the placeholder
/// [`ELEMENT`]; `None` when the element itself is the fd). `Ok(None)` when
/// there is no `[..]`; an error when there are two.
fn split_each(expr: &Expr) -> syn::Result<Option<(Expr, Option<Expr>)>> {
    let placeholder = || -> Expr {
        let ident = Ident::new(ELEMENT, proc_macro2::Span::mixed_site());
        syn::parse_quote!(#ident)
    };
    let rebuilt = |inner: &Expr, rebuild: &dyn Fn(Expr) -> Expr| {
        Ok(split_each(inner)?.map(|(collection, element)| {
            (
                collection,
                Some(rebuild(element.unwrap_or_else(placeholder))),
            )
        }))
    };
    match expr {
        Expr::Index(index) if is_full_range(&index.index) => {
            if split_each(&index.expr)?.is_some() {
                return Err(syn::Error::new_spanned(
                    &index.index,
                    "one `[..]` per `fd`: an `#[event]` watches the elements of one collection",
                ));
            }
            Ok(Some(((*index.expr).clone(), None)))
        }
        Expr::Index(index) => rebuilt(&index.expr, &|base| {
            let mut step = index.clone();
            step.expr = Box::new(base);
            Expr::Index(step)
        }),
        Expr::Field(access) => rebuilt(&access.base, &|base| {
            let mut step = access.clone();
            step.base = Box::new(base);
            Expr::Field(step)
        }),
        Expr::MethodCall(call) => rebuilt(&call.receiver, &|base| {
            let mut step = call.clone();
            step.receiver = Box::new(base);
            Expr::MethodCall(step)
        }),
        Expr::Paren(paren) => split_each(&paren.expr),
        Expr::Group(group) => split_each(&group.expr),
        _ => Ok(None),
    }
}

/// The start of a source path: `Some(field)`, or `None` for `self`; the
/// outer `Option` is `None` when `expr` is not made of field accesses,
/// constant indexes and method calls only, or is a plain name (a field,
/// handled by the caller).
#[allow(clippy::option_option)]
fn path_root(expr: &Expr) -> Option<Option<Member>> {
    let base = match expr {
        Expr::Field(access) => &*access.base,
        Expr::Index(index) => {
            let Expr::Lit(ExprLit {
                lit: Lit::Int(_), ..
            }) = unwrap_ref(&index.index)
            else {
                return None;
            };
            &*index.expr
        }
        Expr::MethodCall(call) => &*call.receiver,
        Expr::Paren(paren) => return path_root(&paren.expr),
        Expr::Group(group) => return path_root(&group.expr),
        _ => return None,
    };
    match unwrap_ref(base) {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            let name = path.path.get_ident()?;
            Some((name != "self").then(|| Member::Named(name.clone())))
        }
        Expr::Lit(_) => None,
        other => path_root(other),
    }
}

/// Looks through invisible groups (see [`unwrap_groups`]) without taking
/// the expression.
fn unwrap_ref(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

/// How to write `text` as a field name, if it is one (`r#type` for `type`).
fn field_name_for(text: &str) -> Option<String> {
    if syn::parse_str::<Ident>(text).is_ok() {
        return Some(text.to_owned());
    }
    let raw = format!("r#{text}");
    syn::parse_str::<Ident>(&raw).is_ok().then_some(raw)
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

fn crate_value(value: Expr) -> syn::Result<Path> {
    match unwrap_groups(value) {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => text.parse::<Path>(),
        other => Err(syn::Error::new_spanned(
            other,
            "`crate` takes the path of the event-manager crate, e.g. `crate = my_runtime::event_manager`",
        )),
    }
}
