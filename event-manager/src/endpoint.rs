//! `RemoteEndpoint`: other threads send closures to the thread that runs the
//! loop, which executes them on the manager after dispatching the
//! subscriber events of the same `run`.
//!
//! A request is a boxed closure on an mpsc channel; an eventfd registered
//! with the manager's epoll under a reserved key wakes the loop.

use std::cell::Cell;
use std::io;
use std::os::unix::io::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::errno::Error as Errno;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::registry::RESERVED_KEY;
use crate::{Error, EventManager, MutEventSubscriber, Result, SubscriberOps};

type Request<S> = Box<dyn FnOnce(&mut dyn SubscriberOps<Subscriber = S>) + Send>;

/// A request on its way to the loop. Dropping one unserved (the manager
/// went away first) must never unwind: the channel drops its queued
/// requests one after the other, and a panic in the drop of a value that
/// one of them captured would stop that walk, leaving the requests behind
/// it, with the reply senders their callers wait on, in a channel that the
/// callers' own endpoints keep alive.
struct Queued<S>(Option<Request<S>>);

impl<S> Queued<S> {
    fn run(mut self, ops: &mut dyn SubscriberOps<Subscriber = S>) {
        if let Some(request) = self.0.take() {
            request(ops);
        }
    }
}

impl<S> Drop for Queued<S> {
    fn drop(&mut self) {
        if let Some(request) = self.0.take() {
            // A panic here is the captured value's; it has nowhere better
            // to go than away.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(request)));
        }
    }
}

/// The manager's side: where requests arrive, and the eventfd that wakes it.
///
/// It is the manager's first field, so it is dropped first: every queued
/// request is answered (its reply sender dropped) before any subscriber
/// is dropped, whatever a subscriber's `Drop` does.
pub(crate) struct Inbox<S> {
    requests: Receiver<Queued<S>>,
    sender: Sender<Queued<S>>,
    wakeup: Arc<Wakeup>,
}

/// What the manager shares with its endpoints.
struct Wakeup {
    fd: EventFd,
    /// The thread inside one of the manager's runs right now (see
    /// `this_thread`), or 0: `call_blocking` from that thread would wait
    /// for itself.
    running_on: AtomicU64,
}

impl std::ops::Deref for Wakeup {
    type Target = EventFd;
    fn deref(&self) -> &EventFd {
        &self.fd
    }
}

/// The last number given to a thread by `this_thread`.
static LAST_THREAD_NUMBER: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's number, 0 until `this_thread` first asks for it.
    static THREAD_NUMBER: Cell<u64> = const { Cell::new(0) };
}

/// A number no other thread of the process ever had or will have (64
/// bits: a process does not make 2^64 threads), never 0: a mark left by a thread that has ended names nobody. (The address
/// of a thread-local, used before, is handed to the next thread made
/// after one ends.) Taken once per run, never per event.
#[inline(always)]
fn this_thread() -> u64 {
    THREAD_NUMBER.with(|number| match number.get() {
        0 => first_number(number),
        known => known,
    })
}

/// Draws the calling thread's number, once.
#[cold]
#[inline(never)]
fn first_number(number: &Cell<u64>) -> u64 {
    let fresh = LAST_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed) + 1;
    number.set(fresh);
    fresh
}

impl<S> Inbox<S> {
    pub(crate) fn new(epoll: &Epoll) -> Result<Self> {
        let wakeup = EventFd::new(EFD_NONBLOCK).map_err(|err| Error::EventFd(Errno::from(err)))?;
        epoll
            .ctl(
                ControlOperation::Add,
                wakeup.as_raw_fd(),
                EpollEvent::new(EventSet::IN, RESERVED_KEY),
            )
            .map_err(|err| Error::Epoll(Errno::from(err)))?;
        let (sender, requests) = mpsc::channel();
        Ok(Inbox {
            requests,
            sender,
            wakeup: Arc::new(Wakeup {
                fd: wakeup,
                running_on: AtomicU64::new(0),
            }),
        })
    }

