use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

// Only a plain decimal index names a tuple field; a suffixed string is not
// a flag list; a keyword field name is written `r#type`.
#[derive(MutEventSubscriber)]
#[event(fd = 0x1, handler = on_first)]
#[event(fd = 0, set = "IN"bogus, handler = on_zero)]
#[event(fd = "type")]
struct Device(EventFd, EventFd);

impl Device {
    fn on_first(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_zero(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
