//! The expansion, called as a plain function on thousands of generated
//! inputs, never panics: it returns an impl, or errors located at the
//! input's tokens beside a stub impl.
//!
//! Two generators: well-formed subscribers (which must expand without
//! errors), and inputs assembled from valid and broken pieces: unknown and
//! misspelled keys, values of every literal kind, nested groups, random
//! token trees in the attributes, odd field types, generics, empty, tuple
//! and unit structs, enums and unions. `EVENT_MANAGER_DERIVE_CASES=N` sets
//! how many inputs each generator makes (default 2,000).

use std::cell::Cell;

use proc_macro2::TokenStream;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};
use syn::{DeriveInput, Item};

use crate::ast::Kind;
use crate::expand;

fn cases() -> u32 {
    std::env::var("EVENT_MANAGER_DERIVE_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000)
}

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases: cases(),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })
}

fn pick(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(choices).prop_map(str::to_string)
}

/// What one expansion produced.
struct Expansion {
    impls: usize,
    /// The messages of the `compile_error!`s.
    errors: Vec<String>,
}

/// Expands `source` as both derives; checks that the output is items, that
/// there is always exactly one impl, and that every error has a message
/// and points into the input rather than nowhere.
fn expand_checked(source: &str) -> Result<Vec<Expansion>, TestCaseError> {
    let input: DeriveInput = syn::parse_str(source).map_err(|err| {
        TestCaseError::fail(format!(
            "the generator made something that is not an item ({err}):\n{source}"
        ))
    })?;
    [Kind::Mut, Kind::Shared]
        .into_iter()
        .map(|kind| {
            let output = expand::derive(&input, kind);
            check_output(output, source)
        })
        .collect()
}

fn check_output(output: TokenStream, source: &str) -> Result<Expansion, TestCaseError> {
    let file: syn::File = syn::parse2(output.clone()).map_err(|err| {
        TestCaseError::fail(format!(
            "output is not items ({err}) for\n{source}\n{output}"
        ))
    })?;
    let mut expansion = Expansion {
        impls: 0,
        errors: Vec::new(),
    };
    for item in file.items {
        match item {
            Item::Impl(_) => expansion.impls += 1,
            Item::Macro(item)
                if item.mac.path.is_ident("compile_error")
                    || item
                        .mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "compile_error") =>
            {
                let message: syn::LitStr = item.mac.parse_body().map_err(|err| {
                    TestCaseError::fail(format!("compile_error! without a message: {err}"))
                })?;
                let located = item.mac.path.segments[0].ident.span().byte_range().start > 0;
                prop_assert!(
                    located,
                    "error {:?} points nowhere, for\n{source}",
                    message.value()
                );
                prop_assert!(!message.value().is_empty());
                expansion.errors.push(message.value());
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "unexpected item {} for\n{source}",
                    quote::quote!(#other)
                )))
            }
        }
    }
    // The trait impl, and beside it, when there is no mistake, the
    // inherent impl of the `attach_<name>` methods.
    let expected_impls = if expansion.errors.is_empty() { 2 } else { 1 };
    prop_assert_eq!(expansion.impls, expected_impls, "for\n{}", source);
    Ok(expansion)
}

// ---- well-formed subscribers ----

/// Every flag but `EXCLUSIVE` (which allows few companions). Written out
/// rather than taken from `flags::FLAGS`, so that a flag dropped from the
/// derive's table fails this test.
const VALID_FLAGS: &[&str] = &[
    "IN",
    "OUT",
    "ERROR",
    "READ_HANG_UP",
    "HANG_UP",
    "EDGE_TRIGGERED",
    "ONE_SHOT",
    "PRIORITY",
    "WAKE_UP",
];

const FD_TYPES: &[&str] = &[
    "EventFd",
    "Option<EventFd>",
    "std::option::Option<UnixStream>",
    "core::option::Option<TcpListener>",
    "std::fs::File",
    "T",
    "Option<T>",
];

