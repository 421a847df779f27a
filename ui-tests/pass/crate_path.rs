//! `crate = ...` points the generated code at a re-export of the runtime,
//! as a path or as a string.
#![deny(warnings, unused_qualifications, rust_2018_idioms)]

mod platform {
    pub mod events {
        pub use event_manager as runtime;
    }
}

use platform::events::runtime::{self, EventOps, Events, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

#[derive(runtime::MutEventSubscriber)]
#[subscriber(crate = platform::events::runtime)]
#[event(fd = kick)]
struct ByPath {
    kick: EventFd,
}

impl ByPath {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
}

#[derive(runtime::EventSubscriber)]
#[subscriber(crate = "crate::platform::events::runtime")]
#[event(fd = kick)]
struct ByString {
    kick: EventFd,
}

impl ByString {
    fn on_kick(&self, _events: Events, _ops: &mut EventOps<'_>) {}
}

fn main() {
    let mut manager = runtime::EventManager::<Box<dyn runtime::MutEventSubscriber>>::new().unwrap();
    let _ = manager.add_subscriber(Box::new(ByPath { kick: EventFd::new(0).unwrap() }));
    let shared = std::sync::Arc::new(ByString { kick: EventFd::new(0).unwrap() });
    let _ = manager.add_subscriber(Box::new(shared));
}
