//! A request from another thread, run on the loop's thread, with the reply
//! waited for: `RemoteEndpoint::call_blocking` in both versions of
//! event-manager. The floor is the bare mechanism: a request on a channel,
//! carrying the sender of a one-slot reply channel made for it, an eventfd
//! write that wakes a thread blocked in `epoll_wait`, and the reply. (On
//! this machine, reusing one reply channel for every request was slower
//! than a new one per request, so the floor makes a new one.)

use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::dispatch::{Contender, Counter};
use crate::fds::pin_current_thread;

/// The core every loop thread runs on; the caller runs on core 0.
const LOOP_CPU: usize = 1;

/// The request that stops the floor's loop thread.
const STOP: u64 = u64::MAX;

pub struct FloorPingPong {
    requests: Sender<(u64, SyncSender<u64>)>,
    wakeup: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl FloorPingPong {
    pub fn start() -> Self {
        let (requests, request_inbox) = channel::<(u64, SyncSender<u64>)>();
        let wakeup = Arc::new(EventFd::new(EFD_NONBLOCK).expect("eventfd"));
        let loop_wakeup = Arc::clone(&wakeup);
        let thread = std::thread::spawn(move || {
            if !pin_current_thread(LOOP_CPU) {
                eprintln!("warning: the floor's loop thread is not pinned");
            }
            let epoll = Epoll::new().expect("epoll");
            epoll
                .ctl(
                    ControlOperation::Add,
                    loop_wakeup.as_raw_fd(),
                    EpollEvent::new(EventSet::IN, 0),
                )
                .expect("epoll_ctl");
            let mut ready = [EpollEvent::default(); 4];
            loop {
                epoll.wait(-1, &mut ready).expect("epoll_wait");
                let _ = loop_wakeup.read();
                while let Ok((request, reply_sender)) = request_inbox.try_recv() {
                    if request == STOP {
                        return;
                    }
                    reply_sender.send(request + 1).expect("reply");
                }
            }
        });
        FloorPingPong {
            requests,
            wakeup,
            thread: Some(thread),
        }
    }
}

impl Contender for FloorPingPong {
    fn run_once(&mut self) -> usize {
        let (reply, replies) = sync_channel(1);
        self.requests.send((1, reply)).expect("request");
        self.wakeup.write(1).expect("wake");
        assert_eq!(replies.recv().expect("reply"), 2);
        1
    }
}

impl Drop for FloorPingPong {
    fn drop(&mut self) {
        let _ = self.requests.send((STOP, sync_channel(1).0));
        let _ = self.wakeup.write(1);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("floor loop thread");
        }
    }
}

/// A contender that runs a manager of the crate `$krate` on a loop thread
/// until a request sets its stop flag, and times `call_blocking` to it. The
/// two versions of event-manager have the same API, so one definition
/// serves both.
macro_rules! round_trip {
    ($name:ident, $krate:ident) => {
        pub struct $name {
            endpoint: $krate::RemoteEndpoint<Counter>,
            stop: Arc<AtomicBool>,
            thread: Option<JoinHandle<()>>,
        }

        impl $name {
            pub fn start() -> Self {
                let stop = Arc::new(AtomicBool::new(false));
                let loop_stop = Arc::clone(&stop);
                let (endpoint_sender, endpoint) = channel();
                let thread = std::thread::spawn(move || {
                    if !pin_current_thread(LOOP_CPU) {
                        eprintln!("warning: a loop thread is not pinned");
                    }
                    let mut manager = $krate::EventManager::<Counter>::new().expect("manager");
                    endpoint_sender
                        .send(manager.remote_endpoint())
                        .expect("endpoint");
                    while !loop_stop.load(Ordering::Relaxed) {
                        manager.run().expect("run");
                    }
                });
                $name {
                    endpoint: endpoint.recv().expect("endpoint"),
                    stop,
                    thread: Some(thread),
                }
            }
        }

        impl Contender for $name {
            fn run_once(&mut self) -> usize {
                self.endpoint
                    .call_blocking(|_ops| Ok::<_, $krate::Error>(()))
                    .expect("call_blocking");
                1
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                let stop = Arc::clone(&self.stop);
                let _ = self
                    .endpoint
                    .fire(move |_ops| stop.store(true, Ordering::Relaxed));
                if let Some(thread) = self.thread.take() {
                    thread.join().expect("loop thread");
                }
            }
        }
    };
}

round_trip!(OursRoundTrip, event_manager);
round_trip!(TheirsRoundTrip, event_manager_04);
