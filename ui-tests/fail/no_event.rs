use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
struct Device {
    kick: EventFd,
}

fn main() {}