fn valid_subscriber() -> impl Strategy<Value = String> {
    let field = (
        pick(FD_TYPES),
        prop::sample::subsequence(VALID_FLAGS, 0..=3),
        any::<bool>(),
    );
    (
        prop::collection::vec(field, 1..=5),
        any::<bool>(),
        any::<bool>(),
        0..4u8, // hooks: none, or init_error = a method, "log", "panic"
        any::<bool>(),
    )
        .prop_map(|(fields, tuple, generic, hooks, plain_field)| {
            let mut attrs = String::new();
            let mut body = Vec::new();
            for (index, (ty, flags, custom_handler)) in fields.iter().enumerate() {
                let name = if tuple {
                    index.to_string()
                } else {
                    format!("fd{index}")
                };
                let mut keys = vec![format!("fd = {name}")];
                if !flags.is_empty() {
                    keys.push(format!("set = \"{}\"", flags.join(" | ")));
                }
                if *custom_handler || tuple {
                    keys.push(format!("handler = handle_{index}"));
                }
                attrs.push_str(&format!("#[event({})]\n", keys.join(", ")));
                body.push(if tuple {
                    ty.clone()
                } else {
                    format!("fd{index}: {ty}")
                });
            }
            if hooks > 0 {
                let init_error = ["failed", "\"log\"", "\"panic\""][usize::from(hooks - 1)];
                attrs.push_str(&format!(
                    "#[subscriber(init = setup, fallback = other, init_error = {init_error})]\n\
                     #[subscriber(before = accept, after = finish)]\n"
                ));
                attrs.push_str("#[subscriber(crate = ::event_manager)]\n");
                if generic {
                    attrs.push_str("#[subscriber(bound = \"T: Send, T: Sync\")]\n");
                }
            }
            if !tuple {
                // A collection and an interest expression.
                attrs.push_str(
                    "#[event(fd = queues[..], set = self.interest(), handler = handle_queue)]\n",
                );
                body.push("queues: Vec<Option<EventFd>>".into());
                if hooks > 1 {
                    attrs.push_str("#[subscriber(handler_error = on_error)]\n");
                }
            }
            if plain_field {
                body.push(if tuple {
                    "u64".into()
                } else {
                    "count: u64".into()
                });
            }
            let generics = if generic {
                "<'a, T: AsRawFd, const N: usize>"
            } else {
                ""
            };
            if tuple {
                format!("{attrs}struct Device{generics}({});", body.join(", "))
            } else {
                format!("{attrs}struct Device{generics} {{ {} }}", body.join(", "))
            }
        })
}

#[test]
fn well_formed_subscribers_expand_without_errors() {
    let expanded = Cell::new(0u32);
    let result = runner().run(&valid_subscriber(), |source| {
        for expansion in expand_checked(&source)? {
            prop_assert!(
                expansion.errors.is_empty(),
                "errors {:?} for\n{}",
                expansion.errors,
                source
            );
        }
        expanded.set(expanded.get() + 1);
        Ok(())
    });
    eprintln!(
        "derive: {} well-formed inputs expanded, both derives each",
        expanded.get()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

// ---- inputs from valid and broken pieces ----

const KEYS: &[&str] = &[
    "fd",
    "set",
    "handler",
    "when",
    "name",
    "init",
    "fallback",
    "before",
    "after",
    "bound",
    "for",
    "init_error",
    "handler_error",
    "sources",
    "vis",
    "crate",
    "sett",
    "Fd",
    "r#fd",
    "fd::x",
    "type",
    "r#type",
    "",
];

const VALUES: &[&str] = &[
    "kick",
    "conn",
    "r#kick",
    "_kick",
    "_8d",
    "on_9",
    "on_",
    "missing",
    "0",
    "1",
    "7",
    "0x1",
    "1u8",
    "-1",
    "99999999999999999999999",
    "1.5",
    "'c'",
    "b\"x\"",
    "true",
    "\"IN\"",
    "\"IN | OUT\"",
    "\"in\"",
    "\"EPOLLRDHUP\"",
    "\"IN||OUT\"",
    "\"\"",
    "\"IN | EXCLUSIVE\"",
    "\"IN | EXCLUSIVE | ONE_SHOT\"",
    "\"IN | IN\"",
    "\"pub(crate)\"",
    "\"pub(self)\"",
    "\"\"",
    "NetSource",
    "queues[RX_INDEX]",
    "queues[self.index]",
    "queues[1..3]",
    "\"Device<T>\"",
    "\"Device<EventFd, T>\"",
    "\"|\"",
    "\"kick\"",
    "\"::event_manager\"",
    "\"not a path!\"",
    "\"IN\"suffix",
    "\"log\"",
    "self.active",
    "!self.active",
    "backend",
    "inner.tap",
    "queues[0]",
    "queues[i]",
    "queues[..]",
    "queues[..].eventfd",
    "queues[..][..]",
    "queues[..].fd()[0]",
    "queues[1..]",
    "queues[..=2]",
    "self[..]",
    "self.queues[..]",
    "(queues)[..]",
    "[..]",
    "..",
    "self.backend.interest()",
    "EventSet::IN | EventSet::OUT",
    "vm.exit_evt()",
    "self.kick",
    "self.0",
    "self",
    "kick.lock().unwrap().as_deref()",
    "x.0.y",
    "\"T: Send\"",
    "\"T: Send,\"",
    "\"T Send\"",
    "\"Device<u8>\"",
    "\"Other\"",
    "\"panic\"",
    "\"warn\"",
    "\"log\"x",
    "r\"IN\"",
    "self::on_kick",
    "on_kick",
    "init",
    "process",
    "r#process",
    "Self::on_kick",
    "(kick)",
    "[kick]",
    "{ kick }",
    "kick.0",
    "|x| x",
    "on_kick()",
    "::event_manager",
    "crate::x",
];

const FIELD_NAMES: &[&str] = &[
    "kick", "conn", "_kick", "r#type", "timer", "process", "x", "_8d", "__9",
];

const FIELD_TYPES: &[&str] = &[
    "EventFd",
    "Option<EventFd>",
    "Option<Option<EventFd>>",
    "Option",
    "Option<>",
    "Option<EventFd, u8>",
    "std::option::Option<T>",
    "::std::option::Option<T>",
    "&'a EventFd",
    "Box<dyn AsRawFd>",
    "[u8; N]",
    "(EventFd, EventFd)",
    "()",
    "fn()",
    "*const u8",
    "dyn Fn()",
    "<T as Trait>::Fd",
    "!",
    "_",
    "impl AsRawFd",
    "Option<impl AsRawFd>",
    "T",
];

/// Generic parameters, and a where-clause (which goes after the fields of
/// a tuple struct and before those of the others).
const GENERICS: &[(&str, &str)] = &[
    ("", ""),
    ("<T>", ""),
    ("<'a>", ""),
    ("<'a, T: AsRawFd + 'a, const N: usize>", ""),
    ("<T = EventFd>", ""),
    ("<T>", "where T: Clone"),
];

/// A random token tree, as source text: balanced, otherwise anything.
fn token_tree() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        pick(VALUES),
        pick(KEYS),
        pick(&["=", "|", ",", ";", ":", "::", "#", "!", "-", "&", "'a", "@", "$", "=>", "..", "?"]),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        (prop::collection::vec(inner, 0..6), 0..4usize).prop_map(|(parts, delimiter)| {
            let body = parts.join(" ");
            match delimiter {
                0 => format!("({body})"),
                1 => format!("[{body}]"),
                2 => format!("{{{body}}}"),
                _ => body,
            }
        })
    })
}

