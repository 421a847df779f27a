//! `RemoteEndpoint`: requests from other threads, `fire` from the loop's own
//! thread, wake-ups, ordering against subscriber events, and a gone manager.
#![cfg(feature = "remote_endpoint")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use event_manager::{Error, EventManager, EventSet, Events, RemoteEndpoint, SubscriberOps};
use event_manager_tests::{
    current_thread_id, eventfd, ready_eventfd, wait_until_blocked_in_epoll, Probe,
};

/// Runs `manager` on its own thread until `stop` is set and the loop is
/// woken; gives the manager back.
fn spawn_loop(
    mut manager: EventManager<Probe>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<EventManager<Probe>> {
    thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            manager.run().unwrap();
        }
        manager
    })
}

fn stop_loop(
    endpoint: &RemoteEndpoint<Probe>,
    stop: &AtomicBool,
    handle: thread::JoinHandle<EventManager<Probe>>,
) -> EventManager<Probe> {
    stop.store(true, Ordering::Release);
    endpoint.kick().unwrap();
    handle.join().unwrap()
}

#[test]
fn other_threads_add_trigger_and_remove_subscribers_through_call_blocking() {
    let manager = EventManager::<Probe>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = spawn_loop(manager, Arc::clone(&stop));

    let clients: Vec<_> = (0..4u32)
        .map(|client| {
            let endpoint = endpoint.clone();
            thread::spawn(move || {
                let fd = Arc::new(eventfd());
                let registered = Events::with_data(fd.as_ref(), client, EventSet::IN);
                let id = endpoint
                    .call_blocking(move |ops| -> Result<_, Error> {
                        Ok(ops.add_subscriber(Probe::new(vec![registered])))
                    })
                    .unwrap();
                fd.write(1).unwrap();
                // The loop dispatches the event; wait until the probe saw it.
                loop {
                    let seen = endpoint
                        .call_blocking(move |ops| -> Result<_, Error> {
                            Ok(ops.subscriber_mut(id)?.seen.len())
                        })
                        .unwrap();
                    if seen > 0 {
                        break;
                    }
                }
                let probe = endpoint
                    .call_blocking(move |ops| ops.remove_subscriber(id))
                    .unwrap();
                (probe.seen[0], registered)
            })
        })
        .collect();
    for client in clients {
        let (first_seen, registered) = client.join().unwrap();
        assert_eq!(first_seen, registered);
    }
    stop_loop(&endpoint, &stop, handle);
}

#[test]
fn errors_returned_by_the_closure_reach_the_caller() {
    let manager = EventManager::<Probe>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = spawn_loop(manager, Arc::clone(&stop));

    let other_id = {
        let mut scratch = EventManager::<Probe>::new().unwrap();
        let id = scratch.add_subscriber(Probe::new(vec![]));
        scratch.remove_subscriber(id).unwrap();
        id
    };
    let result = endpoint.call_blocking(move |ops| ops.remove_subscriber(other_id).map(|_| ()));
    assert_eq!(result, Err(Error::InvalidId));
    stop_loop(&endpoint, &stop, handle);
}

#[test]
fn fire_runs_each_request_exactly_once_even_from_the_loops_own_thread() {
    let mut manager = EventManager::<Probe>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let log = Arc::new(Mutex::new(Vec::new()));

    // From inside `process`, on the loop's thread.
    let trigger = ready_eventfd();
    let (from_loop, inner_endpoint, inner_log) = (1, endpoint.clone(), Arc::clone(&log));
    let id = manager.add_subscriber(Probe::reacting(
        vec![Events::new(&trigger, EventSet::IN)],
        move |events, ops| {
            ops.remove(events).unwrap();
            let log = Arc::clone(&inner_log);
            inner_endpoint
                .fire(move |_ops| log.lock().unwrap().push(from_loop))
                .unwrap();
        },
    ));
    // From another thread.
    let outer_log = Arc::clone(&log);
    let other = endpoint.clone();
    thread::spawn(move || {
        other
            .fire(move |_ops| outer_log.lock().unwrap().push(2))
            .unwrap()
    })
    .join()
    .unwrap();

    while log.lock().unwrap().len() < 2 {
        manager.run().unwrap();
    }
    // Nothing left to serve, nothing runs twice.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let mut entries = log.lock().unwrap().clone();
    entries.sort_unstable();
    assert_eq!(entries, vec![1, 2]);
    assert_eq!(manager.subscriber_mut(id).unwrap().seen.len(), 1);
}

#[test]
fn requests_run_after_the_subscriber_events_of_the_same_run() {
    let mut manager = EventManager::<Probe>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let order = Arc::new(Mutex::new(Vec::new()));

    let fd = ready_eventfd();
    let subscriber_order = Arc::clone(&order);
    let id = manager.add_subscriber(Probe::reacting(
        vec![Events::new(&fd, EventSet::IN)],
        move |events, ops| {
            subscriber_order.lock().unwrap().push("event");
            ops.remove(events).unwrap();
        },
    ));
    // Queue the request before the run, so both are ready in one batch;
    // the request removes the subscriber whose event is in the same batch.
    let request_order = Arc::clone(&order);
    endpoint
        .fire(move |ops| {
            request_order.lock().unwrap().push("request");
            ops.remove_subscriber(id).unwrap();
        })
        .unwrap();

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(*order.lock().unwrap(), vec!["event", "request"]);
    assert_eq!(manager.subscriber_mut(id).err(), Some(Error::InvalidId));
}

#[test]
fn kick_wakes_a_blocked_run() {
    let mut manager = EventManager::<Probe>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    let (started, running) = mpsc::channel();
    let kicker = thread::spawn(move || {
        // Kicks only once the run below is blocked in its wait.
        wait_until_blocked_in_epoll(running.recv().unwrap());
        endpoint.kick().unwrap();
    });
    started.send(current_thread_id()).unwrap();
    // Nothing is registered: only the kick can end this wait.
    assert_eq!(manager.run().unwrap(), 1);
    kicker.join().unwrap();
}

#[test]
fn an_endpoint_of_a_dropped_manager_reports_channel_send() {
    let manager = EventManager::<Probe>::new().unwrap();
    let endpoint = manager.remote_endpoint();
    drop(manager);

    assert_eq!(endpoint.kick(), Err(Error::ChannelSend));
    assert_eq!(endpoint.fire(|_ops| {}), Err(Error::ChannelSend));
    let result: Result<(), Error> = endpoint.call_blocking(|_ops| Ok(()));
    assert_eq!(result, Err(Error::ChannelSend));
}

#[test]
fn the_endpoint_is_send_and_clone() {
    fn assert_send_clone<T: Send + Clone>() {}
    assert_send_clone::<RemoteEndpoint<Probe>>();
    assert_send_clone::<RemoteEndpoint<std::sync::Arc<Mutex<Probe>>>>();
}
