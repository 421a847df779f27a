//! The derive's expansion on arbitrary input: it never panics, its output
//! parses as items (the impls, or `compile_error!`s beside a stub impl),
//! and every error it reports points into the input text.
//!
//! The first byte picks the derive and a frame; the rest is UTF-8 text
//! (lossily decoded), cut at NUL characters into up to three pieces that
//! fill the frame's holes: the arguments of `#[event(...)]` and
//! `#[subscriber(...)]` and the fields of a struct, so that most inputs
//! get past syn's parser into the derive's own checks. The last frame
//! takes the whole text as the input, for everything else.
//!
//! Build with `--no-cfg-fuzzing`: under `cfg(fuzzing)` proc-macro2 keeps
//! no source map, so spans have no location to check (the target refuses
//! to start then).
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use proc_macro2::{Span, TokenStream, TokenTree};
use syn::{DeriveInput, Item, MacroDelimiter};

/// The frames, with `@0`, `@1`, `@2` standing for the pieces.
const FRAMES: &[&str] = &[
    "#[event(@0)]\n#[subscriber(@1)]\nstruct S { @2 }",
    // Fields the attributes can name, of every shape the derive accepts.
    "#[event(@0)]\n#[event(@1)]\nstruct S<T> { kick: EventFd, tap: Option<T>, \
     queues: Vec<Option<EventFd>>, backend: Backend, @2 }",
    "#[subscriber(@0)]\n#[event(fd = kick, @1)]\nstruct S { kick: EventFd, @2 }",
    "#[event(@0)]\nstruct S(@1) @2;",
    "@0",
];

/// Deeper nesting than this is skipped: syn parses groups and expressions
/// recursively, and a few thousand levels overflow the stack in syn
/// itself, before the derive sees the input (rustc would reject or
/// handle such an input before any macro ran).
const MAX_NESTING: usize = 64;

fuzz_target!(
    init: {
        if !span_locations_work() {
            eprintln!(
                "derive_expansion: proc-macro2 reports no span locations; this build has \
                 cfg(fuzzing), which turns them off: run `cargo fuzz` with --no-cfg-fuzzing"
            );
            std::process::exit(2);
        }
    },
    |data: &[u8]| {
        let Some((&selector, text)) = data.split_first() else {
            return;
        };
        let text = String::from_utf8_lossy(text);
        let pieces: Vec<&str> = text.splitn(3, '\0').collect();
        let frame = FRAMES[usize::from(selector >> 1) % FRAMES.len()];
        let source = fill(frame, &pieces);
        if nesting(&source) > MAX_NESTING {
            return;
        }
        check(&source, selector & 1 == 0);
    }
);

/// `frame` with each `@N` replaced by piece N (empty if there is none).
fn fill(frame: &str, pieces: &[&str]) -> String {
    let mut source = String::new();
    let mut parts = frame.split('@');
    source.push_str(parts.next().unwrap_or_default());
    for part in parts {
        let index = usize::from(part.as_bytes()[0] - b'0');
        source.push_str(pieces.get(index).copied().unwrap_or_default());
        source.push_str(&part[1..]);
    }
    source
}

/// Whether spans know where they are: `cfg(fuzzing)` turns that off.
fn span_locations_work() -> bool {
    let tokens = TokenStream::from_str("x").expect("lex `x`");
    let span = tokens.into_iter().next().expect("one token").span();
    span.byte_range() == (0..1)
}

fn nesting(source: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0);
    for byte in source.bytes() {
        match byte {
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b')' | b']' | b'}' | b'>' => depth = depth.saturating_sub(1),
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    deepest
}

fn check(source: &str, mutable: bool) {
    // Spans from earlier inputs are never used again; dropping them keeps
    // the source map (and the memory) from growing with every input.
    proc_macro2::extra::invalidate_current_thread_spans();
    // rustc hands a derive only what it could lex and parse as an item.
    let Ok(tokens) = TokenStream::from_str(source) else {
        return;
    };
    let is_item = syn::parse2::<DeriveInput>(tokens.clone()).is_ok();
    // Every span of the input lies in the one file the source map holds
    // for `source`: an error span that joins with this one is located in
    // the input; one at the call site or in a string the derive parsed
    // on its own is not.
    let anchor = tokens
        .clone()
        .into_iter()
        .next()
        .as_ref()
        .map(TokenTree::span);
    let output = if mutable {
        event_manager_fuzz::derive_mut_event_subscriber(tokens)
    } else {
        event_manager_fuzz::derive_event_subscriber(tokens)
    };
    let file: syn::File = syn::parse2(output.clone()).unwrap_or_else(|error| {
        panic!("the output is not items ({error}):\n{output}\nfor the input\n{source}")
    });
    let (mut impls, mut errors) = (0, 0);
    for item in &file.items {
        match item {
            Item::Impl(_) => impls += 1,
            Item::Macro(item) if item.mac.path.segments.last().unwrap().ident == "compile_error" => {
                errors += 1;
                let message: syn::LitStr = item.mac.parse_body().unwrap_or_else(|error| {
                    panic!("a compile_error! without a message ({error}) for\n{source}")
                });
                let message = message.value();
                assert!(!message.is_empty(), "an empty error message for\n{source}");
                if !is_item {
                    // syn's own parse error, as parse_macro_input! gives it;
                    // rustc never hands such an input to a derive.
                    continue;
                }
                // syn's `to_compile_error` puts an error's first span on
                // the path and its last span on the braces.
                let MacroDelimiter::Brace(braces) = &item.mac.delimiter else {
                    panic!("compile_error! without braces for\n{source}");
                };
                let first = item.mac.path.segments[0].ident.span();
                let last = braces.span.join();
                for span in [first, last] {
                    check_located(anchor, span, &message, source);
                }
            }
            other => panic!(
                "the output has an item that is neither an impl nor a compile_error!:\n{}\nfor\n{source}",
                quote::quote!(#other)
            ),
        }
    }
    if is_item {
        // The trait impl, or a stub of it beside the errors (so that the
        // user's uses of the trait add no errors of their own).
        assert!(impls >= 1, "no impl in\n{output}\nfor\n{source}");
    } else {
        assert!(
            errors >= 1,
            "input that is not an item gave no error, for\n{source}"
        );
    }
}

fn check_located(anchor: Option<Span>, span: Span, message: &str, source: &str) {
    let anchor = anchor.expect("an input that parsed as an item has tokens");
    let in_input = anchor.join(span).is_some() && span.byte_range().end <= source.len();
    assert!(
        in_input,
        "error {message:?} points outside the input (at {:?}, {}:{} to {}:{}), for\n{source}",
        span.byte_range(),
        span.start().line,
        span.start().column,
        span.end().line,
        span.end().column,
    );
}
