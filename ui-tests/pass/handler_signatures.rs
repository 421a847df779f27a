//! Every parameter list a handler may have, with and without an index,
//! returning `()` or a `Result`, and hooks that take only `&mut self`.
use event_manager::{EventOps, Events, MutEventSubscriber};
use std::collections::VecDeque;
use std::fmt;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error, before = keep, after = done)]
#[event(fd = a)]
#[event(fd = b)]
#[event(fd = c)]
#[event(fd = d)]
#[event(fd = e[..])]
#[event(fd = f[..])]
#[event(fd = g[..])]
#[event(fd = h[..].fd)]
#[event(fd = i[..])]
struct Device {
    a: EventFd,
    b: EventFd,
    c: EventFd,
    d: EventFd,
    e: Vec<EventFd>,
    f: [EventFd; 2],
    g: VecDeque<Option<EventFd>>,
    h: Box<[Queue]>,
    i: Vec<Box<dyn Stream>>,
}

struct Queue {
    fd: std::sync::Arc<EventFd>,
}

trait Stream: std::os::unix::io::AsRawFd {}

impl Device {
    fn keep(&mut self) -> bool {
        true
    }
    fn done(&mut self) {}
    fn on_a(&mut self) {}
    fn on_b(&mut self, _events: Events) -> Result<(), std::io::Error> {
        Ok(())
    }
    fn on_c(&mut self, _ops: &mut EventOps) -> Result<(), String> {
        Ok(())
    }
    fn on_d(&mut self, _events: Events, _ops: &mut EventOps) {}
    fn on_e(&mut self, _index: usize) {}
    fn on_f(&mut self, _index: usize, _events: Events) {}
    fn on_g(&mut self, _index: usize, _ops: &mut EventOps) {}
    fn on_h(&mut self, _index: usize, _events: Events, _ops: &mut EventOps) {}
    fn on_i(&mut self, _events: Events) {}
    fn on_error(
        &mut self,
        _event: &'static str,
        _index: usize,
        _error: &dyn fmt::Display,
        _ops: &mut EventOps,
    ) {
    }
}

fn main() {}
