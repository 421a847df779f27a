//! Every example runs to its end (the short modes of those that would
//! otherwise serve forever), so none of them rots.

use event_manager_tests::ExampleProcess;

#[test]
fn counter_counts_every_write() {
    let finished = ExampleProcess::run("counter", &[]);
    assert!(finished.status.success(), "{finished:?}");
    for counter in 0..4 {
        let line = format!("counter {counter}: total 1000 in");
        assert!(finished.stdout.contains(&line), "{finished:?}");
    }
}

#[test]
fn remote_workers_account_for_every_write() {
    let finished = ExampleProcess::run("remote", &[]);
    assert!(finished.status.success(), "{finished:?}");
    let workers: Vec<&str> = finished
        .stdout
        .lines()
        .filter(|line| line.starts_with("worker "))
        .collect();
    assert_eq!(workers.len(), 4, "{finished:?}");
    assert!(
        finished.stdout.contains("loop: stopped after"),
        "{finished:?}"
    );
}

#[test]
fn device_stops_itself_through_sigterm_after_its_ticks() {
    let finished = ExampleProcess::run("device", &["--ticks", "2"]);
    assert!(finished.status.success(), "{finished:?}");
    // A late tick fires once rather than making up for the missed ones,
    // so every tick counted has its line, in order.
    let ticks: u64 = finished
        .stdout
        .split("device: stopped after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no final line: {finished:?}"));
    // The SIGTERM is sent after the second tick; more may come before the
    // loop reads it.
    assert!(ticks >= 2, "{finished:?}");
    let tick_lines: Vec<&str> = finished
        .stdout
        .lines()
        .filter(|line| line.starts_with("device: tick "))
        .collect();
    assert_eq!(tick_lines.len() as u64, ticks, "{finished:?}");
    for (tick, line) in (1..).zip(&tick_lines) {
        assert!(
            line.starts_with(&format!("device: tick {tick}: ")),
            "{finished:?}"
        );
    }
    for expected in [
        "device: backend connected",
        "shutdown: SIGTERM received, stopping",
    ] {
        assert!(
            finished.stdout.contains(expected),
            "{expected}: {finished:?}"
        );
    }
    assert_eq!(finished.stderr, "", "{finished:?}");
}

#[test]
fn device_stops_on_sigint_from_outside() {
    let mut device = ExampleProcess::start("device", &[]);
    device.stdout_line_containing("device: tick ");
    device.signal(libc::SIGINT);
    let finished = device.finish();
    assert!(finished.status.success(), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("shutdown: SIGINT received, stopping"),
        "{finished:?}"
    );
}

#[test]
fn nested_manager_answers_every_round_trip_inside_tokio() {
    let finished = ExampleProcess::run("nested", &["--round-trips", "200"]);
    assert!(finished.status.success(), "{finished:?}");
    assert_eq!(finished.stderr, "", "{finished:?}");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{finished:?}");
    assert_eq!(
        lines[0], "tokio task: 200 round trips, last answer 200",
        "{finished:?}"
    );
    // "event manager: 200 replies; W wake-ups of its epoll fd, R runs, D events dispatched"
    let manager = lines[1]
        .strip_prefix("event manager: 200 replies; ")
        .unwrap_or_else(|| panic!("{finished:?}"));
    let count_before = |word: &str| -> u64 {
        let words: Vec<&str> = manager.split([' ', ',']).collect();
        let at = words.iter().position(|w| *w == word);
        at.and_then(|at| words.get(at.checked_sub(1)?)?.parse().ok())
            .unwrap_or_else(|| panic!("no count of {word}: {finished:?}"))
    };
    let (wake_ups, runs, dispatched) = (
        count_before("wake-ups"),
        count_before("runs"),
        count_before("events"),
    );
    // Each number is one event, and the end of the stream one more.
    assert_eq!(dispatched, 201, "{finished:?}");
    // Every wake-up ends with a run that found nothing ready; the other
    // runs each dispatched at least one event.
    assert!(wake_ups >= 1, "{finished:?}");
    let busy_runs = runs.checked_sub(wake_ups);
    assert!(
        busy_runs.is_some_and(|busy| (1..=dispatched).contains(&busy)),
        "{finished:?}"
    );
}

