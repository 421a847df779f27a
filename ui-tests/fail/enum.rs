use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = kick)]
enum Device {
    Idle(EventFd),
}

fn main() {}
