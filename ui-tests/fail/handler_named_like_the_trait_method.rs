use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

// `Self::process` and `Self::init` would be the derived trait methods
// themselves: the generated code would call itself forever.
#[derive(MutEventSubscriber)]
#[subscriber(init = init)]
#[event(fd = kick, handler = process)]
struct Device {
    kick: EventFd,
}

fn main() {}
