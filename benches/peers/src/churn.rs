//! Registering one fd and removing it again, per loop: the cost of a
//! subscriber (or source) that comes and goes. The floor is the two bare
//! `epoll_ctl` calls any loop has to make.

use std::os::fd::AsFd;
use std::os::unix::io::RawFd;

use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};

use crate::dispatch::{Contender, Counter, Handler};
use crate::fds::{polling_add_level, SharedFd};

pub struct FloorChurn {
    epoll: Epoll,
    fd: RawFd,
}

impl FloorChurn {
    pub fn new(fd: RawFd) -> Self {
        FloorChurn {
            epoll: Epoll::new().expect("epoll"),
            fd,
        }
    }
}

impl Contender for FloorChurn {
    fn run_once(&mut self) -> usize {
        let event = EpollEvent::new(EventSet::IN, 0);
        self.epoll
            .ctl(ControlOperation::Add, self.fd, event)
            .expect("add");
        self.epoll
            .ctl(ControlOperation::Delete, self.fd, EpollEvent::default())
            .expect("delete");
        1
    }
}

pub struct OursChurn {
    manager: event_manager::EventManager<Counter>,
    fd: RawFd,
}

impl OursChurn {
    pub fn new(fd: RawFd) -> Self {
        OursChurn {
            manager: event_manager::EventManager::new().expect("manager"),
            fd,
        }
    }
}

impl Contender for OursChurn {
    fn run_once(&mut self) -> usize {
        use event_manager::SubscriberOps;
        let id = self
            .manager
            .add_subscriber(Counter::new(self.fd, Handler::Count));
        self.manager.remove_subscriber(id).expect("remove");
        1
    }
}

pub struct TheirsChurn {
    manager: event_manager_04::EventManager<Counter>,
    fd: RawFd,
}

impl TheirsChurn {
    pub fn new(fd: RawFd) -> Self {
        TheirsChurn {
            manager: event_manager_04::EventManager::new().expect("manager"),
            fd,
        }
    }
}

impl Contender for TheirsChurn {
    fn run_once(&mut self) -> usize {
        use event_manager_04::SubscriberOps;
        let id = self
            .manager
            .add_subscriber(Counter::new(self.fd, Handler::Count));
        self.manager.remove_subscriber(id).expect("remove");
        1
    }
}

pub struct PollingChurn {
    poller: polling::Poller,
    fd: RawFd,
}

impl PollingChurn {
    pub fn new(fd: RawFd) -> Self {
        PollingChurn {
            poller: polling::Poller::new().expect("poller"),
            fd,
        }
    }
}

impl Contender for PollingChurn {
    fn run_once(&mut self) -> usize {
        // SAFETY: the fd is deleted on the next line, while the shape's
        // `FdSet` is alive.
        unsafe { polling_add_level(&self.poller, self.fd, 0) };
        // SAFETY: as above.
        let fd = unsafe { SharedFd::new(self.fd) };
        self.poller.delete(fd.as_fd()).expect("delete");
        1
    }
}

pub struct CalloopChurn {
    event_loop: calloop::EventLoop<'static, ()>,
    fd: RawFd,
}

impl CalloopChurn {
    pub fn new(fd: RawFd) -> Self {
        CalloopChurn {
            event_loop: calloop::EventLoop::try_new().expect("event loop"),
            fd,
        }
    }
}

impl Contender for CalloopChurn {
    fn run_once(&mut self) -> usize {
        let source = calloop::generic::Generic::new(
            // SAFETY: the source is removed below, while the shape's `FdSet` is alive.
            unsafe { SharedFd::new(self.fd) },
            calloop::Interest::READ,
            calloop::Mode::Level,
        );
        let handle = self.event_loop.handle();
        let token = handle
            .insert_source(source, |_, _, _| Ok(calloop::PostAction::Continue))
            .expect("insert source");
        handle.remove(token);
        1
    }
}

pub struct MioChurn {
    poll: mio::Poll,
    fd: RawFd,
}

impl MioChurn {
    pub fn new(fd: RawFd) -> Self {
        MioChurn {
            poll: mio::Poll::new().expect("poll"),
            fd,
        }
    }
}

impl Contender for MioChurn {
    fn run_once(&mut self) -> usize {
        let registry = self.poll.registry();
        let mut source = mio::unix::SourceFd(&self.fd);
        registry
            .register(&mut source, mio::Token(0), mio::Interest::READABLE)
            .expect("register");
        registry.deregister(&mut source).expect("deregister");
        1
    }
}
