use event_manager::{EventOps, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick, set = "INN")]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {
    // The trait is still implemented (by a stub), so this line adds no error.
    let mut manager = event_manager::EventManager::<Device>::new().unwrap();
    let _ = event_manager::SubscriberOps::add_subscriber(&mut manager, Device { kick: EventFd::new(0).unwrap() });
}
