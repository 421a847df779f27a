//! The derive's own picture of the input: the struct's fields and its
//! attributes, read from syn's `DeriveInput`.

use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, Member};

use crate::attr::{self, EventAttr, SubscriberAttr};
use crate::errors::Errors;

/// Which trait is derived; it decides the receiver of every method.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `MutEventSubscriber`: methods take `&mut self`.
    Mut,
    /// `EventSubscriber`: methods take `&self`.
    Shared,
}

impl Kind {
    pub(crate) fn trait_name(self) -> &'static str {
        match self {
            Kind::Mut => "MutEventSubscriber",
            Kind::Shared => "EventSubscriber",
        }
    }
}

/// A field of the struct.
pub(crate) struct Field {
    pub member: Member,
}

/// The derive input, as far as it could be read.
pub(crate) struct Input<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    /// `None` when the input is an enum or a union.
    pub fields: Option<Vec<Field>>,
    pub events: Vec<EventAttr>,
    pub subscriber: SubscriberAttr,
}

impl<'a> Input<'a> {
    pub(crate) fn from_syn(input: &'a DeriveInput, kind: Kind, errors: &mut Errors) -> Self {
        let fields = match &input.data {
            Data::Struct(data) => Some(fields(&data.fields, errors)),
            Data::Enum(data) => {
                errors.push(not_a_struct(kind, data.enum_token, "an enum"));
                None
            }
            Data::Union(data) => {
                errors.push(not_a_struct(kind, data.union_token, "a union"));
                None
            }
        };
        let mut events = Vec::new();
        let mut subscriber = SubscriberAttr::default();
        for attribute in &input.attrs {
            if attribute.path().is_ident("event") {
                events.push(attr::event(attribute, errors));
            } else if attribute.path().is_ident("subscriber") {
                attr::subscriber(attribute, &mut subscriber, errors);
            }
        }
        Input {
            ident: &input.ident,
            generics: &input.generics,
            fields,
            events,
            subscriber,
        }
    }
}

fn not_a_struct(kind: Kind, token: impl quote::ToTokens, what: &str) -> syn::Error {
    syn::Error::new_spanned(
        token,
        format!(
            "`#[derive({})]` works on structs, not on {what}: put the fds in a struct's fields",
            kind.trait_name()
        ),
    )
}

fn fields(fields: &Fields, errors: &mut Errors) -> Vec<Field> {
    let mut model = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        misplaced_attributes(&field.attrs, errors);
        let member = match &field.ident {
            Some(name) => Member::Named(name.clone()),
            None => Member::from(index),
        };
        model.push(Field { member });
    }
    model
}

/// `#[event]` and `#[subscriber]` belong on the struct; on a field they
/// would otherwise be accepted and do nothing.
fn misplaced_attributes(attrs: &[Attribute], errors: &mut Errors) {
    for attribute in attrs {
        for name in ["event", "subscriber"] {
            if attribute.path().is_ident(name) {
                errors.push(syn::Error::new_spanned(
                    attribute,
                    format!(
                        "`#[{name}]` goes on the struct, not on a field: write it above the struct, \
                         naming the field with `fd = ...`"
                    ),
                ));
            }
        }
    }
}
