//! Constants, statics and types named like every binding and helper name
//! of the generated code: none of them may change what the derive means.
//! (A lower-case constant in scope turns a binding of the same name into
//! a constant pattern, which would not compile here: the types differ.)
#![allow(non_upper_case_globals, dead_code, non_camel_case_types)]

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::fmt;
use vmm_sys_util::eventfd::EventFd;

const data: u8 = 0;
const rel: u8 = 0;
const ops: u8 = 0;
const events: u8 = 0;
const error: u8 = 0;
const index: u8 = 0;
const outcome: u8 = 0;
const fd: u8 = 0;
const interest: u8 = 0;
const registered: u8 = 0;
const count: u8 = 0;
const tag: u8 = 0;
const first_error: u8 = 0;
const result: u8 = 0;
const source: u8 = 0;
const element: u8 = 0;
const method: u8 = 0;
const receiver: u8 = 0;
const this: u8 = 0;
struct Before;
struct After;
struct Handler;
struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Result;
struct usize;
struct bool;

#[derive(MutEventSubscriber)]
#[subscriber(handler_error = on_error, before = keep, after = done, init_error = on_init_error)]
#[event(fd = a)]
#[event(fd = b, set = self.interest())]
#[event(fd = c[..])]
#[event(fd = d, when = self.enabled)]
struct Device {
    a: EventFd,
    b: std::option::Option<EventFd>,
    c: Vec<std::option::Option<EventFd>>,
    d: EventFd,
    enabled: core::primitive::bool,
}

impl Device {
    fn interest(&self) -> EventSet {
        EventSet::IN
    }
    fn keep(&mut self, _events: Events) -> core::primitive::bool {
        true
    }
    fn done(&mut self, _ops: &mut EventOps) {}
    fn on_a(&mut self) -> std::result::Result<(), String> {
        std::result::Result::Ok(())
    }
    fn on_b(&mut self, _events: Events) {}
    fn on_c(&mut self, _index: core::primitive::usize, _ops: &mut EventOps) {}
    fn on_d(&mut self) {}
    fn on_error(
        &mut self,
        _source: &'static str,
        _index: core::primitive::usize,
        _error: &dyn fmt::Display,
        _ops: &mut EventOps,
    ) {
    }
    fn on_init_error(&mut self, _source: &'static str, _error: event_manager::Error) {}
}

fn main() {
    let device = Device {
        a: EventFd::new(0).unwrap(),
        b: std::option::Option::None,
        c: Vec::new(),
        d: EventFd::new(0).unwrap(),
        enabled: false,
    };
    let _ = &device;
}
