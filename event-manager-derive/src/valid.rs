//! Rules that span attributes and fields: every `#[event]` names a field
//! that exists and that no other `#[event]` names, has a handler, and
//! spells its flags right. The result is a `Plan` that `expand.rs` turns
//! into code without further checks.

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Expr, GenericArgument, GenericParam, Generics, Ident, Member, Path, PathArguments, Type,
    Visibility, WherePredicate,
};

use crate::ast::Input;
use crate::attr::{InitError, Interest};
use crate::errors::Errors;
use crate::flags::flags;
use crate::source::Source;

/// The first data tag of the derived range (the runtime's
/// `__private::DERIVED_DATA`): derived tags are `DERIVED_DATA | position
/// << INDEX_BITS | index`, and hand registrations stay below it.
pub(crate) const DERIVED_DATA: u32 = 1 << 31;
/// The runtime's `__private::INDEX_BITS`: bits of a tag for the index.
pub(crate) const INDEX_BITS: u32 = 24;
/// The positions the 7 bits between the index and the top bit can hold.
pub(crate) const MAX_EVENTS: usize = 1 << (31 - INDEX_BITS);

/// What the generated code does for one `#[event]`.
pub(crate) struct Watch {
    /// `events.data()` of this fd's registration (plus the element index
    /// for a collection).
    pub base: u32,
    pub source: WatchSource,
    /// The field's name or index, or the source path, as the user wrote
    /// it, for messages.
    pub field_name: String,
    pub interest: WatchInterest,
    pub handler: Ident,
    /// `when = ...`: registered at `init` only if it holds.
    pub when: Option<Expr>,
    /// `attach_<name>`, `detach_<name>`, `set_<name>_interest`.
    pub name: Ident,
}

/// The interest a watched fd is registered with.
pub(crate) enum WatchInterest {
    /// `EventSet` constant names, spanned at the `set` string (or at the
    /// field when `set` is left out).
    Flags(Vec<Ident>),
    /// `set = expr`: an expression that gives an `EventSet`.
    Expr(Box<Expr>),
}

/// Where a watched fd is read from.
pub(crate) enum WatchSource {
    /// A field, spanned at the `fd = ...` value.
    Field { member: Member },
    /// A path from a field or `self` (see `source::Source::Path`), whose
    /// value's type decides how its fd is read.
    Path(Box<Expr>),
    /// Every element of a collection (from a field or `self`); `element`
    /// is the path from the placeholder `source::ELEMENT` to the fd.
    Each {
        collection: Box<Expr>,
        element: Option<Box<Expr>>,
    },
}

/// Everything `expand.rs` needs for the impl.
pub(crate) struct Plan {
    pub watches: Vec<Watch>,
    pub init: Option<Ident>,
    pub fallback: Option<Ident>,
    pub before: Option<Ident>,
    pub after: Option<Ident>,
    pub init_error: Option<InitError>,
    pub handler_error: Option<Ident>,
    /// Added to the impl's where-clause.
    pub bound: Vec<WherePredicate>,
    /// The impl is for this type (an instantiation of the struct) instead
    /// of the struct with its generics.
    pub instance: Option<Type>,
    /// With `instance`: the struct's parameters it leaves free, with the
    /// bounds the struct gives them, as the impl's generics.
    pub free: Generics,
    pub krate: Path,
    /// `sources = Name`: the enum to declare, and each watch's variant.
    pub sources: Option<Sources>,
    /// The visibility of the generated methods.
    pub vis: Option<Visibility>,
}

/// The enum of `#[subscriber(sources = Name)]`.
pub(crate) struct Sources {
    pub name: Ident,
    /// One per watch, in order.
    pub variants: Vec<Ident>,
    /// The variant of events that go to `fallback`, when there is one.
    pub fallback: Option<Ident>,
}

/// The runtime crate's path when `crate = ...` is not given.
pub(crate) fn default_crate() -> Path {
    syn::parse_quote!(::event_manager)
}

