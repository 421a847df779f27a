use event_manager::MutEventSubscriber;
use std::io::Read;
use std::os::unix::io::AsRawFd;

#[derive(MutEventSubscriber)]
#[subscriber(for = Serial<T, I>)] // names only the struct's own parameters: fixes nothing
#[event(fd = trigger)]
struct Serial<T: AsRawFd, I: Read> {
    trigger: T,
    input: I,
}

impl<T: AsRawFd, I: Read> Serial<T, I> {
    fn on_trigger(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(for = Swapped<I, T>)] // the struct's own parameters in another order: still nothing concrete
#[event(fd = trigger)]
struct Swapped<T: AsRawFd, I: Read> {
    trigger: T,
    input: I,
}

impl<T: AsRawFd, I: Read> Swapped<T, I> {
    fn on_trigger(&mut self) {}
}

fn main() {}
