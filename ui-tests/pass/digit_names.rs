//! Names whose part after the leading underscores starts with a digit
//! (which the macro once panicked on): the field `_8d` gives `on_8d` and
//! `attach_8d`, and the handler `on_9` gives `attach_9`, with no lint.
#![deny(warnings)]
use event_manager::{EventOps, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = _8d)]
struct Device {
    _8d: EventFd,
}

impl Device {
    fn on_8d(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[event(fd = 0, handler = on_9)]
struct Pair(EventFd);

impl Pair {
    fn on_9(&mut self) {}
}

fn attach(device: &Device, pair: &Pair, ops: &mut EventOps) {
    let _ = device.attach_8d(ops);
    let _ = pair.attach_9(ops);
}

fn main() {
    let _ = attach;
}
