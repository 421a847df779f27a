//! Raw identifiers, and input that arrives through `macro_rules!` (whose
//! fragments come wrapped in invisible groups).
#![deny(warnings, unused_qualifications, rust_2018_idioms)]

use event_manager::{EventManager, EventOps, EventSubscriber, Events, MutEventSubscriber, SubscriberOps};
use vmm_sys_util::eventfd::EventFd;

macro_rules! subscriber {
    ($name:ident, $field:ident, $set:literal, $handler:ident) => {
        #[derive(EventSubscriber)]
        #[event(fd = $field, set = $set, handler = $handler)]
        struct $name {
            $field: EventFd,
        }

        impl $name {
            fn $handler(&self, _events: Events, _ops: &mut EventOps<'_>) {}
        }
    };
}

subscriber!(Wrapped, kick, "IN | ERROR", on_kick);

#[derive(MutEventSubscriber)]
#[event(fd = r#type)]
struct Keyword {
    r#type: EventFd,
}

impl Keyword {
    fn on_type(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
}

fn main() {
    let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    let _ = manager.add_subscriber(Box::new(Keyword { r#type: EventFd::new(0).unwrap() }));
    let _ = manager.add_subscriber(Box::new(Spellings {
        kick: EventFd::new(0).unwrap(),
        _timer: EventFd::new(0).unwrap(),
    }));
    let shared: std::rc::Rc<dyn EventSubscriber> = std::rc::Rc::new(Wrapped { kick: EventFd::new(0).unwrap() });
    let _ = manager.add_subscriber(Box::new(shared));
}

/// A raw field name and its plain spelling name the same field, and a
/// leading underscore is left out of the default handler name.
#[derive(MutEventSubscriber)]
#[event(fd = r#kick)]
#[event(fd = _timer)]
struct Spellings {
    kick: EventFd,
    _timer: EventFd,
}

impl Spellings {
    fn on_kick(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
    fn on_timer(&mut self, _events: Events, _ops: &mut EventOps<'_>) {}
}
