#![deny(warnings, unused_qualifications, rust_2018_idioms, missing_debug_implementations)]
#![deny(clippy::all, clippy::pedantic)]

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use std::os::unix::net::UnixStream;
use vmm_sys_util::eventfd::EventFd;

#[derive(Debug, MutEventSubscriber)]
#[subscriber(init = register_more, fallback = on_other, init_error = on_init_error)]
#[event(fd = kick, set = "IN", handler = on_kick)]
#[event(fd = conn, set = "IN | READ_HANG_UP | EDGE_TRIGGERED")]
#[event(fd = timer)]
struct Device {
    kick: EventFd,
    conn: Option<UnixStream>,
    timer: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_conn(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_timer(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_other(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn register_more(&mut self, _ops: &mut EventOps<'_>) {}
    fn on_init_error(&mut self, _field: &'static str, _error: event_manager::Error) {}
}

fn main() {
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    manager.add_subscriber(Box::new(Device {
        kick: EventFd::new(0).unwrap(),
        conn: None,
        timer: EventFd::new(0).unwrap(),
    }));
}
