//! Pausing a derived source, as the derive's reference tells it: an empty
//! interest through `set_<name>_interest` does not silence a source that
//! hung up (the kernel reports `HANG_UP` whatever the interest), while
//! `EventOps::pause` takes the fd out of epoll until `EventOps::resume`.

use std::os::unix::net::UnixStream;

use event_manager::{EventManager, EventSet, Events, MutEventSubscriber, SubscriberOps};
use event_manager_tests::with_ops;

#[derive(MutEventSubscriber)]
#[subscriber(vis = "pub(self)")]
#[event(fd = tap)]
struct Tap {
    tap: UnixStream,
    seen: Vec<EventSet>,
}

impl Tap {
    fn new(tap: UnixStream) -> Self {
        Tap {
            tap,
            seen: Vec::new(),
        }
    }

    /// Unused: a stand-in for the subscriber while `with_ops` lends it.
    fn placeholder() -> Self {
        Tap::new(UnixStream::pair().unwrap().0)
    }

    fn on_tap(&mut self, events: Events) {
        self.seen.push(events.event_set());
    }
}

/// A manager with a `Tap` whose peer has gone: its fd reports `HANG_UP`
/// (and `IN`, end of file) at every wait until it is silenced.
fn hung_up_tap() -> (EventManager<Tap>, event_manager::SubscriberId) {
    let (tap, peer) = UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Tap::new(tap));
    drop(peer);
    (manager, id)
}

fn take_seen(manager: &mut EventManager<Tap>, id: event_manager::SubscriberId) -> Vec<EventSet> {
    std::mem::take(&mut manager.subscriber_mut(id).unwrap().seen)
}

/// `seen` is `count` events of a hung-up fd watched for `IN`: `HANG_UP`,
/// and `IN` for the end of file.
fn assert_hung_up_and_readable(seen: &[EventSet], count: usize) {
    assert_eq!(seen.len(), count, "{seen:?}");
    for set in seen {
        assert!(set.contains(EventSet::IN | EventSet::HANG_UP), "{set:?}");
    }
}

#[test]
fn an_empty_interest_does_not_silence_a_hung_up_source() {
    let (mut manager, id) = hung_up_tap();
    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        tap.set_tap_interest(ops, EventSet::empty())
    })
    .unwrap();

    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(
        take_seen(&mut manager, id),
        [EventSet::HANG_UP, EventSet::HANG_UP]
    );
}

#[test]
fn pause_silences_a_hung_up_source_until_resume() {
    let (mut manager, id) = hung_up_tap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_hung_up_and_readable(&take_seen(&mut manager, id), 1);

    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        ops.pause(&tap.tap)
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(take_seen(&mut manager, id), []);

    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        ops.resume(&tap.tap)
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_hung_up_and_readable(&take_seen(&mut manager, id), 2);
}

#[test]
fn pause_silences_what_an_empty_interest_does_not() {
    let (mut manager, id) = hung_up_tap();
    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        tap.set_tap_interest(ops, EventSet::empty())
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);

    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        ops.pause(&tap.tap)
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        ops.resume(&tap.tap)
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(take_seen(&mut manager, id), [EventSet::HANG_UP; 3]);
}

#[test]
fn a_handler_pauses_its_own_source_and_keeps_it_attached() {
    #[derive(MutEventSubscriber)]
    #[subscriber(vis = "pub(self)")]
    #[event(fd = tap, when = self.watched)]
    struct Pausing {
        tap: UnixStream,
        watched: bool,
        seen: u32,
    }

    impl Pausing {
        fn on_tap(&mut self, events: Events, ops: &mut event_manager::EventOps) {
            assert!(events.event_set().contains(EventSet::HANG_UP));
            self.seen += 1;
            ops.pause(&self.tap).unwrap();
        }
    }

    let (tap, peer) = UnixStream::pair().unwrap();
    let placeholder = || Pausing {
        tap: UnixStream::pair().unwrap().0,
        watched: true,
        seen: 0,
    };
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Pausing {
        tap,
        watched: true,
        seen: 0,
    });
    drop(peer);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, 1);

    // Paused, the source is still this subscriber's: `sync_registrations`
    // leaves it as it is, and `resume` gives it back to epoll.
    with_ops(&mut manager, id, placeholder(), |pausing, ops| {
        pausing.sync_registrations(ops).unwrap();
        assert_eq!(ops.is_paused(&pausing.tap), Ok(true));
        ops.resume(&pausing.tap)
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen, 2);
}

#[test]
fn set_interest_while_paused_changes_what_resume_gives_back() {
    let (mut manager, id) = hung_up_tap();
    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        ops.pause(&tap.tap)?;
        tap.set_tap_interest(ops, EventSet::empty())?;
        assert_eq!(ops.is_paused(&tap.tap), Ok(true));
        Ok::<_, event_manager::Error>(())
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    with_ops(&mut manager, id, Tap::placeholder(), |tap, ops| {
        ops.resume(&tap.tap)
    })
    .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    // `IN` was the interest before the pause; the empty one is back.
    assert_eq!(take_seen(&mut manager, id), [EventSet::HANG_UP]);
}
