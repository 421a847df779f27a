use event_manager::MutEventSubscriber;

#[derive(MutEventSubscriber)]
#[event(fd = kick)]
union Device {
    raw: i32,
}

fn main() {}
