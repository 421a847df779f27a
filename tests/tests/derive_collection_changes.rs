//! A collection source whose elements move, as the derive's reference
//! ("Collections that change") tells it: an element keeps the index it
//! was attached at, so after a `remove` or a reorder its events come with
//! that old index, unless the collection is detached before the change
//! and attached again after it.

use std::os::unix::io::{AsRawFd, RawFd};

use event_manager::{EventManager, MutEventSubscriber, SubscriberId, SubscriberOps};
use event_manager_tests::with_ops;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

#[derive(MutEventSubscriber)]
#[subscriber(vis = "pub(self)")]
#[event(fd = queues[..], handler = on_queue)]
struct Device {
    queues: Vec<EventFd>,
    /// The index each event came with, and the fd of the element at that
    /// index when it came (`None`: past the end).
    served: Vec<(usize, Option<RawFd>)>,
}

impl Device {
    fn new(queues: usize) -> Self {
        Device {
            // Non-blocking: the handler may read an element that is not
            // the one that is ready.
            queues: (0..queues)
                .map(|_| EventFd::new(EFD_NONBLOCK).unwrap())
                .collect(),
            served: Vec::new(),
        }
    }

    fn on_queue(&mut self, index: usize) {
        // Never `self.queues[index]`: the index may be past the end here.
        let queue = self.queues.get(index);
        if let Some(queue) = queue {
            let _ = queue.read();
        }
        self.served
            .push((index, queue.map(|queue| queue.as_raw_fd())));
    }
}

fn fds(manager: &mut EventManager<Device>, id: SubscriberId) -> Vec<RawFd> {
    let device = manager.subscriber_mut(id).unwrap();
    device.queues.iter().map(AsRawFd::as_raw_fd).collect()
}

fn take_served(
    manager: &mut EventManager<Device>,
    id: SubscriberId,
) -> Vec<(usize, Option<RawFd>)> {
    std::mem::take(&mut manager.subscriber_mut(id).unwrap().served)
}

/// Writes to every queue, runs once (which serves them all), and returns
/// what the handler saw, by index.
fn kick_all(manager: &mut EventManager<Device>, id: SubscriberId) -> Vec<(usize, Option<RawFd>)> {
    let count = {
        let device = manager.subscriber_mut(id).unwrap();
        for queue in &device.queues {
            queue.write(1).unwrap();
        }
        device.queues.len()
    };
    assert_eq!(manager.run_with_timeout(0).unwrap(), count);
    let mut served = take_served(manager, id);
    served.sort();
    served
}

#[test]
fn detach_all_and_attach_all_around_a_remove_give_the_new_indexes() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Device::new(3));
    let before = fds(&mut manager, id);

    with_ops(&mut manager, id, Device::new(0), |device, ops| {
        device.detach_all_queues(ops)?;
        device.queues.remove(1);
        device.attach_all_queues(ops)
    })
    .unwrap();

    let after = fds(&mut manager, id);
    assert_eq!(after, [before[0], before[2]]);
    // The element now at index 1 (at 2 before) comes with index 1, and
    // `queues[1]` is its fd.
    manager.subscriber_mut(id).unwrap().queues[1]
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(take_served(&mut manager, id), [(1, Some(before[2]))]);
    assert_eq!(
        kick_all(&mut manager, id),
        [(0, Some(after[0])), (1, Some(after[1]))]
    );
}

#[test]
fn detach_all_and_attach_all_around_a_reorder_give_the_new_indexes() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Device::new(3));
    let before = fds(&mut manager, id);

    with_ops(&mut manager, id, Device::new(0), |device, ops| {
        device.detach_all_queues(ops)?;
        device.queues.reverse();
        device.attach_all_queues(ops)
    })
    .unwrap();

    assert_eq!(fds(&mut manager, id), [before[2], before[1], before[0]]);
    assert_eq!(
        kick_all(&mut manager, id),
        [
            (0, Some(before[2])),
            (1, Some(before[1])),
            (2, Some(before[0]))
        ]
    );
}

/// The hazard the rule prevents, pinned as the reference states it: the
/// removed element was detached first, but the one that moved was not
/// attached again, and its events come with the index it had before,
/// here past the end.
#[test]
fn a_moved_element_keeps_its_old_index_without_attach_all() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Device::new(3));
    let before = fds(&mut manager, id);

    with_ops(&mut manager, id, Device::new(0), |device, ops| {
        device.detach_queues(1, ops)?;
        device.queues.remove(1);
        Ok::<_, event_manager::Error>(())
    })
    .unwrap();

    let device = manager.subscriber_mut(id).unwrap();
    assert_eq!(device.queues.len(), 2);
    assert_eq!(device.queues[1].as_raw_fd(), before[2]);
    device.queues[1].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(take_served(&mut manager, id), [(2, None)]);
}

/// The same for a reorder: two elements swapped in place, not detached
/// and attached again, each come with the other's index.
#[test]
fn swapped_elements_keep_their_old_indexes_without_attach_all() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Device::new(2));
    let before = fds(&mut manager, id);

    manager.subscriber_mut(id).unwrap().queues.swap(0, 1);
    let device = manager.subscriber_mut(id).unwrap();
    // `queues[0]` holds the fd attached as element 1.
    device.queues[0].write(1).unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    // Index 1 names the other element now: its handler sees `before[0]`.
    assert_eq!(take_served(&mut manager, id), [(1, Some(before[0]))]);
}

/// `sync_registrations` does not repair a moved element, as the reference
/// says: it finds the element's fd registered under its old index, and
/// attaching it under the new one fails.
#[test]
fn sync_registrations_does_not_follow_a_moved_element() {
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Device::new(3));

    let synced = with_ops(&mut manager, id, Device::new(0), |device, ops| {
        device.detach_queues(1, ops)?;
        device.queues.remove(1);
        device.sync_registrations(ops)
    });
    assert_eq!(synced, Err(event_manager::Error::FdAlreadyRegistered));

    manager.subscriber_mut(id).unwrap().queues[1]
        .write(1)
        .unwrap();
    assert_eq!(manager.run_with_timeout(0).unwrap(), 1);
    assert_eq!(take_served(&mut manager, id), [(2, None)]);
}