#[test]
fn echo_load_comes_back_verified_and_says_so_in_the_order_it_happened() {
    let finished = ExampleProcess::run(
        "echo",
        &["--clients", "4", "--messages", "50", "--size", "3000"],
    );
    assert!(finished.status.success(), "{finished:?}");
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let expected = [
        "listening on 127.0.0.1:",
        "load: 4 clients, each sending 50 messages of 3000 bytes and checking every byte",
        "traffic: 200 messages of 3000 bytes on 4 connections, 600000 bytes (0.6 MiB) each way, in ",
        "throughput: ",
        "result: verified, every byte of every message came back as it was sent",
        "stopped by the end of the load: 4 connections accepted, 4 finished, 0 failed, 0 still open",
    ];
    assert_eq!(lines.len(), expected.len(), "{finished:?}");
    for (line, start) in lines.iter().zip(expected) {
        assert!(line.starts_with(start), "{start:?}: {finished:?}");
    }
}

#[test]
fn echo_refuses_bad_options_with_a_message() {
    for (args, message) in [
        (
            &["--size", "0"][..],
            "--size takes a positive number, not `0`",
        ),
        (&["--clients"][..], "--clients needs a value"),
        (&["--listen", "localhost"][..], "--listen takes an address"),
        (&["--verbose", "1"][..], "unknown option `--verbose`"),
        (
            &["--idle-timeout", "0"][..],
            "--idle-timeout takes a positive number of seconds, at most a year, not `0`",
        ),
        (
            &["--idle-timeout", "1e15"][..],
            "--idle-timeout takes a positive number of seconds, at most a year, not `1e15`",
        ),
        (
            &["--idle-timeout", "soon"][..],
            "--idle-timeout takes a positive number of seconds, at most a year, not `soon`",
        ),
        (
            &["--size", "16777217"][..],
            "--size is at most 16777216 bytes",
        ),
    ] {
        let finished = ExampleProcess::run("echo", args);
        assert_eq!(finished.status.code(), Some(2), "{args:?}: {finished:?}");
        assert!(finished.stderr.contains(message), "{args:?}: {finished:?}");
        assert!(finished.stderr.contains("usage: echo"), "{finished:?}");
        assert_eq!(finished.stdout, "", "{args:?}: {finished:?}");
    }
}

/// Every example, with each option it accepts (as `--help` writes it) and
/// the default `--help` must give it.
const EXAMPLES: [(&str, &[(&str, &str)]); 5] = [
    ("counter", &[]),
    ("remote", &[]),
    ("device", &[("--ticks N", "none")]),
    ("nested", &[("--round-trips N", "1000")]),
    (
        "echo",
        &[
            ("--listen ADDR", "127.0.0.1:0"),
            ("--idle-timeout SECONDS", "none"),
            ("--clients N", "8"),
            ("--messages M", "1000"),
            ("--size BYTES", "1024"),
        ],
    ),
];

/// The entries of the `options:` list of a help text, as (`--flag VALUE`,
/// meaning), with the meaning's wrapped lines joined.
fn option_entries(help: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let list = help
        .lines()
        .skip_while(|line| *line != "options:")
        .skip(1)
        .take_while(|line| !line.is_empty());
    for line in list {
        let text = line.trim_start();
        if line.len() - text.len() == 2 {
            // A new entry: the option, at least two spaces, its meaning.
            let (option, meaning) = text.split_once("  ").unwrap_or((text, ""));
            entries.push((option.to_string(), meaning.trim().to_string()));
        } else if let Some((_, meaning)) = entries.last_mut() {
            meaning.push(' ');
            meaning.push_str(text);
        }
    }
    entries
}

