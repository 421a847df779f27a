use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(crate = 5)]
#[event(fd = kick, set = "IN | BOGUS", hadler = on_kick)]
#[event(set = "OUT")]
#[event(fd = missing)]
struct Device {
    kick: EventFd,
}

fn main() {}