/// Method names that `Self::name` would resolve to the trait method the
/// derive is writing, unless the type has an inherent method of that name:
/// a handler by that name could call itself forever.
const TRAIT_METHODS: [&str; 2] = ["init", "process"];

fn check_method_name(key: &str, method: &Ident, errors: &mut Errors) {
    // `r#process` names the same method as `process`.
    let name = method.unraw().to_string();
    if TRAIT_METHODS.contains(&name.as_str()) {
        errors.push(syn::Error::new(
            method.span(),
            format!(
                "`{key} = {method}` names a method of the trait being derived, which would call \
                 itself: give the method another name"
            ),
        ));
    }
}

pub(crate) fn check(input: Input, errors: &mut Errors) -> Option<Plan> {
    let Input {
        ident,
        generics,
        fields,
        events,
        subscriber,
    } = input;
    // An enum or union has already been reported; its attributes are still
    // read so that their own mistakes show up in the same pass.
    let is_struct = fields.is_some();
    let fields = fields.unwrap_or_default();
    if events.is_empty() && is_struct {
        errors.push(syn::Error::new_spanned(
            ident,
            format!(
                "`{ident}` has no `#[event(...)]` attribute: add one per fd to watch, \
                 e.g. `#[event(fd = field_name)]` above the struct"
            ),
        ));
    }
    let mut watches: Vec<Watch> = Vec::new();
    for (position, event) in events.into_iter().enumerate() {
        let Some(source) = event.fd else {
            if !event.fd_written {
                errors.push(syn::Error::new_spanned(
                    &event.meta,
                    "`#[event]` needs `fd = field`, the field that holds the fd to watch",
                ));
            }
            continue;
        };
        if position >= MAX_EVENTS {
            errors.push(syn::Error::new_spanned(
                &event.meta,
                format!(
                    "a derived subscriber has at most {MAX_EVENTS} `#[event]`s: watch fds of \
                     the same kind as one collection (`fd = queues[..]`)"
                ),
            ));
            continue;
        }
        // What the fd is read from, its name in messages, the field it
        // starts at, and the name its handler and methods default to.
        let (source, text, root, last, at) = match source {
            Source::Field(member) => {
                let text = member_text(&member);
                let last = match &member {
                    Member::Named(name) => Some(name.clone()),
                    Member::Unnamed(_) => None,
                };
                let at = member.to_token_stream();
                let source = WatchSource::Field {
                    member: member.clone(),
                };
                (source, text, Some(member), last, at)
            }
            Source::Path { expr, root, last } => {
                let text = expr_text(&expr);
                let at = expr.to_token_stream();
                (WatchSource::Path(expr), text, root, last, at)
            }
            Source::Each {
                collection,
                element,
                root,
                last,
            } => {
                let text = match &element {
                    Some(element) => {
                        let path = expr_text(element);
                        let rest = path.strip_prefix(crate::source::ELEMENT).unwrap_or(&path);
                        format!("{}[..]{rest}", expr_text(&collection))
                    }
                    None => format!("{}[..]", expr_text(&collection)),
                };
                let at = match &element {
                    Some(element) => quote::quote!(#collection #element),
                    None => collection.to_token_stream(),
                };
                let source = WatchSource::Each {
                    collection,
                    element,
                };
                (source, text, root, last, at)
            }
        };
        if let (Some(root), true) = (&root, is_struct) {
            if !fields.iter().any(|field| same_member(&field.member, root)) {
                errors.push(unknown_field(ident, root, &fields));
            }
        }
        if watches.iter().any(|watch| watch.field_name == text) {
            let what = match &source {
                WatchSource::Field { .. } => format!("field `{text}`"),
                _ => format!("`{text}`"),
            };
            errors.push(syn::Error::new_spanned(
                &at,
                format!(
                    "{what} is already watched by an earlier `#[event]`: \
                     one `#[event]` per fd, with all its flags in one `set`"
                ),
            ));
            continue;
        }
        // `on_<name>`: the name given, or else the field's.
        let handler_name = event.name.as_ref().or(last.as_ref());
        let handler = match (event.handler, handler_name) {
            (Some(handler), _) => {
                check_method_name("handler", &handler, errors);
                handler
            }
            (None, Some(name)) => default_handler(name),
            (None, None) => {
                let message = match &source {
                    WatchSource::Field { .. } => format!(
                        "field `{text}` has no name to make a handler name from: \
                         add `handler = method` (or `name = ...`) to this `#[event]`"
                    ),
                    _ => format!(
                        "`fd = {text}` does not end in a field name to make a handler \
                         name from: add `handler = method` (or `name = ...`) to this `#[event]`"
                    ),
                };
                errors.push(syn::Error::new_spanned(&at, message));
                continue;
            }
        };
        let interest = match event.set {
            Some(Interest::Flags(set)) => match flags(&set, errors) {
                Some(flags) => WatchInterest::Flags(flags),
                None => continue,
            },
            Some(Interest::Expr(expr)) => WatchInterest::Expr(expr),
            None => WatchInterest::Flags(vec![Ident::new("IN", expr_span(&at))]),
        };
        let name = event
            .name
            .or(last)
            .map_or_else(|| name_from_handler(&handler), |name| plain_name(&name));
        watches.push(Watch {
            // Below `MAX_EVENTS`, so the position fits in the 7 bits above
            // the index.
            base: DERIVED_DATA | ((position as u32) << INDEX_BITS),
            source,
            field_name: text,
            interest,
            handler,
            when: event.when,
            name,
        });
    }
    let init_error_method = match &subscriber.init_error {
        Some(InitError::Method(method)) => Some(method.clone()),
        _ => None,
    };
    let container_methods = [
        ("init", &subscriber.init),
        ("fallback", &subscriber.fallback),
        ("before", &subscriber.before),
        ("after", &subscriber.after),
        ("init_error", &init_error_method),
        ("handler_error", &subscriber.handler_error),
    ];
    for (key, method) in container_methods {
        if let Some(method) = method {
            check_method_name(key, method, errors);
        }
    }
    for (index, watch) in watches.iter().enumerate() {
        if watches[..index]
            .iter()
            .any(|earlier| earlier.name == watch.name)
        {
            errors.push(syn::Error::new(
                watch.name.span(),
                format!(
                    "two `#[event]`s are named `{}`, which the generated `attach_{}` would \
                     carry twice: give one of them `name = ...`",
                    watch.name,
                    method_part(&watch.name)
                ),
            ));
        }
    }
    let mut free = Generics::default();
    if let Some(instance) = &subscriber.instance {
        if !names_struct(instance, ident) {
            errors.push(syn::Error::new_spanned(
                instance,
                format!(
                    "`for` names the instantiation of `{ident}` to implement the trait for, \
                     e.g. `for = \"{ident}<UnixBackend>\"`"
                ),
            ));
        } else {
            free = free_parameters(instance, generics, ident, errors);
        }
    }
    let sources = subscriber
        .sources
        .as_ref()
        .map(|name| sources_enum(name, &watches, subscriber.fallback.is_some(), errors));
    if !errors.is_empty() {
        return None;
    }
    Some(Plan {
        watches,
        init: subscriber.init,
        fallback: subscriber.fallback,
        before: subscriber.before,
        after: subscriber.after,
        init_error: subscriber.init_error,
        handler_error: subscriber.handler_error,
        bound: subscriber.bound.unwrap_or_default(),
        instance: subscriber.instance,
        free,
        krate: subscriber.krate.unwrap_or_else(default_crate),
        sources,
        vis: subscriber.vis,
    })
}

/// `Device<X>`, `self::Device<X>` or `Device` for the struct `Device`: a
/// path whose last name is the struct's. A type alias is not seen
/// through; rustc then reports the handlers it cannot find.
fn names_struct(ty: &Type, ident: &Ident) -> bool {
    let mut ty = ty;
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident.unraw() == ident.unraw()),
        _ => false,
    }
}

