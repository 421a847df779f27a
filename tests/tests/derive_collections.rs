//! `#[event(fd = name[..])]`: every element of a collection, one handler
//! given the element's index; the data range the derive keeps for itself;
//! handlers that take only what they use and may return an error.

use std::collections::VecDeque;
use std::fmt;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps,
};
use event_manager_tests::{derived_element_tag, derived_tag, eventfd, ready_eventfd, with_ops};
use vmm_sys_util::eventfd::EventFd;

/// A queue as VMMs keep them: the eventfd is shared with the guest side.
struct Queue {
    eventfd: Arc<EventFd>,
}

#[derive(MutEventSubscriber)]
#[event(fd = control)]
#[event(fd = queues[..].eventfd, handler = on_queue)]
#[event(fd = slots[..], handler = on_slot)]
struct Device {
    control: EventFd,
    queues: Vec<Queue>,
    slots: VecDeque<Option<EventFd>>,
    seen: Vec<(&'static str, usize, u32)>,
}

impl Device {
    fn new(queues: usize, slots: Vec<Option<EventFd>>) -> Self {
        Device {
            control: eventfd(),
            queues: (0..queues)
                .map(|_| Queue {
                    eventfd: Arc::new(eventfd()),
                })
                .collect(),
            slots: slots.into(),
            seen: Vec::new(),
        }
    }

    fn on_control(&mut self, events: Events) {
        self.control.read().unwrap();
        self.seen.push(("control", 0, events.data()));
    }

    fn on_queue(&mut self, index: usize, events: Events) {
        self.queues[index].eventfd.read().unwrap();
        self.seen.push(("queue", index, events.data()));
    }

    fn on_slot(&mut self, index: usize, events: Events, ops: &mut EventOps) {
        self.slots[index].as_ref().unwrap().read().unwrap();
        self.seen.push(("slot", index, events.data()));
        // A slot is served once, then closed.
        self.detach_slots(index, ops).unwrap();
        self.slots[index] = None;
    }
}

fn take_seen(
    manager: &mut EventManager<Device>,
    id: event_manager::SubscriberId,
) -> Vec<(&'static str, usize, u32)> {
    let mut seen = std::mem::take(&mut manager.subscriber_mut(id).unwrap().seen);
    seen.sort();
    seen
}

#[test]
fn every_element_reaches_one_handler_with_its_index() {
    let device = Device::new(5, vec![None, Some(eventfd()), None]);
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    let device = manager.subscriber_mut(id).unwrap();
    for queue in &device.queues {
        queue.eventfd.write(1).unwrap();
    }
    device.slots[1].as_ref().unwrap().write(1).unwrap();
    device.control.write(1).unwrap();

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 7);
    let mut expected: Vec<_> = (0..5)
        .map(|index| ("queue", index, derived_element_tag(1, index as u32)))
        .collect();
    expected.push(("control", 0, derived_tag(0)));
    expected.push(("slot", 1, derived_element_tag(2, 1)));
    expected.sort();
    assert_eq!(take_seen(&mut manager, id), expected);

    // The slot was detached by its handler; writing it again reaches no one.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

#[test]
fn none_elements_are_skipped_and_can_be_attached_later() {
    let device = Device::new(0, vec![None, None]);
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    let fresh = ready_eventfd();
    // Nothing is registered for the `None` slots: detaching one says so,
    // and so does attaching one that holds no fd.
    with_ops(
        &mut manager,
        id,
        Device::new(0, Vec::new()),
        |device, ops| {
            assert_eq!(device.detach_slots(0, ops), Err(Error::NoFd));
            assert_eq!(device.detach_slots(9, ops), Err(Error::NoFd));
            assert_eq!(device.attach_slots(1, ops), Err(Error::NoFd));
            device.slots[1] = Some(fresh);
            device.attach_slots(1, ops).unwrap();
            assert_eq!(device.attach_slots(1, ops), Err(Error::FdAlreadyRegistered));
        },
    );
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        take_seen(&mut manager, id),
        [("slot", 1, derived_element_tag(2, 1))]
    );
    // The handler detached and closed it.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

#[test]
fn attach_all_and_detach_all_walk_the_collection() {
    let device = Device::new(3, Vec::new());
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    with_ops(
        &mut manager,
        id,
        Device::new(0, Vec::new()),
        |device, ops| {
            device.detach_all_queues(ops).unwrap();
            for queue in &device.queues {
                queue.eventfd.write(1).unwrap();
            }
            // Detaching again fails for every element; the first error is
            // returned.
            assert_eq!(device.detach_all_queues(ops), Err(Error::FdNotRegistered));
        },
    );
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    with_ops(
        &mut manager,
        id,
        Device::new(0, Vec::new()),
        |device, ops| {
            device.attach_all_queues(ops).unwrap();
            device.set_queues_interest(2, ops, EventSet::OUT).unwrap();
        },
    );
    // Queues 0 and 1 are readable; queue 2 is writable, under its own tag.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 3);
    let seen = take_seen(&mut manager, id);
    assert_eq!(
        seen.iter()
            .map(|(_, index, data)| (*index, *data))
            .collect::<Vec<_>>(),
        (0..3)
            .map(|index| (index, derived_element_tag(1, index as u32)))
            .collect::<Vec<_>>()
    );
}

/// A hand registration of a derived subscriber stays below the derived
/// range, so it can only reach `fallback`, whatever data it picks.
#[derive(MutEventSubscriber)]
#[subscriber(fallback = on_other)]
#[event(fd = own)]
struct Mixed {
    own: EventFd,
    by_hand: EventFd,
    seen: Vec<(&'static str, u32)>,
}

impl Mixed {
    fn on_own(&mut self, events: Events) {
        self.seen.push(("own", events.data()));
    }

