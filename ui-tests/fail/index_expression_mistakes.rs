use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[event(fd = queues[rx], name = rx_queue)] // a field as index without `self.`
#[event(fd = others[self.count], name = other)] // an index that is not a `usize`
struct Device {
    queues: Vec<EventFd>,
    others: Vec<EventFd>,
    rx: usize,
    count: u32,
}

impl Device {
    fn on_rx_queue(&mut self) {}
    fn on_other(&mut self) {}
}

fn main() {}
