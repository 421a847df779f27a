//! `Timers` inside real managers: hand-written and derived subscribers
//! whose timerfd fires, periodic timers, cancel and reschedule, an idle
//! timeout over socket pairs, every error, and memory that cancelled
//! timers give back.
//!
//! Nothing here asserts on time. A test that needs a deadline to pass
//! waits for the timerfd through the manager (`run_with_timeout`, with a
//! bound long enough to mean "never" on a loaded machine).

// The fd half of its snapshot is not used: the tests of this binary run
// in parallel and open timerfds, so the process's fd count moves.
#[allow(dead_code)]
mod counting_heap;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId,
    SubscriberOps, TimerId, Timers,
};

/// Long enough that no test waits this for a timer that is due.
const NEVER_MS: i32 = 10_000;

/// A subscriber with nothing but timers, which records what fires.
struct Alarm {
    timers: Timers<&'static str>,
    fired: Vec<(TimerId, &'static str)>,
    wake_ups: u32,
}

impl Alarm {
    fn new() -> Self {
        Alarm {
            timers: Timers::new().expect("create the timerfd"),
            fired: Vec::new(),
            wake_ups: 0,
        }
    }

    fn fired_values(&self) -> Vec<&'static str> {
        self.fired.iter().map(|(_, value)| *value).collect()
    }
}

impl MutEventSubscriber for Alarm {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::new(&self.timers, EventSet::IN))
            .expect("register the timers");
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        assert!(events.event_set().contains(EventSet::IN));
        self.wake_ups += 1;
        while let Some(fired) = self.timers.pop_expired() {
            self.fired.push(fired);
        }
    }
}

/// Runs `manager` until `done` holds for the subscriber `id`; every wait is
/// bounded, so a timer that never fires fails the test instead of hanging.
fn run_until<S: MutEventSubscriber>(
    manager: &mut EventManager<S>,
    id: SubscriberId,
    mut done: impl FnMut(&mut S) -> bool,
) {
    while !done(manager.subscriber_mut(id).unwrap()) {
        let dispatched = manager.run_with_timeout(NEVER_MS).unwrap();
        assert!(dispatched > 0, "nothing became ready in {NEVER_MS} ms");
    }
}

#[test]
fn a_hand_written_subscriber_gets_each_timer_with_its_id() {
    let mut alarm = Alarm::new();
    let now = alarm.timers.after(Duration::ZERO, "now").unwrap();
    let soon = alarm
        .timers
        .after(Duration::from_millis(1), "soon")
        .unwrap();
    let later = alarm
        .timers
        .after(Duration::from_millis(3), "later")
        .unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(alarm);

    run_until(&mut manager, id, |alarm| alarm.fired.len() == 3);
    let alarm = manager.subscriber_mut(id).unwrap();
    let mut fired = alarm.fired.clone();
    fired.sort_by_key(|(_, value)| *value);
    assert_eq!(fired, [(later, "later"), (now, "now"), (soon, "soon")]);
    assert!(alarm.timers.is_empty());
    assert_eq!(alarm.timers.next_deadline(), None);
}

#[test]
fn the_timerfd_is_quiet_once_pop_expired_returned_none() {
    let mut alarm = Alarm::new();
    alarm.timers.after(Duration::ZERO, "now").unwrap();
    alarm
        .timers
        .after(Duration::from_secs(3600), "in an hour")
        .unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(alarm);

    assert_eq!(manager.run_with_timeout(NEVER_MS).unwrap(), 1);
    // Level-triggered, yet not ready again: the handler's last call
    // re-armed the timerfd for the hour-long timer.
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    let alarm = manager.subscriber_mut(id).unwrap();
    assert_eq!(alarm.fired_values(), ["now"]);
    assert_eq!(alarm.timers.len(), 1);
    // A call with nothing due, from outside the handler, does not block and
    // leaves the fd quiet.
    assert_eq!(alarm.timers.pop_expired(), None);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
}

/// The derive needs only `AsRawFd` on the field.
#[derive(event_manager::MutEventSubscriber)]
#[event(fd = timers)]
struct Derived {
    timers: Timers<u32>,
    fired: Vec<(TimerId, u32)>,
}

impl Derived {
    fn on_timers(&mut self) {
        while let Some((id, value)) = self.timers.pop_expired() {
            self.fired.push((id, value));
            // The loop body has all of `self`: a timer may add the next.
            if value < 3 {
                self.timers.after(Duration::ZERO, value + 1).unwrap();
            }
        }
    }
}

#[test]
fn a_derived_subscriber_registers_the_timers_as_an_fd() {
    let mut timers = Timers::new().unwrap();
    let first = timers.after(Duration::from_millis(1), 1).unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(Derived {
        timers,
        fired: Vec::new(),
    });

    run_until(&mut manager, id, |derived| derived.fired.len() == 3);
    let derived = manager.subscriber_mut(id).unwrap();
    let values: Vec<u32> = derived.fired.iter().map(|(_, value)| *value).collect();
    assert_eq!(values, [1, 2, 3]);
    assert_eq!(derived.fired[0].0, first);
    assert!(derived.timers.is_empty());
}

