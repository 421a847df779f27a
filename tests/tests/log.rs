//! `#[subscriber(init_error = "log")]`: a field whose registration fails
//! is logged through the `log` facade, and the subscriber runs with the
//! fds that did register. The shape is a VMM's metrics subscriber: a
//! metrics timer and an API eventfd, where the API eventfd is already
//! watched by someone else.

use std::os::unix::io::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use event_manager_tests::Probe;
use log::{Level, LevelFilter, Log, Metadata, Record};
use vmm_sys_util::eventfd::EventFd;
use vmm_sys_util::timerfd::TimerFd;

/// Every record logged in this test binary, as (level, message).
static RECORDS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct KeepRecords;

impl Log for KeepRecords {
    fn enabled(&self, _metadata: &Metadata) -> bool {
        true
    }
    fn log(&self, record: &Record) {
        let entry = (record.level(), record.args().to_string());
        RECORDS.lock().unwrap().push(entry);
    }
    fn flush(&self) {}
}

fn install_logger() {
    // Several tests of this binary call it; the first one installs it.
    let _ = log::set_logger(&KeepRecords);
    log::set_max_level(LevelFilter::Trace);
}

fn records_naming(needle: &str) -> Vec<(Level, String)> {
    let records = RECORDS.lock().unwrap();
    records
        .iter()
        .filter(|(_, message)| message.contains(needle))
        .cloned()
        .collect()
}

/// The number of an fd that something else owns.
struct Borrowed(RawFd);

impl AsRawFd for Borrowed {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

#[derive(MutEventSubscriber)]
#[subscriber(init_error = "log")]
#[event(fd = metrics)]
#[event(fd = api)]
struct Metrics {
    metrics: TimerFd,
    api: Borrowed,
    flushes: Arc<AtomicU64>,
    api_requests: Arc<AtomicU64>,
}

impl Metrics {
    fn on_metrics(&mut self, _events: Events, _ops: &mut EventOps) {
        let expirations = self.metrics.wait().unwrap();
        self.flushes.fetch_add(expirations, Ordering::Relaxed);
    }

    fn on_api(&mut self, _events: Events, _ops: &mut EventOps) {
        self.api_requests.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_failed_registration_is_logged_and_the_subscriber_keeps_running() {
    install_logger();
    let api = EventFd::new(0).unwrap();
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    // Someone else watches the API eventfd already.
    manager.add_subscriber(Box::new(Probe::new(vec![Events::new(&api, EventSet::IN)])));

    let mut metrics = TimerFd::new().unwrap();
    metrics.reset(Duration::from_millis(1), None).unwrap();
    let flushes = Arc::new(AtomicU64::new(0));
    let api_requests = Arc::new(AtomicU64::new(0));
    let id = manager.add_subscriber(Box::new(Metrics {
        metrics,
        api: Borrowed(api.as_raw_fd()),
        flushes: flushes.clone(),
        api_requests: api_requests.clone(),
    }));

    let logged = records_naming("log::Metrics");
    assert_eq!(logged.len(), 1, "{logged:?}");
    let (level, message) = &logged[0];
    assert_eq!(*level, Level::Error);
    assert!(message.contains("field `api`"), "{message}");
    assert!(
        message.contains(&event_manager::Error::FdAlreadyRegistered.to_string()),
        "{message}"
    );

    // The timer registered and fires; run blocks until it does.
    assert_eq!(manager.run().unwrap(), 1);
    assert_eq!(flushes.load(Ordering::Relaxed), 1);
    // The API eventfd's events go to the subscriber that registered it.
    api.write(1).unwrap();
    assert_eq!(manager.run().unwrap(), 1);
    assert_eq!(api_requests.load(Ordering::Relaxed), 0);
    manager.remove_subscriber(id).unwrap();
}

#[derive(MutEventSubscriber)]
#[subscriber(init_error = "panic")]
#[event(fd = file)]
struct PanicsOnFailure {
    file: std::fs::File,
}

impl PanicsOnFailure {
    fn on_file(&mut self, _events: Events, _ops: &mut EventOps) {
        unreachable!("{:?} is a regular file, never registered", self.file);
    }
}

#[test]
fn init_error_panic_is_the_default_written_out() {
    install_logger();
    let mut manager = EventManager::<PanicsOnFailure>::new().unwrap();
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        manager.add_subscriber(PanicsOnFailure { file })
    }))
    .expect_err("init must panic");
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("log::PanicsOnFailure"), "{message}");
    assert!(
        message.contains("Operation not permitted (os error 1)"),
        "{message}"
    );
    assert!(records_naming("PanicsOnFailure").is_empty());
}
