//! `RemoteEndpoint`: other threads send closures to the thread that runs the
//! loop, which executes them on the manager after dispatching the
//! subscriber events of the same `run`.
//!
//! A request is a boxed closure on an mpsc channel; an eventfd registered
//! with the manager's epoll under a reserved key wakes the loop.

use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::errno::Error as Errno;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::registry::RESERVED_KEY;
use crate::{Error, EventManager, MutEventSubscriber, Result, SubscriberOps};

type Request<S> = Box<dyn FnOnce(&mut dyn SubscriberOps<Subscriber = S>) + Send>;

/// The manager's side: where requests arrive, and the eventfd that wakes it.
pub(crate) struct Inbox<S> {
    requests: Receiver<Request<S>>,
    sender: Sender<Request<S>>,
    wakeup: Arc<EventFd>,
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
            wakeup: Arc::new(wakeup),
        })
    }
}

/// Wakes the loop again if a request panics, so the requests queued behind
/// it are served by the next `run` instead of waiting for another wake-up.
struct RearmOnPanic<'a>(&'a EventFd);

impl Drop for RearmOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let _ = self.0.write(1);
        }
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

    /// Runs every queued request; called after a batch's subscriber events.
    pub(crate) fn serve_requests(&mut self) -> Result<()> {
        // Consume the wake-up before draining: a request queued after the
        // drain writes the eventfd again and is served by a later run.
        match self.inbox.wakeup.read() {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(Error::EventFd(Errno::from(err))),
        }
        let wakeup = Arc::clone(&self.inbox.wakeup);
        let _rearm = RearmOnPanic(&wakeup);
        while let Ok(request) = self.inbox.requests.try_recv() {
            request(self);
        }
        Ok(())
    }
}

/// Sends work to an [`EventManager`] from any thread.
///
/// Cloning gives another handle to the same manager. Every method fails
/// with [`Error::ChannelSend`] once the manager is dropped.
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
    requests: Sender<Request<S>>,
    wakeup: Weak<EventFd>,
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
    /// [`Error::ChannelSend`] if the manager is gone, [`Error::ChannelRecv`]
    /// if it was dropped before running `f`, or if `f` panicked (the panic
    /// itself propagates out of the loop thread's `run`).
    ///
    /// Calling it from the thread that runs the loop deadlocks: that thread
    /// would wait for itself. Use [`fire`](Self::fire) there.
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
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Box::new(move |ops| {
            // The caller may have stopped waiting; nothing to do then.
            let _ = reply.send(f(ops));
        }))?;
        answer.recv().map_err(|_| E::from(Error::ChannelRecv))?
    }

    /// Queues `f` to run on the manager's thread and returns at once.
    ///
    /// It does not wait, so it is also fine to call from the loop's own
    /// thread, for example from a subscriber's `process`.
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
        self.send(Box::new(f))
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

    fn send(&self, request: Request<S>) -> Result<()> {
        self.requests
            .send(request)
            .map_err(|_| Error::ChannelSend)?;
        self.kick()
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
}
