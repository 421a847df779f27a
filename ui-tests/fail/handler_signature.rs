use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick)]
#[event(fd = timer)]
#[event(fd = queues[..], handler = on_queue)]
#[event(fd = tap, handler = on_tap)]
#[event(fd = rx, handler = on_rx)]
struct Device {
    kick: EventFd,
    timer: EventFd,
    queues: Vec<EventFd>,
    tap: EventFd,
    rx: EventFd,
}

impl Device {
    // Parameters in another order than index, events, ops.
    fn on_kick(&mut self, _ops: &mut EventOps, _events: Events) {}
    // A return type that is neither `()` nor `Result<(), E>`.
    fn on_timer(&mut self, _events: Events, _ops: &mut EventOps) -> bool {
        true
    }
    // The index is a `usize`.
    fn on_queue(&mut self, _index: u32, _events: Events) {}
    // An error type without `Display`.
    fn on_tap(&mut self) -> Result<(), NoDisplay> {
        Ok(())
    }
    // No receiver.
    fn on_rx(_events: Events) {}
}

struct NoDisplay;

fn main() {}
