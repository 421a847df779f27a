use event_manager::{Events, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(Clone, Copy)]
enum NetSource {
    Tap,
}

#[derive(MutEventSubscriber)]
#[subscriber(before = check)] // takes a `source`, but there is no `#[subscriber(sources = NetSource)]`
#[event(fd = tap)]
struct Net {
    tap: EventFd,
}

impl Net {
    fn check(&mut self, source: NetSource, _events: Events) -> bool {
        matches!(source, NetSource::Tap)
    }
    fn on_tap(&mut self) {}
}

fn main() {}