#[test]
fn a_periodic_timer_fires_again_and_again_until_cancelled() {
    let mut alarm = Alarm::new();
    let tick = alarm
        .timers
        .every(Duration::from_millis(1), "tick")
        .unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(alarm);

    run_until(&mut manager, id, |alarm| alarm.fired.len() >= 5);
    let alarm = manager.subscriber_mut(id).unwrap();
    assert!(alarm.fired.iter().all(|fired| *fired == (tick, "tick")));
    // Never more than one firing per wake-up, however late the loop was.
    assert_eq!(alarm.fired.len() as u32, alarm.wake_ups);
    assert_eq!(alarm.timers.cancel(tick), Ok("tick"));
    let count = alarm.fired.len();
    // The timerfd may still be armed for the cancelled tick; one call
    // with nothing due disarms it.
    assert_eq!(alarm.timers.pop_expired(), None);
    assert_eq!(manager.run_with_timeout(0).unwrap(), 0);
    assert_eq!(manager.subscriber_mut(id).unwrap().fired.len(), count);
}

#[test]
fn a_timer_cancelled_before_its_deadline_never_fires() {
    let mut alarm = Alarm::new();
    let cancelled = alarm
        .timers
        .after(Duration::from_millis(1), "cancelled")
        .unwrap();
    alarm
        .timers
        .after(Duration::from_millis(5), "kept")
        .unwrap();
    assert_eq!(alarm.timers.cancel(cancelled), Ok("cancelled"));
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(alarm);

    // "kept" is due after "cancelled" would have been.
    run_until(&mut manager, id, |alarm| !alarm.fired.is_empty());
    let alarm = manager.subscriber_mut(id).unwrap();
    assert_eq!(alarm.fired_values(), ["kept"]);
    assert!(alarm.timers.is_empty());
}

#[test]
fn reschedule_moves_the_next_firing_both_ways() {
    let mut alarm = Alarm::new();
    let hour = Duration::from_secs(3600);
    let brought_forward = alarm.timers.after(hour, "brought forward").unwrap();
    let pushed_back = alarm
        .timers
        .after(Duration::from_millis(1), "pushed back")
        .unwrap();
    let periodic = alarm.timers.every(hour, "periodic").unwrap();
    alarm
        .timers
        .reschedule(brought_forward, Duration::ZERO)
        .unwrap();
    alarm.timers.reschedule(pushed_back, hour).unwrap();
    alarm
        .timers
        .reschedule(periodic, Duration::from_millis(1))
        .unwrap();
    alarm
        .timers
        .after(Duration::from_millis(5), "marker")
        .unwrap();
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(alarm);

    run_until(&mut manager, id, |alarm| {
        alarm.fired_values().contains(&"marker")
    });
    let alarm = manager.subscriber_mut(id).unwrap();
    let mut values = alarm.fired_values();
    values.sort_unstable();
    assert_eq!(values, ["brought forward", "marker", "periodic"]);
    // Both hour-long timers are still pending; the periodic one kept its
    // period, so its next firing is about an hour away.
    assert!(alarm.timers.contains(pushed_back));
    assert!(alarm.timers.contains(periodic));
    let half_an_hour = Instant::now() + Duration::from_secs(1800);
    assert!(alarm.timers.next_deadline().unwrap() > half_an_hour);
}

#[test]
fn every_misuse_is_an_error_value() {
    let mut timers: Timers<u32> = Timers::new().unwrap();
    let other: Timers<u32> = Timers::new().unwrap();
    let fired = timers.after(Duration::ZERO, 1).unwrap();
    assert_eq!(timers.pop_expired(), Some((fired, 1)));
    let cancelled = timers.after(Duration::from_secs(60), 2).unwrap();
    assert_eq!(timers.cancel(cancelled), Ok(2));
    let pending = timers.after(Duration::from_secs(60), 3).unwrap();

    for gone in [fired, cancelled] {
        assert_eq!(timers.cancel(gone), Err(Error::TimerNotFound));
        assert_eq!(
            timers.reschedule(gone, Duration::ZERO),
            Err(Error::TimerNotFound)
        );
        assert!(!timers.contains(gone));
    }
    // A pending id of this set names nothing in another.
    assert!(!other.contains(pending));
    let mut other = other;
    assert_eq!(other.cancel(pending), Err(Error::TimerNotFound));
    assert_eq!(
        other.reschedule(pending, Duration::ZERO),
        Err(Error::TimerNotFound)
    );

    assert_eq!(timers.every(Duration::ZERO, 4), Err(Error::InvalidDuration));
    assert_eq!(timers.every(Duration::MAX, 4), Err(Error::InvalidDuration));
    assert_eq!(timers.after(Duration::MAX, 4), Err(Error::InvalidDuration));
    assert_eq!(
        timers.reschedule(pending, Duration::MAX),
        Err(Error::InvalidDuration)
    );
    // The misuses changed nothing.
    assert_eq!(timers.len(), 1);
    assert_eq!(timers.cancel(pending), Ok(3));
    assert_eq!(timers.pop_expired(), None);
    assert!(Error::TimerNotFound
        .to_string()
        .contains("no pending timer"));
}