    fn on_other(&mut self, events: Events, _ops: &mut EventOps) {
        self.seen.push(("other", events.data()));
    }
}

#[test]
fn hand_registrations_of_a_derived_subscriber_cannot_take_a_derived_tag() {
    let mixed = Mixed {
        own: eventfd(),
        by_hand: ready_eventfd(),
        seen: Vec::new(),
    };
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(mixed);
    let by_hand = manager.subscriber_mut(id).unwrap().by_hand.as_raw_fd();
    let mut ops = manager.event_ops(id).unwrap();
    // The tag of `own`, and anything else at or above 2^31: refused.
    for data in [derived_tag(0), 0x8000_0000, u32::MAX] {
        assert_eq!(
            ops.add(Events::with_data_raw(by_hand, data, EventSet::IN)),
            Err(Error::DataReserved)
        );
    }
    ops.add(Events::with_data_raw(by_hand, 0x7fff_ffff, EventSet::IN))
        .unwrap();
    assert_eq!(
        ops.modify(Events::with_data_raw(by_hand, derived_tag(0), EventSet::IN)),
        Err(Error::DataReserved)
    );
    // The refused modify left the registration as it was.
    manager.subscriber_mut(id).unwrap().own.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    let mut seen = std::mem::take(&mut manager.subscriber_mut(id).unwrap().seen);
    seen.sort();
    assert_eq!(seen, [("other", 0x7fff_ffff), ("own", derived_tag(0))]);
}

/// A subscriber written by hand keeps every data value, as in 0.4.
struct ByHand(EventFd, Vec<u32>);

impl MutEventSubscriber for ByHand {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::with_data(&self.0, u32::MAX, EventSet::IN))
            .unwrap();
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        self.1.push(events.data());
    }
}

#[test]
fn hand_written_subscribers_keep_the_whole_data_range() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(ByHand(ready_eventfd(), Vec::new()));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().1, [u32::MAX]);
}

/// Elements are numbered up to 2^24 - 1; a later one is refused, not
/// folded onto another element's tag.
#[derive(MutEventSubscriber)]
#[subscriber(init_error = on_init_error)]
#[event(fd = many[..], handler = on_many)]
struct Many {
    many: Vec<Option<EventFd>>,
    errors: Vec<Error>,
}

impl Many {
    fn on_many(&mut self) {}
    fn on_init_error(&mut self, _source: &'static str, error: Error) {
        self.errors.push(error);
    }
}

#[test]
fn an_index_past_the_tag_space_is_an_error() {
    let last = 1 << 24;
    let mut many: Vec<Option<EventFd>> = Vec::new();
    many.resize_with(last + 1, || None);
    many[last] = Some(eventfd());
    many[last - 1] = Some(eventfd());
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Many {
        many,
        errors: Vec::new(),
    });
    let placeholder = Many {
        many: Vec::new(),
        errors: Vec::new(),
    };
    with_ops(&mut manager, id, placeholder, |many, ops| {
        assert_eq!(many.errors, [Error::IndexTooLarge]);
        // The element just below the limit was registered; the one past it
        // was not, and cannot be attached.
        assert_eq!(
            many.attach_many(last - 1, ops),
            Err(Error::FdAlreadyRegistered)
        );
        // Past the tag space, every method says so first, whatever the
        // collection holds there.
        assert_eq!(many.attach_many(last, ops), Err(Error::IndexTooLarge));
        assert_eq!(many.detach_many(last, ops), Err(Error::IndexTooLarge));
        assert_eq!(
            many.set_many_interest(last, ops, EventSet::IN),
            Err(Error::IndexTooLarge)
        );
    });
}

/// Handlers that return errors, sent to `handler_error` with the
/// handler's source and index.
#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)]
#[event(fd = workers[..], handler = on_worker)]
#[event(fd = control)]
struct Fallible {
    workers: [EventFd; 3],
    control: EventFd,
    errors: Vec<String>,
}

