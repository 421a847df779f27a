use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick, handler = on_kick)]
#[event(fd = timer)]
struct Device {
    kick: EventFd,
    timer: EventFd,
}

fn main() {}
