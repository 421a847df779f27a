use event_manager::{EventSet, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = count[..], handler = on_count)] // not a collection
#[event(fd = names[..], handler = on_name)] // elements that are not fds
#[event(fd = kick, set = EventSet::IN.bits())] // an interest that is not an `EventSet`
#[event(fd = other, when = 1)] // a condition that is not a `bool`
struct Device {
    count: u32,
    names: Vec<String>,
    kick: EventFd,
    other: EventFd,
}

impl Device {
    fn on_count(&mut self) {}
    fn on_name(&mut self, _index: usize) {}
    fn on_kick(&mut self) {}
    fn on_other(&mut self) {}
}

fn main() {}