    /// Marks the calling thread as the one dispatching the manager's
    /// events, until `clear_running`: a store each per run, nothing per
    /// event. `Relaxed` is enough: the only reader that acts on it is the
    /// same thread (`call_blocking` from inside the run); other threads
    /// compare it with their own mark, which it never equals.
    ///
    /// A panic that unwinds out of `process` skips the clear (doing it on
    /// that path too costs the dispatch loop an instruction per event), so
    /// the mark stays until the manager's next run ends; `call_blocking`
    /// from that thread meanwhile fails instead of waiting, which is also
    /// what it should do as long as the thread holds the manager.
    #[inline(always)]
    pub(crate) fn mark_running(&self) {
        self.wakeup
            .running_on
            .store(this_thread(), Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn clear_running(&self) {
        self.wakeup.running_on.store(0, Ordering::Relaxed);
    }

    /// Marks the calling thread as holding the manager outside a run (a
    /// subscriber's `init`, called by `add_subscriber`) and returns the
    /// mark it replaced, for [`restore_running`](Self::restore_running):
    /// `add_subscriber` may itself be called from a request the manager is
    /// serving, whose mark must outlive the add.
    pub(crate) fn mark_holding(&self) -> u64 {
        self.wakeup
            .running_on
            .swap(this_thread(), Ordering::Relaxed)
    }

    /// Puts back the mark that [`mark_holding`](Self::mark_holding) replaced.
    pub(crate) fn restore_running(&self, previous: u64) {
        self.wakeup.running_on.store(previous, Ordering::Relaxed);
    }
}

/// The wake-ups that `serve_requests` took from the eventfd and has not
/// yet matched with a request. If a request panics, the drop writes them
/// back, so the requests queued behind it are served by the next `run`
/// instead of waiting for wake-ups that were already consumed.
struct UnservedWakeups<'a> {
    wakeup: &'a Wakeup,
    count: u64,
}

impl Drop for UnservedWakeups<'_> {
    fn drop(&mut self) {
        if self.count > 0 {
            let _ = self.wakeup.write(self.count);
        }
    }
}

/// Clears the running mark when serving ends, however it ends.
struct ClearRunning<'a>(&'a AtomicU64);

impl Drop for ClearRunning<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl<S: MutEventSubscriber> EventManager<S> {
    /// A handle through which other threads add, remove and reach this
    /// manager's subscribers, or wake its loop.
    ///
    /// Requests run on the thread that calls [`run`](Self::run), after the
    /// subscriber events of the `run` that picks them up.
    ///
    /// ```
    /// use std::thread;
    /// use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
    ///
    /// struct Idle;
    /// impl MutEventSubscriber for Idle {
    ///     fn init(&mut self, _ops: &mut EventOps) {}
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// }
    ///
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let endpoint = manager.remote_endpoint();
    /// let client = thread::spawn(move || {
    ///     endpoint.call_blocking(|ops| -> event_manager::Result<_> { Ok(ops.add_subscriber(Idle)) })
    /// });
    /// while !client.is_finished() {
    ///     manager.run_with_timeout(10).unwrap();
    /// }
    /// let id = client.join().unwrap().unwrap();
    /// assert!(manager.subscriber_mut(id).is_ok());
    /// ```
    pub fn remote_endpoint(&self) -> RemoteEndpoint<S> {
        RemoteEndpoint {
            requests: self.inbox.sender.clone(),
            wakeup: Arc::downgrade(&self.inbox.wakeup),
        }
    }

    /// Runs every queued request, whatever the eventfd says (tests that
    /// serve a request before its wake-up is written).
    #[cfg(test)]
    fn serve_requests_without_wakeups(&mut self) {
        while let Ok(request) = self.inbox.requests.try_recv() {
            request.run(self);
        }
    }

    /// Runs the queued requests whose wake-ups it reads from the eventfd;
    /// called after a batch's subscriber events.
    ///
    /// Every request is followed by one write of 1 to the eventfd, so the
    /// counter read here bounds the requests that were queued before: it
    /// serves at most that many. A request queued meanwhile (one that
    /// queues another, say) leaves its wake-up in the eventfd, and the next
    /// `run` serves it without blocking, after that run's subscriber events.
    /// Draining until the queue is empty instead would never end while each
    /// request queues the next. A `kick` is a wake-up without a request; it
    /// lets at most one request be served a run early.
    // Out of line: it runs once per woken `run`, and inlined into
    // `run_with_timeout` it costs the dispatch loop registers.
    #[cold]
    #[inline(never)]
    pub(crate) fn serve_requests(&mut self) -> Result<()> {
        let count = match self.inbox.wakeup.read() {
            Ok(count) => count,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            Err(err) => return Err(Error::EventFd(Errno::from(err))),
        };
        let wakeup = Arc::clone(&self.inbox.wakeup);
        // Requests run on this thread too: one that calls `call_blocking`
        // must be refused like a `process` that does.
        wakeup.running_on.store(this_thread(), Ordering::Relaxed);
        let _clear = ClearRunning(&wakeup.running_on);
        let mut unserved = UnservedWakeups {
            wakeup: &wakeup,
            count,
        };
        while unserved.count > 0 {
            let Ok(request) = self.inbox.requests.try_recv() else {
                // Wake-ups of kicks, or of requests that were served early.
                unserved.count = 0;
                break;
            };
            unserved.count -= 1;
            request.run(self);
        }
        Ok(())
    }
}