/// The struct's parameters that `for = Type<...>` writes as they are, in
/// their own place (`I` in `Serial<EventFdTrigger, I>` for `struct
/// Serial<T, I>`): they stay parameters of the impl. The impl's
/// where-clause carries every bound the struct gives its parameters (its
/// own and its where-clause's), with the arguments `for` fixes put in for
/// the parameters they fix (`T: Trigger` becomes `EventFdTrigger:
/// Trigger`). A `for` that fixes none of them is a mistake: it would be
/// the struct with its generics, which is what leaving `for` out gives.
fn free_parameters(
    instance: &Type,
    generics: &Generics,
    ident: &Ident,
    errors: &mut Errors,
) -> Generics {
    let mut ty = instance;
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    let arguments: Vec<&GenericArgument> = match ty {
        Type::Path(path) => match path.path.segments.last().map(|last| &last.arguments) {
            Some(PathArguments::AngleBracketed(arguments)) => arguments.args.iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    // Lifetimes come first in both lists, then types and constants, in
    // the order the struct declares them.
    let lifetime_arguments = arguments
        .iter()
        .filter(|argument| matches!(argument, GenericArgument::Lifetime(_)));
    let other_arguments = arguments
        .iter()
        .filter(|argument| !matches!(argument, GenericArgument::Lifetime(_)));
    let lifetime_params = generics
        .params
        .iter()
        .filter(|param| matches!(param, GenericParam::Lifetime(_)));
    let other_params = generics
        .params
        .iter()
        .filter(|param| !matches!(param, GenericParam::Lifetime(_)));
    let mut substitute = Substitute::default();
    let mut free = Generics::default();
    let pairs = lifetime_params
        .zip(lifetime_arguments)
        .chain(other_params.zip(other_arguments));
    for (param, argument) in pairs {
        let is_itself = match (param, *argument) {
            (GenericParam::Lifetime(param), GenericArgument::Lifetime(lifetime)) => {
                param.lifetime == *lifetime
            }
            (GenericParam::Type(param), GenericArgument::Type(Type::Path(path))) => {
                path.qself.is_none() && path.path.is_ident(&param.ident)
            }
            (GenericParam::Const(param), GenericArgument::Type(Type::Path(path))) => {
                path.qself.is_none() && path.path.is_ident(&param.ident)
            }
            (GenericParam::Const(param), GenericArgument::Const(Expr::Path(path))) => {
                path.qself.is_none() && path.path.is_ident(&param.ident)
            }
            _ => false,
        };
        if is_itself {
            let mut param = param.clone();
            // Bounds go to the where-clause below; a default (`T = Unix`)
            // belongs to the struct, not to an impl.
            match &mut param {
                GenericParam::Type(param) => {
                    param.attrs.clear();
                    param.colon_token = None;
                    param.bounds.clear();
                    param.eq_token = None;
                    param.default = None;
                }
                GenericParam::Const(param) => {
                    param.attrs.clear();
                    param.eq_token = None;
                    param.default = None;
                }
                GenericParam::Lifetime(param) => {
                    param.attrs.clear();
                    param.colon_token = None;
                    param.bounds.clear();
                }
            }
            free.params.push(param);
            continue;
        }
        // Another parameter of the struct's in this one's place would
        // leave it undeclared in the impl.
        let misplaced = match *argument {
            GenericArgument::Type(Type::Path(path)) if path.qself.is_none() => path
                .path
                .get_ident()
                .filter(|name| {
                    generics.params.iter().any(|other| match other {
                        GenericParam::Type(other) => other.ident == **name,
                        GenericParam::Const(other) => other.ident == **name,
                        GenericParam::Lifetime(_) => false,
                    })
                })
                .cloned(),
            _ => None,
        };
        if let Some(name) = misplaced {
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "`{name}` is a parameter of `{ident}` written in another parameter's place: \
                     in `for`, a parameter left free stays in its own place, and the others \
                     are given concrete types"
                ),
            ));
            continue;
        }
        match (param, *argument) {
            (GenericParam::Lifetime(param), GenericArgument::Lifetime(lifetime)) => substitute
                .lifetimes
                .push((param.lifetime.clone(), lifetime.clone())),
            (GenericParam::Type(param), GenericArgument::Type(ty)) => {
                substitute.types.push((param.ident.clone(), ty.clone()));
            }
            _ => {}
        }
    }
    if !generics.params.is_empty() && free.params.len() == generics.params.len() {
        errors.push(syn::Error::new_spanned(
            instance,
            format!(
                "`for` needs a concrete type for at least one of `{ident}`'s parameters; \
                 to implement the trait for every instantiation, leave `for` out"
            ),
        ));
    }
    let mut predicates: Vec<WherePredicate> = Vec::new();
    for param in &generics.params {
        match param {
            GenericParam::Type(param) if !param.bounds.is_empty() => {
                let name = &param.ident;
                let bounds = &param.bounds;
                predicates.push(syn::parse_quote!(#name: #bounds));
            }
            GenericParam::Lifetime(param) if !param.bounds.is_empty() => {
                let name = &param.lifetime;
                let bounds = &param.bounds;
                predicates.push(syn::parse_quote!(#name: #bounds));
            }
            _ => {}
        }
    }
    if let Some(where_clause) = &generics.where_clause {
        predicates.extend(where_clause.predicates.iter().cloned());
    }
    for mut predicate in predicates {
        syn::visit_mut::VisitMut::visit_where_predicate_mut(&mut substitute, &mut predicate);
        free.make_where_clause().predicates.push(predicate);
    }
    free
}

/// Puts the arguments `for` fixes in for their parameters.
#[derive(Default)]
struct Substitute {
    types: Vec<(Ident, Type)>,
    lifetimes: Vec<(syn::Lifetime, syn::Lifetime)>,
}

impl syn::visit_mut::VisitMut for Substitute {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(path) = ty {
            if path.qself.is_none() {
                if let Some(name) = path.path.get_ident() {
                    if let Some((_, fixed)) = self.types.iter().find(|(param, _)| param == name) {
                        *ty = fixed.clone();
                        return;
                    }
                }
            }
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
        if let Some((_, fixed)) = self.lifetimes.iter().find(|(param, _)| param == lifetime) {
            *lifetime = fixed.clone();
        }
    }
}

/// The enum of `sources = Name`: a variant per watch, in UpperCamelCase
/// (`rx_queue` gives `RxQueue`), and `Fallback` when there is a fallback.
fn sources_enum(
    name: &Ident,
    watches: &[Watch],
    has_fallback: bool,
    errors: &mut Errors,
) -> Sources {
    let mut variants: Vec<Ident> = Vec::new();
    for watch in watches {
        let variant = Ident::new(&upper_camel(&method_part(&watch.name)), watch.name.span());
        if let Some(earlier) = variants.iter().position(|earlier| *earlier == variant) {
            errors.push(syn::Error::new(
                watch.name.span(),
                format!(
                    "`{}` and `{}` give the same variant `{variant}` of `{name}`: give one of \
                     them another `name = ...`",
                    watches[earlier].name, watch.name
                ),
            ));
        }
        variants.push(variant);
    }
    let fallback = has_fallback.then(|| Ident::new("Fallback", name.span()));
    if let Some(fallback) = &fallback {
        if let Some(position) = variants.iter().position(|variant| variant == fallback) {
            errors.push(syn::Error::new(
                watches[position].name.span(),
                format!(
                    "`{name}::Fallback` stands for the events that go to `fallback`: \
                     give this `#[event]` another `name = ...`"
                ),
            ));
        }
    }
    Sources {
        name: name.clone(),
        variants,
        fallback,
    }
}

/// `rx_queue` as `RxQueue`; a name that would not start an identifier
/// (`8d`) gets `Source` before it.
fn upper_camel(name: &str) -> String {
    let mut camel = String::new();
    for part in name.split('_').filter(|part| !part.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(chars.as_str());
        }
    }
    if !camel.starts_with(|c: char| c.is_alphabetic()) {
        camel.insert_str(0, "Source");
    }
    camel
}

/// A name for generated methods: without `r#` and leading underscores.
fn plain_name(name: &Ident) -> Ident {
    plain_name_of(&name.unraw().to_string(), name.span())
}

/// `text` without leading underscores, as an identifier: with one
/// underscore left when the rest could not start one (`_8d` stays `_8d`),
/// and `fd` when nothing is left.
fn plain_name_of(text: &str, span: proc_macro2::Span) -> Ident {
    let trimmed = text.trim_start_matches('_');
    let is_ident = |text: &str| syn::parse::Parser::parse_str(Ident::parse_any, text).is_ok();
    let name = if trimmed.is_empty() {
        "fd".to_owned()
    } else if is_ident(trimmed) {
        trimmed.to_owned()
    } else {
        format!("_{trimmed}")
    };
    Ident::new(&name, span)
}

/// The name as it goes into the generated methods' names: `_8d` (a name
/// that keeps its underscore only to be an identifier) gives `attach_8d`,
/// not `attach__8d`, which the `non_snake_case` lint would flag.
pub(crate) fn method_part(name: &Ident) -> String {
    let text = name.to_string();
    let is_ident = |text: &str| syn::parse::Parser::parse_str(Ident::parse_any, text).is_ok();
    match text.strip_prefix('_') {
        Some(rest) if !rest.is_empty() && !is_ident(rest) => rest.to_owned(),
        _ => text,
    }
}

/// `kick` from the handler `on_kick`, or the handler's name as it is.
fn name_from_handler(handler: &Ident) -> Ident {
    let text = handler.unraw().to_string();
    let name = text.strip_prefix("on_").filter(|rest| !rest.is_empty());
    plain_name_of(name.unwrap_or(&text), handler.span())
}

/// `on_<name>`, at the name: `_kick` and `r#kick` give `on_kick` (not
/// `on__kick`, which lints would flag where the user defines it).
fn default_handler(name: &Ident) -> Ident {
    let name_text = name.unraw().to_string();
    Ident::new(
        &format!("on_{}", name_text.trim_start_matches('_')),
        name.span(),
    )
}

/// A source path as the user would write it: `inner.tap`, `vm.exit_evt()`.
fn expr_text(expr: &Expr) -> String {
    let spaced = expr.to_token_stream().to_string();
    // Token printing puts spaces between every token.
    spaced
        .replace(" . ", ".")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" [", "[")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

/// Where rustc should point for a source path: its first token.
fn expr_span(expr: &impl ToTokens) -> proc_macro2::Span {
    expr.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(proc_macro2::Span::call_site, |token| token.span())
}

/// `kick` and `r#kick` are the same field.
fn same_member(left: &Member, right: &Member) -> bool {
    match (left, right) {
        (Member::Named(left), Member::Named(right)) => left.unraw() == right.unraw(),
        (Member::Unnamed(left), Member::Unnamed(right)) => left.index == right.index,
        _ => false,
    }
}

/// A field's name as the user thinks of it: `type` for `r#type`.
fn member_text(member: &Member) -> String {
    match member {
        Member::Named(name) => name.unraw().to_string(),
        Member::Unnamed(index) => index.index.to_string(),
    }
}

fn unknown_field(ident: &Ident, member: &Member, fields: &[crate::ast::Field]) -> syn::Error {
    let named = fields
        .iter()
        .all(|field| matches!(field.member, Member::Named(_)));
    let listed: Vec<String> = fields
        .iter()
        .map(|field| format!("`{}`", member_text(&field.member)))
        .collect();
    let message = match (member, named, fields.is_empty()) {
        (_, _, true) => format!(
            "`{ident}` has no fields, so there is no field `{}` to watch",
            member_text(member)
        ),
        (Member::Unnamed(_), true, false) => format!(
            "`{ident}` has named fields: write `fd = name`, one of {}",
            listed.join(", ")
        ),
        (Member::Named(_), false, false) => format!(
            "`{ident}` is a tuple struct: write `fd = index`, one of {}",
            listed.join(", ")
        ),
        _ => format!(
            "no field `{}` in `{ident}`, expected one of {}",
            member_text(member),
            listed.join(", ")
        ),
    };
    syn::Error::new(member.span(), message)
}
