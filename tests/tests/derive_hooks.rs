//! `#[subscriber(before = ..., after = ...)]`: one method sees every event
//! before its handler and may skip it, another runs after each handled
//! event. The shape is a virtio device's: queue handlers that only want
//! `IN`, and "signal the used queues" after each event.

use std::io::pipe;

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(before = only_input, after = signal_used_queues)]
#[event(fd = rx)]
#[event(fd = tx)]
#[event(fd = tap)]
struct Device {
    rx: EventFd,
    tx: EventFd,
    /// The write end of a pipe, watched for `IN`: it never has input, and
    /// reports `ERROR` once the read end is closed.
    tap: std::io::PipeWriter,
    handled: Vec<&'static str>,
    skipped: Vec<EventSet>,
    interrupts: u32,
}

impl Device {
    fn only_input(&mut self, events: Events, _ops: &mut EventOps) -> bool {
        let input = events.event_set().contains(EventSet::IN);
        if !input {
            self.skipped.push(events.event_set());
        }
        input
    }

    fn signal_used_queues(&mut self, _ops: &mut EventOps) {
        self.interrupts += 1;
    }

    fn on_rx(&mut self, _events: Events, _ops: &mut EventOps) {
        self.rx.read().unwrap();
        self.handled.push("rx");
    }

    fn on_tx(&mut self, _events: Events, _ops: &mut EventOps) {
        self.tx.read().unwrap();
        self.handled.push("tx");
    }

    fn on_tap(&mut self, _events: Events, _ops: &mut EventOps) {
        self.handled.push("tap");
    }
}

fn device() -> (Device, std::io::PipeReader) {
    let (reader, tap) = pipe().unwrap();
    let device = Device {
        rx: EventFd::new(0).unwrap(),
        tx: EventFd::new(0).unwrap(),
        tap,
        handled: Vec::new(),
        skipped: Vec::new(),
        interrupts: 0,
    };
    (device, reader)
}

#[test]
fn after_runs_once_per_handled_event() {
    let (device, _reader) = device();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    manager.subscriber_mut(id).unwrap().rx.write(1).unwrap();
    manager.subscriber_mut(id).unwrap().tx.write(1).unwrap();

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    let device = manager.subscriber_mut(id).unwrap();
    let mut handled = device.handled.clone();
    handled.sort();
    assert_eq!(handled, ["rx", "tx"]);
    assert_eq!(device.interrupts, 2);
    assert!(device.skipped.is_empty());
}

#[test]
fn before_skips_an_event_without_input_and_then_after_does_not_run() {
    let (device, reader) = device();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(device);
    // The read end closes: the write end reports ERROR, without IN.
    drop(reader);

    // The event reached `process` (and is counted), but not the handler.
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let device = manager.subscriber_mut(id).unwrap();
    assert!(device.handled.is_empty(), "{:?}", device.handled);
    assert_eq!(device.interrupts, 0);
    assert_eq!(device.skipped.len(), 1);
    assert!(device.skipped[0].contains(EventSet::ERROR));
}
