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
    // One timer read may count two ticks, so no line per tick is expected.
    let ticks: u64 = finished
        .stdout
        .split("device: stopped after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no final line: {finished:?}"));
    assert!(ticks >= 2, "{finished:?}");
    for expected in [
        "device: backend connected",
        "device: tick ",
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
fn echo_load_comes_back_verified() {
    let finished = ExampleProcess::run(
        "echo",
        &["--clients", "4", "--messages", "50", "--size", "3000"],
    );
    assert!(finished.status.success(), "{finished:?}");
    assert!(
        finished
            .stdout
            .contains("load: 4 connections, 200 messages, 600000 bytes each way, verified"),
        "{finished:?}"
    );
    assert!(
        finished.stdout.contains(
            "stopped by the end of the load: 4 connections accepted, 4 finished, 0 failed, 0 still open, 600000 bytes echoed"
        ),
        "{finished:?}"
    );
}

#[test]
fn echo_help_is_not_an_error() {
    let finished = ExampleProcess::run("echo", &["--help"]);
    assert!(finished.status.success(), "{finished:?}");
    assert!(finished.stdout.starts_with("usage: echo"), "{finished:?}");
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
    ] {
        let finished = ExampleProcess::run("echo", args);
        assert_eq!(finished.status.code(), Some(2), "{args:?}: {finished:?}");
        assert!(finished.stderr.contains(message), "{args:?}: {finished:?}");
    }
}