/// Sends work to an [`EventManager`] from any thread.
///
/// Cloning gives another handle to the same manager. Once the manager is
/// dropped, every method fails with [`Error::ChannelSend`], and the requests
/// it had not served are dropped (a waiting `call_blocking` gets
/// [`Error::ChannelRecv`]).
///
/// The endpoint holds the manager's wake-up eventfd through a weak
/// reference, upgraded only for the instant of a write, so dropping the
/// manager closes its fds even while endpoints live on.
///
/// ```
/// use std::thread;
/// use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, RemoteEndpoint};
///
/// struct Idle;
/// impl MutEventSubscriber for Idle {
///     fn init(&mut self, _ops: &mut EventOps) {}
///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
/// }
///
/// let mut manager = EventManager::<Idle>::new().unwrap();
/// let endpoint: RemoteEndpoint<Idle> = manager.remote_endpoint();
/// thread::spawn(move || endpoint.kick().unwrap()).join().unwrap();
/// // The kick wakes the loop; there were no requests to serve.
/// assert_eq!(manager.run().unwrap(), 1);
/// ```
pub struct RemoteEndpoint<S> {
    requests: Sender<Queued<S>>,
    wakeup: Weak<Wakeup>,
}

impl<S> Clone for RemoteEndpoint<S> {
    fn clone(&self) -> Self {
        RemoteEndpoint {
            requests: self.requests.clone(),
            wakeup: Weak::clone(&self.wakeup),
        }
    }
}

impl<S> std::fmt::Debug for RemoteEndpoint<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEndpoint")
            .field("manager_alive", &(self.wakeup.strong_count() > 0))
            .finish_non_exhaustive()
    }
}

