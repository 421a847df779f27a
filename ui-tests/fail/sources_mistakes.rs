use event_manager::MutEventSubscriber;
use vmm_sys_util::eventfd::EventFd;

#[derive(MutEventSubscriber)]
#[subscriber(sources = "NetSource")] // a string, not the enum's name
#[event(fd = tap)]
struct Net {
    tap: EventFd,
}

impl Net {
    fn on_tap(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(sources = QueueSource)]
#[event(fd = queue_evts[0], name = rx_queue)]
#[event(fd = queue_evts[1], name = rx__queue, handler = on_rx_queue2)] // `RxQueue` again: same variant as `rx_queue`
struct Queues {
    queue_evts: Vec<EventFd>,
}

impl Queues {
    fn on_rx_queue(&mut self) {}
    fn on_rx_queue2(&mut self) {}
}

#[derive(MutEventSubscriber)]
#[subscriber(sources = BlockSource, fallback = on_other)]
#[event(fd = kick, name = fallback, handler = on_kick)] // `Fallback` is the variant of the `fallback` events
struct Block {
    kick: EventFd,
}

impl Block {
    fn on_kick(&mut self) {}
    fn on_other(&mut self) {}
}

fn main() {}
