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

// Strings that are not Rust tokens at all: reported at the string.
#[derive(MutEventSubscriber)]
#[subscriber(bound = "S: \"unterminated", for = "Lexes<'\\u{zz}'>", crate = "a::b'")]
#[event(fd = kick)]
struct Lexes<S> {
    kick: S,
}

impl<S> Device<S> {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps) {}
}

fn main() {}
