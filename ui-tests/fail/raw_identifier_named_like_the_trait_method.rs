use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

// `r#process` is `process` written as a raw identifier: still the trait's.
#[derive(MutEventSubscriber)]
#[subscriber(fallback = r#process)]
#[event(fd = kick, handler = r#init)]
struct Device {
    kick: EventFd,
}

fn main() {}
