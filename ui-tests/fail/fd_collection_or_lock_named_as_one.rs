use event_manager::MutEventSubscriber;
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::EventFd;

struct Serial {
    out: EventFd,
}

struct Console {
    input: EventFd,
}

#[derive(MutEventSubscriber)]
#[event(fd = queue_evts, handler = on_queue)] // a `Vec` of fds named as one fd
#[event(fd = ring, handler = on_ring)] // an array of fds named as one fd
#[event(fd = serial, handler = on_serial)] // an fd behind `Arc<Mutex<..>>`, not locked
#[event(fd = console, handler = on_console)] // an fd behind a `Mutex`, not locked
struct Device {
    queue_evts: Vec<EventFd>,
    ring: [EventFd; 2],
    serial: Arc<Mutex<Serial>>,
    console: Mutex<Console>,
}

impl Device {
    fn on_queue(&mut self) {}
    fn on_ring(&mut self) {}
    fn on_serial(&mut self) {}
    fn on_console(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[event(fd = queues, handler = on_queue)] // a borrowed `Vec` of fds named as one fd
struct Borrowed<'a> {
    queues: &'a Vec<EventFd>,
}

impl Borrowed<'_> {
    fn on_queue(&mut self) {}
}

fn main() {}
