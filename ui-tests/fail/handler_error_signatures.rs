use event_manager::{Error, MutEventSubscriber};
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)] // takes a `String`: neither `&dyn Display` nor the handlers' `std::io::Error`
#[event(fd = kick)]
struct Device {
    kick: EventFd,
}

impl Device {
    fn on_kick(&mut self) -> Result<(), std::io::Error> {
        self.kick.read().map(drop)
    }
    fn on_error(&mut self, _source: &'static str, _index: usize, _error: String) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(init_error = on_init_error)] // `index` goes before `error`
#[event(fd = kick)]
struct Setup {
    kick: EventFd,
}

impl Setup {
    fn on_kick(&mut self) {}
    fn on_init_error(&mut self, _source: &'static str, _error: Error, _index: usize) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error)] // not a `handler_error`, even if no handler returns an error
#[event(fd = kick)]
struct Quiet {
    kick: EventFd,
}

impl Quiet {
    fn on_kick(&mut self) {}
    fn on_error(&self, _code: u32) -> String {
        String::new()
    }
}

fn main() {}