#[test]
fn cancelled_timers_leave_nothing_behind() {
    const TIMERS: u64 = 100_000;
    let mut ids: Vec<TimerId> = Vec::with_capacity(TIMERS as usize);
    let mut timers: Timers<u64> = Timers::new().unwrap();
    // Allocated before the count starts, so that only the timers count.
    let mut held_after = Vec::with_capacity(3);
    let mut peaks = Vec::with_capacity(3);
    let start = counting_heap::live_bytes();
    for _ in 0..3 {
        for n in 0..TIMERS {
            // Spread over an hour, in no particular order.
            let delay = Duration::from_micros(3_600_000 + n * 7919 % 1_000_003);
            ids.push(timers.after(delay, n).unwrap());
        }
        peaks.push(counting_heap::live_bytes() - start);
        assert_eq!(timers.len(), TIMERS as usize);
        for id in ids.drain(..) {
            timers.cancel(id).unwrap();
        }
        assert_eq!(timers.len(), 0);
        held_after.push(counting_heap::live_bytes() - start);
    }
    drop(timers);
    // Peak: tens of bytes a timer; after cancelling all, the few hundred
    // bytes of the smallest vectors, the same every round.
    assert!(peaks.iter().all(|peak| *peak > 0), "{peaks:?}");
    assert!(
        held_after.iter().all(|held| *held <= 1024),
        "{held_after:?}"
    );
    assert!(
        held_after.windows(2).all(|pair| pair[0] == pair[1]),
        "{held_after:?}"
    );
    // Later rounds start from the small vectors left by the first.
    assert!(
        peaks.iter().all(|peak| peak - peaks[0] <= 1024),
        "{peaks:?}"
    );
}

/// A server that closes every connection quiet for `IDLE`: a per-connection
/// timer, rescheduled whenever the connection sends something.
struct IdleServer {
    timers: Timers<usize>,
    connections: Vec<Option<(UnixStream, TimerId)>>,
    closed: Vec<usize>,
}

/// Long against a round of the test's loop, so the chatty connection is
/// never idle for that long, even on a loaded machine; it is also how long
/// the test takes.
const IDLE: Duration = Duration::from_secs(2);
/// The timers' data tag; connection `i` has `i + 1`.
const TIMERS_DATA: u32 = 0;

impl MutEventSubscriber for IdleServer {
    fn init(&mut self, ops: &mut EventOps) {
        ops.add(Events::with_data(&self.timers, TIMERS_DATA, EventSet::IN))
            .unwrap();
        for (index, connection) in self.connections.iter().enumerate() {
            let (stream, _) = connection.as_ref().unwrap();
            ops.add(Events::with_data(stream, index as u32 + 1, EventSet::IN))
                .unwrap();
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        if events.data() == TIMERS_DATA {
            while let Some((_, index)) = self.timers.pop_expired() {
                // The timer fired, so it is gone: only the stream is left.
                let (stream, _) = self.connections[index].take().unwrap();
                ops.remove(Events::new(&stream, EventSet::IN)).unwrap();
                self.closed.push(index);
            }
            return;
        }
        let index = events.data() as usize - 1;
        let Some((stream, timer)) = self.connections[index].as_mut() else {
            return;
        };
        let mut buffer = [0; 64];
        match stream.read(&mut buffer) {
            Ok(read) if read > 0 => self.timers.reschedule(*timer, IDLE).unwrap(),
            _ => panic!("the test's peers neither close nor fail"),
        }
    }
}

#[test]
fn an_idle_timeout_closes_the_quiet_connection_only() {
    let (chatty_server, mut chatty_peer) = UnixStream::pair().unwrap();
    let (quiet_server, mut quiet_peer) = UnixStream::pair().unwrap();
    let mut timers = Timers::new().unwrap();
    let connections = vec![
        Some((chatty_server, timers.after(IDLE, 0).unwrap())),
        Some((quiet_server, timers.after(IDLE, 1).unwrap())),
    ];
    let mut manager = EventManager::new().unwrap();
    let id = manager.add_subscriber(IdleServer {
        timers,
        connections,
        closed: Vec::new(),
    });

    // The chatty peer sends a byte per round; the server reads it and
    // pushes its deadline back, while the quiet one's comes due.
    let mut rounds = 0u64;
    while manager.subscriber_mut(id).unwrap().closed.is_empty() {
        chatty_peer.write_all(b"x").unwrap();
        assert!(manager.run_with_timeout(NEVER_MS).unwrap() > 0);
        rounds += 1;
    }
    let server = manager.subscriber_mut(id).unwrap();
    assert_eq!(server.closed, [1], "after {rounds} rounds");
    assert!(server.connections[0].is_some());
    assert_eq!(server.timers.len(), 1);
    // The quiet peer sees its connection closed.
    let mut buffer = [0; 8];
    assert_eq!(quiet_peer.read(&mut buffer).unwrap(), 0);
}
