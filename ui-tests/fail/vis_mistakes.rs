use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(vis = "")] // an empty visibility
#[event(fd = kick)]
pub struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(vis = "private")] // not a Rust visibility: private is `pub(self)`
#[event(fd = kick)]
pub struct Other {
    kick: EventFd,
}

impl Other {
    fn on_kick(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(vis = private)] // the same, unquoted
#[event(fd = kick)]
pub struct Third {
    kick: EventFd,
}

impl Third {
    fn on_kick(&mut self) {}
}

fn main() {}