fn meta_item() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (pick(KEYS), pick(VALUES)).prop_map(|(key, value)| format!("{key} = {value}")),
        1 => pick(KEYS),
        1 => (pick(KEYS), token_tree()).prop_map(|(key, tree)| format!("{key}({tree})")),
        1 => (pick(KEYS), token_tree()).prop_map(|(key, tree)| format!("{key} = {tree}")),
    ]
}

fn attribute_arguments() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::collection::vec(meta_item(), 0..5), pick(&[", ", ",", " ", "; ", ",, "]))
            .prop_map(|(items, separator)| items.join(&separator)),
        1 => token_tree(),
    ]
}

fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => attribute_arguments().prop_map(|arguments| format!("#[event({arguments})]")),
        3 => attribute_arguments().prop_map(|arguments| format!("#[subscriber({arguments})]")),
        1 => Just("#[event]".to_string()),
        1 => pick(VALUES).prop_map(|value| format!("#[event = {value}]")),
        1 => attribute_arguments().prop_map(|arguments| format!("#[event[{arguments}]]")),
        1 => attribute_arguments().prop_map(|arguments| format!("#[subscriber{{{arguments}}}]")),
        1 => Just("#[doc = \"documented\"]".to_string()),
        1 => Just("#[derive(Debug)]".to_string()),
        1 => token_tree().prop_map(|tree| format!("#[other({tree})]")),
    ]
}

fn field() -> impl Strategy<Value = (String, String, Option<String>)> {
    (
        pick(FIELD_NAMES),
        pick(FIELD_TYPES),
        prop::option::weighted(0.1, attribute()),
    )
}

fn assembled_input() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(attribute(), 0..5),
        prop::sample::select(GENERICS),
        prop::collection::vec(field(), 0..5),
        0..6usize,
    )
        .prop_map(|(attributes, (generics, bounds), fields, shape)| {
            let attributes = attributes.join("\n");
            let with_attr = |attr: &Option<String>| attr.clone().unwrap_or_default();
            let named: Vec<String> = fields
                .iter()
                .map(|(name, ty, attr)| format!("{} {name}: {ty}", with_attr(attr)))
                .collect();
            let unnamed: Vec<String> = fields
                .iter()
                .map(|(_, ty, attr)| format!("{} {ty}", with_attr(attr)))
                .collect();
            let (named, unnamed) = (named.join(", "), unnamed.join(", "));
            match shape {
                0 | 1 => format!("{attributes}\npub struct S{generics} {bounds} {{ {named} }}"),
                2 => format!("{attributes}\nstruct S{generics}({unnamed}) {bounds};"),
                3 => format!("{attributes}\nstruct S{generics} {bounds};"),
                4 => format!("{attributes}\nenum S{generics} {bounds} {{ A, B({unnamed}) }}"),
                _ => format!("{attributes}\nunion S{generics} {bounds} {{ {named} }}"),
            }
        })
}

#[test]
fn assembled_inputs_expand_to_an_impl_or_located_errors() {
    let (expanded, with_errors) = (Cell::new(0u32), Cell::new(0u32));
    let result = runner().run(&assembled_input(), |source| {
        let expansions = expand_checked(&source)?;
        expanded.set(expanded.get() + 1);
        if expansions
            .iter()
            .any(|expansion| !expansion.errors.is_empty())
        {
            with_errors.set(with_errors.get() + 1);
        }
        Ok(())
    });
    eprintln!(
        "derive: {} assembled inputs expanded, both derives each; {} of them with errors",
        expanded.get(),
        with_errors.get()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // The generator is meant to reach the error paths, not only the happy one.
    assert!(with_errors.get() > expanded.get() / 2);
}
