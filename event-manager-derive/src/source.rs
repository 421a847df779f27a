//! The value of `fd = ...`: a field, a path from a field or from `self`,
//! or every element of a collection, read into a [`Source`] with the
//! names its defaults come from. Only the shape of the expression is
//! checked here; whether the field exists is `valid.rs`'s job.

use syn::{Expr, ExprLit, Ident, Index, Lit, Member};

/// Where an `#[event]`'s fd comes from.
pub(crate) enum Source {
    /// `fd = kick` or `fd = 0`: a field of the struct.
    Field(Member),
    /// `fd = inner.tap`, `fd = queues[0]`, `fd = vm.exit_evt()`,
    /// `fd = self.exit_evt()`: field accesses, element indexes and method
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

/// The name the generated code gives each collection element: mixed-site
/// hygiene keeps it apart from the user's variables, and the prefix (see
/// `fd::local`) from the user's items.
pub(crate) const ELEMENT: &str = "__em_element";

/// Looks through the invisible groups that `macro_rules!` puts around
/// fragments it passes on, so a derive inside a macro reads the same.
pub(crate) fn unwrap_groups(mut expr: Expr) -> Expr {
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    expr
}

/// A plain identifier: `name`, not `a::b`, `Self::name` or `name::<T>`.
pub(crate) fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => path.path.get_ident(),
        _ => None,
    }
}

/// Reads the value of `fd = ...`.
pub(crate) fn fd_value(value: Expr) -> syn::Result<Source> {
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
            "the index in `fd = ...` is one element's, as in `fd = queues[0]` or \
             `fd = queues[RX_INDEX]`, or `..`, as in `fd = queues[..]` (every element)",
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
/// single-element indexes and method calls only, or is a plain name (a
/// field, handled by the caller).
#[allow(clippy::option_option)]
fn path_root(expr: &Expr) -> Option<Option<Member>> {
    let base = match expr {
        Expr::Field(access) => &*access.base,
        // A constant or an expression of type `usize`, not a range.
        Expr::Index(index) if !matches!(unwrap_ref(&index.index), Expr::Range(_)) => &*index.expr,
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