impl<S: MutEventSubscriber> RemoteEndpoint<S> {
    /// Runs `f` on the manager's thread and waits for its result.
    ///
    /// Errors of the endpoint itself reach the caller through `E: From<Error>`:
    /// [`Error::ChannelSend`] if the manager was gone before `f` could be
    /// queued, [`Error::ChannelRecv`] if it was dropped with `f` still
    /// queued, or if `f` panicked (the panic itself propagates out of the
    /// loop thread's `run`). Once `f` is queued, the answer is what the
    /// loop did with it: if `f` ran, its result reaches the caller even
    /// when the manager is dropped right after.
    ///
    /// Called on a thread that is inside the manager (in a subscriber's
    /// `process` during a run, in a request the manager is serving, or in
    /// a subscriber's `init` during `add_subscriber`), it returns
    /// [`Error::CallFromLoopThread`] at once and `f` is dropped without
    /// running: that thread would otherwise wait for itself forever. Use
    /// [`fire`](Self::fire) there, or reach the subscriber directly. (The
    /// check is made here, not in the loop: `run` only notes which thread
    /// runs it.) Between two runs the thread that owns the manager cannot
    /// be told from any other thread (the manager may have been moved to
    /// a thread that has not started its first run yet), so a call from
    /// there is not refused: it waits for a run, and deadlocks if only
    /// that thread would run one. One exception: after a `process` panic
    /// unwinds out of a run, the thread that ran it stays marked until the
    /// manager's next run ends (clearing the mark on that path would cost
    /// the dispatch loop a register), so its calls are refused until then,
    /// wherever the manager has gone; no other thread is ever taken for it.
    ///
    /// ```
    /// use std::thread;
    /// use event_manager::{Error, EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
    ///
    /// struct Named(&'static str);
    /// impl MutEventSubscriber for Named {
    ///     fn init(&mut self, _ops: &mut EventOps) {}
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// }
    ///
    /// let mut manager = EventManager::<Named>::new().unwrap();
    /// let id = manager.add_subscriber(Named("disk"));
    /// let endpoint = manager.remote_endpoint();
    /// let client = thread::spawn(move || {
    ///     endpoint.call_blocking(move |ops| -> Result<&'static str, Error> {
    ///         Ok(ops.remove_subscriber(id)?.0)
    ///     })
    /// });
    /// while !client.is_finished() {
    ///     manager.run_with_timeout(10).unwrap();
    /// }
    /// assert_eq!(client.join().unwrap(), Ok("disk"));
    /// ```
    pub fn call_blocking<F, O, E>(&self, f: F) -> std::result::Result<O, E>
    where
        F: FnOnce(&mut dyn SubscriberOps<Subscriber = S>) -> std::result::Result<O, E>
            + Send
            + 'static,
        O: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.call_blocking_pausing(f, || {})
    }

    /// `call_blocking`, with `pause` run between queueing the request and
    /// waking the loop (tests put the race there).
    fn call_blocking_pausing<F, O, E>(
        &self,
        f: F,
        pause: impl FnOnce(),
    ) -> std::result::Result<O, E>
    where
        F: FnOnce(&mut dyn SubscriberOps<Subscriber = S>) -> std::result::Result<O, E>
            + Send
            + 'static,
        O: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        if let Some(wakeup) = self.wakeup.upgrade() {
            if wakeup.running_on.load(Ordering::Relaxed) == this_thread() {
                return Err(E::from(Error::CallFromLoopThread));
            }
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(
            Box::new(move |ops| {
                // The caller may have stopped waiting; nothing to do then.
                let _ = reply.send(f(ops));
            }),
            pause,
        )?;
        // Once queued, the answer is the reply: the request's result, or,
        // if the manager dropped the request unserved, `ChannelRecv`.
        answer.recv().map_err(|_| E::from(Error::ChannelRecv))?
    }

    /// Queues `f` to run on the manager's thread and returns at once.
    ///
    /// It does not wait, so it is also fine to call from the loop's own
    /// thread, for example from a subscriber's `process`.
    ///
    /// `Ok` means that `f` is queued: a later `run` calls it, unless the
    /// manager is dropped first, which drops `f` unserved. `Err(ChannelSend)`
    /// means the manager was already gone and `f` was dropped.
    ///
    /// `run` serves the requests whose wake-ups it finds, so a closure that
    /// fires another (a periodic task on the loop's thread) runs once per
    /// `run`, after that run's subscriber events, and never keeps `run`
    /// from returning.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
    ///
    /// struct Idle;
    /// impl MutEventSubscriber for Idle {
    ///     fn init(&mut self, _ops: &mut EventOps) {}
    ///     fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    /// }
    ///
    /// let mut manager = EventManager::<Idle>::new().unwrap();
    /// let (done, added) = mpsc::channel();
    /// manager
    ///     .remote_endpoint()
    ///     .fire(move |ops| done.send(ops.add_subscriber(Idle)).unwrap())
    ///     .unwrap();
    /// assert_eq!(manager.run().unwrap(), 1);
    /// assert!(manager.subscriber_mut(added.recv().unwrap()).is_ok());
    /// ```
    pub fn fire<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&mut dyn SubscriberOps<Subscriber = S>) + Send + 'static,
    {
        self.send(Box::new(f), || {})
    }

    /// Wakes the loop: a blocked `run` returns after serving any queued
    /// requests.
    ///
    /// ```
    /// # use event_manager::{EventManager, MutEventSubscriber};
    /// let mut manager = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    /// manager.remote_endpoint().kick().unwrap();
    /// assert_eq!(manager.run().unwrap(), 1);
    /// ```
    pub fn kick(&self) -> Result<()> {
        let wakeup = self.wakeup.upgrade().ok_or(Error::ChannelSend)?;
        wakeup
            .write(1)
            .map_err(|err| Error::EventFd(Errno::from(err)))
    }

    /// Queues `request`, then wakes the loop. Only the queueing can fail:
    /// once the request is in the queue, the manager either serves it or
    /// drops it unserved, and a wake-up that fails changes neither. It
    /// fails because the manager is gone (then it has served or dropped the
    /// request already) or because the eventfd's counter is full (then the
    /// loop is awake anyway).
    fn send(&self, request: Request<S>, pause: impl FnOnce()) -> Result<()> {
        self.requests
            .send(Queued(Some(request)))
            .map_err(|_| Error::ChannelSend)?;
        pause();
        let _ = self.kick();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Idle;
    use crate::{EventOps, Events};

    /// Blocks until `fd` is readable, through an epoll of its own.
    fn wait_readable(fd: &EventFd) {
        let epoll = Epoll::new().unwrap();
        epoll
            .ctl(
                ControlOperation::Add,
                fd.as_raw_fd(),
                EpollEvent::new(EventSet::IN, 0),
            )
            .unwrap();
        let mut ready = [EpollEvent::default()];
        assert_eq!(epoll.wait(-1, &mut ready).unwrap(), 1);
    }

    #[test]
    fn a_request_queued_when_the_manager_drops_is_answered_with_channel_recv() {
        let manager = EventManager::<Idle>::new().unwrap();
        let endpoint = manager.remote_endpoint();
        let caller = thread::spawn(move || {
            endpoint.call_blocking(|_ops| -> Result<()> { unreachable!("never served") })
        });
        // The caller writes the wake-up eventfd after queueing its request.
        wait_readable(&manager.inbox.wakeup);
        drop(manager);
        assert_eq!(caller.join().unwrap(), Err(Error::ChannelRecv));
    }

    #[test]
    fn a_panicking_request_leaves_the_ones_behind_it_to_the_next_run() {
        let mut manager = EventManager::<Idle>::new().unwrap();
        let endpoint = manager.remote_endpoint();
        let (done, served) = mpsc::channel();
        endpoint.fire(|_ops| panic!("request fails")).unwrap();
        endpoint.fire(move |_ops| done.send(()).unwrap()).unwrap();

        let first = panic::catch_unwind(panic::AssertUnwindSafe(|| manager.run_with_timeout(0)));
        assert!(first.is_err());
        assert!(served.try_recv().is_err());
        assert_eq!(manager.run_with_timeout(0), Ok(1));
        assert!(served.try_recv().is_ok());
    }

    /// Registers two fds; panics on its first event, ignores the rest.
    struct PanicsOnce([EventFd; 2], bool);
    impl MutEventSubscriber for PanicsOnce {
        fn init(&mut self, ops: &mut EventOps) {
            for fd in &self.0 {
                ops.add(Events::new(fd, EventSet::IN)).unwrap();
            }
        }
        fn process(&mut self, _events: Events, _ops: &mut EventOps) {
            if !std::mem::replace(&mut self.1, true) {
                panic!("first event fails");
            }
        }
    }

    #[test]
    fn requests_woken_in_a_batch_cut_short_by_a_panic_are_served_by_the_resumed_batch() {
        let mut manager = EventManager::<PanicsOnce>::new().unwrap();
        let fds = [EventFd::new(0).unwrap(), EventFd::new(0).unwrap()];
        let triggers = [fds[0].try_clone().unwrap(), fds[1].try_clone().unwrap()];
        manager.add_subscriber(PanicsOnce(fds, false));
        let (done, served) = mpsc::channel();
        // Ready in this order, so the batch is: wake-up, the panicking
        // event, one more event left for the resumed run.
        manager
            .remote_endpoint()
            .fire(move |_ops| done.send(()).unwrap())
            .unwrap();
        triggers[0].write(1).unwrap();
        triggers[1].write(1).unwrap();

        let first = panic::catch_unwind(panic::AssertUnwindSafe(|| manager.run_with_timeout(0)));
        assert!(first.is_err());
        assert!(served.try_recv().is_err());
        // The resumed run dispatches the leftover event without waiting and
        // serves the request whose wake-up was earlier in the same batch.
        assert_eq!(manager.run_with_timeout(0), Ok(2));
        assert!(served.try_recv().is_ok());
    }

    use std::panic;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::thread;

    #[test]
    fn a_request_that_ran_answers_even_if_the_manager_drops_before_the_wake_up() {
        let mut manager = EventManager::<Idle>::new().unwrap();
        let id = manager.add_subscriber(Idle);
        let endpoint = manager.remote_endpoint();
        let manager = Mutex::new(Some(manager));
        // Between queueing and waking: the loop serves the request, and the
        // manager is dropped, so the wake-up finds no manager to wake.
        let answer = endpoint.call_blocking_pausing(
            move |ops| -> Result<Idle> { ops.remove_subscriber(id) },
            || {
                let mut manager = manager.lock().unwrap().take().unwrap();
                manager.serve_requests_without_wakeups();
                drop(manager);
            },
        );
        assert!(answer.is_ok(), "the removed subscriber comes back");
        assert_eq!(endpoint.kick(), Err(Error::ChannelSend));
    }

    #[test]
    fn a_fired_request_that_ran_is_ok_even_if_the_manager_drops_before_the_wake_up() {
        let manager = EventManager::<Idle>::new().unwrap();
        let endpoint = manager.remote_endpoint();
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        let manager = Mutex::new(Some(manager));
        let fired = endpoint.send(
            Box::new(move |_ops| {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
            || {
                let mut manager = manager.lock().unwrap().take().unwrap();
                manager.serve_requests_without_wakeups();
            },
        );
        assert_eq!(fired, Ok(()));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    /// Panics when dropped.
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("dropping this panics");
        }
    }

    /// Runs `call_blocking` on another thread and returns once its request
    /// is queued and its wake-up written, with the channel of its answer.
    fn blocked_caller<S: MutEventSubscriber + 'static>(
        manager: &EventManager<S>,
    ) -> mpsc::Receiver<Result<()>> {
        let endpoint = manager.remote_endpoint();
        let (answered, answer) = mpsc::channel();
        // Consume the wake-ups so far, so that the next one is the caller's.
        let _ = manager.inbox.wakeup.read();
        thread::spawn(move || {
            let result = endpoint.call_blocking(|_ops| -> Result<()> { Ok(()) });
            answered.send(result).unwrap();
        });
        wait_readable(&manager.inbox.wakeup);
        answer
    }

    /// Generous: only a caller blocked for good takes that long.
    const NEVER: std::time::Duration = std::time::Duration::from_secs(60);

    #[test]
    fn dropping_the_manager_answers_every_request_even_if_dropping_one_panics() {
        let manager = EventManager::<Idle>::new().unwrap();
        let endpoint = manager.remote_endpoint();
        let value = PanicsOnDrop;
        endpoint
            .fire(move |_ops| {
                let _keep = &value;
            })
            .unwrap();
        let answer = blocked_caller(&manager);
        // The drop of the captured value panics inside the manager's drop,
        // and goes no further.
        drop(manager);
        assert_eq!(
            answer
                .recv_timeout(NEVER)
                .expect("the caller is still blocked"),
            Err(Error::ChannelRecv)
        );
    }

    /// A subscriber that panics when dropped.
    struct Doomed(#[allow(dead_code)] PanicsOnDrop);
    impl MutEventSubscriber for Doomed {
        fn init(&mut self, _ops: &mut EventOps) {}
        fn process(&mut self, _events: Events, _ops: &mut EventOps) {}
    }

    #[test]
    fn dropping_the_manager_answers_every_request_even_if_a_subscriber_panics_in_drop() {
        let mut manager = EventManager::<Doomed>::new().unwrap();
        manager.add_subscriber(Doomed(PanicsOnDrop));
        let answer = blocked_caller(&manager);
        let dropped = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(manager)));
        assert!(dropped.is_err(), "the subscriber's panic goes on");
        assert_eq!(
            answer
                .recv_timeout(NEVER)
                .expect("the caller is still blocked"),
            Err(Error::ChannelRecv)
        );
    }

    /// Always ready; counts its events.
    struct Ready(EventFd, Arc<AtomicUsize>);
    impl MutEventSubscriber for Ready {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.0, EventSet::IN)).unwrap();
        }
        fn process(&mut self, _events: Events, _ops: &mut EventOps) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Fires itself again each time it runs.
    fn periodic(endpoint: RemoteEndpoint<Ready>, runs: Arc<AtomicUsize>) {
        runs.fetch_add(1, Ordering::SeqCst);
        let again = endpoint.clone();
        endpoint.fire(move |_ops| periodic(again, runs)).unwrap();
    }

    #[test]
    fn a_request_that_queues_another_runs_once_per_run_and_subscribers_still_get_events() {
        let mut manager = EventManager::<Ready>::new().unwrap();
        let ready = EventFd::new(0).unwrap();
        ready.write(1).unwrap();
        let events = Arc::new(AtomicUsize::new(0));
        manager.add_subscriber(Ready(ready, Arc::clone(&events)));
        let runs = Arc::new(AtomicUsize::new(0));
        let endpoint = manager.remote_endpoint();
        periodic(endpoint, Arc::clone(&runs));
        runs.store(0, Ordering::SeqCst);

        for run in 1..=5 {
            // The subscriber's event and the wake-up: it returns.
            assert_eq!(manager.run_with_timeout(0), Ok(2));
            assert_eq!(runs.load(Ordering::SeqCst), run);
            assert_eq!(events.load(Ordering::SeqCst), run);
        }
    }
}
