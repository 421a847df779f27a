use event_manager::{EventOps, Events, MutEventSubscriber};

#[derive(MutEventSubscriber)]
#[subscriber(bound = "", for = "Other<u8>")]
#[event(fd = kick)]
struct Device<S> {
    kick: S,
}

#[derive(MutEventSubscriber)]
#[subscriber(bound = "S AsRawFd", for = Device<u8>)] // `for` names another struct
#[event(fd = kick)]
struct Again<S> {
    kick: S,
}

#[derive(MutEventSubscriber)]
#[subscriber(bound = S: Send, init = setup)]
#[event(fd = kick)]
struct Unquoted<S> {
    kick: S,
}

impl<S> Device<S> {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