#[derive(Debug)]
struct Refused(usize);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} refused", self.0)
    }
}

impl Fallible {
    fn on_worker(&mut self, index: usize) -> Result<(), Refused> {
        self.workers[index].read().unwrap();
        if index == 1 {
            return Err(Refused(index));
        }
        Ok(())
    }

    fn on_control(&mut self) -> std::io::Result<()> {
        self.control.read()?;
        // Read again: the counter is 0 and the eventfd non-blocking.
        self.control.read()?;
        Ok(())
    }

    fn on_error(
        &mut self,
        source: &'static str,
        index: usize,
        error: &dyn fmt::Display,
        ops: &mut EventOps,
    ) {
        self.errors.push(format!("{source} #{index}: {error}"));
        // A failing worker is not watched any more.
        if source == "workers[..]" {
            self.detach_workers(index, ops).unwrap();
        }
    }
}

#[test]
fn handler_errors_reach_the_error_method_with_source_and_index() {
    let nonblocking = || EventFd::new(vmm_sys_util::eventfd::EFD_NONBLOCK).unwrap();
    let fallible = Fallible {
        workers: [nonblocking(), nonblocking(), nonblocking()],
        control: nonblocking(),
        errors: Vec::new(),
    };
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(fallible);
    let fallible = manager.subscriber_mut(id).unwrap();
    for worker in &fallible.workers {
        worker.write(1).unwrap();
    }
    fallible.control.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 4);
    let mut errors = std::mem::take(&mut manager.subscriber_mut(id).unwrap().errors);
    errors.sort();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("control #0: Resource temporarily unavailable"),
        "{errors:?}"
    );
    assert_eq!(errors[1], "workers[..] #1: worker 1 refused");

    // Worker 1 was detached by the error method; the others still work.
    let fallible = manager.subscriber_mut(id).unwrap();
    for worker in &fallible.workers {
        worker.write(1).unwrap();
    }
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
}

/// The interest comes from an expression evaluated when the fd is
/// registered.
#[derive(MutEventSubscriber)]
#[event(fd = socket, set = self.interest())]
struct Chooser {
    socket: std::os::unix::net::UnixStream,
    writable: bool,
    seen: Vec<EventSet>,
}

impl Chooser {
    fn interest(&self) -> EventSet {
        if self.writable {
            EventSet::OUT
        } else {
            EventSet::IN
        }
    }

    fn on_socket(&mut self, events: Events) {
        self.seen.push(events.event_set());
    }
}

#[test]
fn the_interest_may_be_an_expression() {
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut manager = EventManager::new().unwrap();
    let reader = manager.add_subscriber(Chooser {
        socket,
        writable: false,
        seen: Vec::new(),
    });
    // Not readable: nothing.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);

    let (placeholder, _other) = std::os::unix::net::UnixStream::pair().unwrap();
    let placeholder = Chooser {
        socket: placeholder,
        writable: false,
        seen: Vec::new(),
    };
    with_ops(&mut manager, reader, placeholder, |chooser, ops| {
        chooser.detach_socket(ops).unwrap();
        chooser.writable = true;
        chooser.attach_socket(ops).unwrap();
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager.subscriber_mut(reader).unwrap().seen,
        [EventSet::OUT]
    );
}

/// A rate limiter that limits nothing has no timer: its fd is -1.
struct Limiter(Option<EventFd>);

impl AsRawFd for Limiter {
    fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
        self.0.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

#[derive(MutEventSubscriber)]
#[event(fd = limiter)]
#[event(fd = spare)]
struct Limited {
    limiter: Limiter,
    spare: Option<Limiter>,
    fired: u32,
}

impl Limited {
    fn on_limiter(&mut self) {
        self.fired += 1;
    }
    fn on_spare(&mut self) {}
}

#[test]
fn a_field_whose_fd_is_negative_is_not_registered() {
    let mut manager = EventManager::new().unwrap();
    // Before the fix, `init` asked epoll for fd -1 and panicked.
    let id = manager.add_subscriber(Limited {
        limiter: Limiter(None),
        spare: Some(Limiter(None)),
        fired: 0,
    });
    let placeholder = Limited {
        limiter: Limiter(None),
        spare: None,
        fired: 0,
    };
    with_ops(&mut manager, id, placeholder, |limited, ops| {
        assert_eq!(limited.detach_limiter(ops), Err(Error::NoFd));
        assert_eq!(limited.detach_spare(ops), Err(Error::NoFd));
        limited.limiter = Limiter(Some(ready_eventfd()));
        limited.attach_limiter(ops).unwrap();
    });
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(manager.subscriber_mut(id).unwrap().fired, 1);
}
