use event_manager::MutEventSubscriber;
use std::ops::Deref;
use vmm_sys_util::eventfd::EventFd;

// Derefs to an fd, but is not one itself.
struct Trigger(EventFd);

impl Deref for Trigger {
    type Target = EventFd;
    fn deref(&self) -> &EventFd {
        &self.0
    }
}

struct Inner {
    evt: EventFd,
}

impl Inner {
    fn trigger(&self) -> Option<Trigger> {
        self.evt.try_clone().ok().map(Trigger)
    }
}

#[derive(MutEventSubscriber)]
#[event(fd = inner.trigger(), handler = on_trigger)] // an `Option` of a type that only derefs to an fd
struct Device {
    inner: Inner,
}

impl Device {
    fn on_trigger(&mut self) {}
}

fn main() {}
