//! One subscriber, one event, one endpoint request, with the oldest
//! vmm-sys-util event-manager accepts.

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
// The user's own vmm-sys-util: this only compiles if event-manager was
// built against the same copy.
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

struct Reader(EventFd, u64);

impl MutEventSubscriber for Reader {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.0, EventSet::IN)).expect("register");
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.1 += self.0.read().expect("read");
    }
}

fn main() {
    let mut manager = EventManager::new().expect("manager");
    let fd = EventFd::new(0).expect("eventfd");
    fd.write(3).expect("write");
    let id = manager.add_subscriber(Reader(fd, 0));
    assert_eq!(manager.run_with_timeout(1000), Ok(1));
    manager
        .remote_endpoint()
        .fire(move |ops| {
            ops.remove_subscriber(id).expect("remove");
        })
        .expect("fire");
    assert_eq!(manager.run_with_timeout(1000), Ok(1));
    assert!(manager.subscriber_mut(id).is_err());
    println!("event-manager works with vmm-sys-util 0.12.1");
}