#[test]
fn every_example_answers_help_with_each_option_and_its_default() {
    for (name, options) in EXAMPLES {
        let finished = ExampleProcess::run(name, &["--help"]);
        assert!(finished.status.success(), "{name}: {finished:?}");
        assert_eq!(finished.stderr, "", "{name}: {finished:?}");
        let help = &finished.stdout;
        assert!(help.starts_with(&format!("{name}: ")), "{help}");
        assert!(help.contains(&format!("\nusage: {name}")), "{help}");

        let entries = option_entries(help);
        if options.is_empty() {
            assert!(help.contains("It takes no options"), "{help}");
            assert!(entries.is_empty(), "{help}");
        } else {
            let listed: Vec<&str> = entries.iter().map(|(option, _)| option.as_str()).collect();
            let mut expected: Vec<&str> = options.iter().map(|(option, _)| *option).collect();
            expected.push("-h, --help");
            assert_eq!(listed, expected, "{help}");
            for ((option, meaning), (_, default)) in entries.iter().zip(options) {
                assert!(
                    meaning.ends_with(&format!("[default: {default}]")),
                    "{option}: {help}"
                );
                // Its meaning, not only its default.
                assert!(
                    meaning.len() > "[default: ]".len() + default.len(),
                    "{help}"
                );
            }
        }

        let short = ExampleProcess::run(name, &["-h"]);
        assert!(short.status.success(), "{name}: {short:?}");
        assert_eq!(short.stdout, finished.stdout, "{name}");
    }
}

#[test]
fn every_example_refuses_an_unknown_option_with_its_usage() {
    for (name, _) in EXAMPLES {
        for (args, message) in [
            (
                &["--no-such-option"][..],
                "unknown option `--no-such-option`",
            ),
            (&["extra"][..], "unexpected argument `extra`"),
        ] {
            let finished = ExampleProcess::run(name, args);
            assert!(!finished.status.success(), "{name} {args:?}: {finished:?}");
            assert!(
                finished.stderr.contains(message),
                "{name} {args:?}: {finished:?}"
            );
            assert!(
                finished.stderr.contains(&format!("usage: {name}")),
                "{name} {args:?}: {finished:?}"
            );
            assert_eq!(finished.stdout, "", "{name} {args:?}: {finished:?}");
        }
    }
}

#[test]
fn device_refuses_a_tick_count_that_is_not_a_number() {
    for args in [&["--ticks"][..], &["--ticks", "two"][..]] {
        let finished = ExampleProcess::run("device", args);
        assert_eq!(finished.status.code(), Some(2), "{args:?}: {finished:?}");
        assert!(finished.stderr.contains("--ticks"), "{finished:?}");
        assert!(finished.stderr.contains("usage: device"), "{finished:?}");
    }
}

/// The module docs (`//!`) of an example's source file, joined into one
/// line.
fn module_docs(name: &str) -> String {
    let file = match name {
        "echo" => "echo/main.rs".to_string(),
        other => format!("{other}.rs"),
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    let docs: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .flat_map(str::split_whitespace)
        .collect();
    docs.join(" ")
}

#[test]
fn module_docs_give_the_same_options_and_defaults_as_help() {
    for (name, options) in EXAMPLES {
        let docs = module_docs(name);
        if options.is_empty() {
            assert!(docs.contains("It takes no options"), "{name}: {docs}");
        }
        for (option, default) in options {
            let documented = format!("`{option}` (default `{default}`)");
            assert!(docs.contains(&documented), "{name}: {documented}");
        }
        assert!(docs.contains("`--help`"), "{name}: {docs}");
    }
}

#[test]
fn echo_runs_with_the_defaults_its_help_gives() {
    let help = ExampleProcess::run("echo", &["--help"]).stdout;
    let entries = option_entries(&help);
    let default = |option: &str| -> String {
        let (_, meaning) = entries
            .iter()
            .find(|(listed, _)| listed == option)
            .unwrap_or_else(|| panic!("no {option}: {help}"));
        let start = meaning.rfind("[default: ").expect("a default") + "[default: ".len();
        meaning[start..meaning.len() - 1].to_string()
    };
    // One load option starts the load; the others take their defaults.
    let finished = ExampleProcess::run("echo", &["--clients", "2"]);
    assert!(finished.status.success(), "{finished:?}");
    let listen = default("--listen ADDR");
    let host = listen
        .strip_suffix(":0")
        .expect("the default takes any port");
    assert!(
        finished
            .stdout
            .starts_with(&format!("listening on {host}:")),
        "{finished:?}"
    );
    let load = format!(
        "load: 2 clients, each sending {} messages of {} bytes",
        default("--messages M"),
        default("--size BYTES")
    );
    assert!(finished.stdout.contains(&load), "{load}: {finished:?}");
}
