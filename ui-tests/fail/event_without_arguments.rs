use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event]
#[event = "kick"]
struct Device {
    kick: EventFd,
}

fn main() {}
