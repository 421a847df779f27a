//! A capacity that the API accepts but memory does not hold is an error,
//! not an abort. The check lowers `RLIMIT_AS`, which would limit every
//! thread of the test process, so it runs in a child process: this test
//! binary started again with an environment variable.

use std::process::Command;

use event_manager::{Error, EventManager, MutEventSubscriber, MAX_READY_EVENTS_CAPACITY};
use vmm_sys_util::errno::Error as Errno;

const CHILD: &str = "EVENT_MANAGER_MEMORY_LIMIT_CHILD";
const TEST: &str = "the_largest_capacity_under_a_memory_limit_is_an_error";

/// 1 GiB of address space: room for the process, not for the
/// `MAX_READY_EVENTS_CAPACITY` ready list (about 2 GiB).
const LIMIT: libc::rlim_t = 1 << 30;

#[test]
fn the_largest_capacity_under_a_memory_limit_is_an_error() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}{stderr}",
        output.status
    );
    assert!(stdout.contains("child: ENOMEM"), "{stdout}{stderr}");
}

fn child() {
    let limit = libc::rlimit {
        rlim_cur: LIMIT,
        rlim_max: LIMIT,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call; lowering
    // the limit affects only this child process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let manager =
        EventManager::<Box<dyn MutEventSubscriber>>::new_with_capacity(MAX_READY_EVENTS_CAPACITY);
    assert_eq!(manager.err(), Some(Error::Epoll(Errno::new(libc::ENOMEM))));
    // A capacity that fits still works under the same limit.
    assert!(EventManager::<Box<dyn MutEventSubscriber>>::new_with_capacity(1 << 20).is_ok());
    println!("child: ENOMEM");
}
