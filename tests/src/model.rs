//! A reference model of the manager, for model-based tests: sequences of
//! operations on real eventfds and Unix sockets, applied both to an
//! `EventManager` and to a plain model that says what each one must do.
//! Every `run` is checked against it: exactly the expected (subscriber,
//! fd, data, event set) dispatches, none for an fd removed or paused
//! earlier in the batch, a paused fd or a removed subscriber, and
//! `InvalidId` for every dead id. A disagreement panics.
//!
//! Used by the proptest in `tests/model.rs` and by the `runtime_model`
//! fuzz target in `fuzz/`, which make the sequences.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use event_manager::{
    Error, EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberId,
    SubscriberOps,
};
use vmm_sys_util::errno::Error as Errno;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::replace_with_new_eventfd;

/// The kind of file behind a model fd.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A non-blocking eventfd.
    EventFd,
    /// One end of a Unix socket pair; the test writes to the other end.
    Socket,
}

/// The event set an fd is registered with.
#[derive(Debug, Clone, Copy)]
pub enum Interest {
    /// `EventSet::IN`.
    In,
    /// `EventSet::OUT`.
    Out,
    /// `EventSet::IN | EventSet::OUT`.
    InOut,
    /// The empty set: in the kernel's list, but never reported. Not to be
    /// confused with a paused fd, which is in no kernel list at all.
    Empty,
}

impl Interest {
    /// The event set this interest stands for.
    pub fn set(self) -> EventSet {
        match self {
            Interest::In => EventSet::IN,
            Interest::Out => EventSet::OUT,
            Interest::InOut => EventSet::IN | EventSet::OUT,
            Interest::Empty => EventSet::empty(),
        }
    }
}

/// One step of a sequence. Indices pick among the subscribers (live or
/// dead) and fds created so far, modulo their number.
#[derive(Debug, Clone)]
pub enum Op {
    /// Adds a subscriber that registers, at `init`, one new fd per entry:
    /// (kind, interest, data, made readable before the add).
    AddSubscriber(Vec<(Kind, Interest, u32, bool)>),
    /// Makes an fd readable.
    Trigger(usize),
    /// Reads an fd until it is no longer readable.
    Drain(usize),
    /// `modify` of an fd by a subscriber, through `event_ops`.
    Modify {
        by: usize,
        fd: usize,
        interest: Interest,
        data: u32,
    },
    /// `remove` of an fd by a subscriber, through `event_ops`.
    Remove { by: usize, fd: usize },
    /// Arms `by` to remove `fd` from inside its next `process`.
    RemoveInProcess { by: usize, fd: usize },
    /// `pause` of an fd by a subscriber, through `event_ops`.
    Pause { by: usize, fd: usize },
    /// `resume` of an fd by a subscriber, through `event_ops`.
    Resume { by: usize, fd: usize },
    /// Arms `by` to pause `fd` from inside its next `process`.
    PauseInProcess { by: usize, fd: usize },
    /// Arms `by` to resume `fd` from inside its next `process`.
    ResumeInProcess { by: usize, fd: usize },
    /// Adds a new fd to `by`, or adds again one of its fds that is no
    /// longer registered or is paused (`again`; refused for a paused one).
    AddFd {
        by: usize,
        again: Option<usize>,
        kind: Kind,
        interest: Interest,
        data: u32,
    },
    /// Adds an fd that is registered already: `FdAlreadyRegistered`.
    AddDuplicate { by: usize, fd: usize },
    /// Closes the fd and opens a new eventfd under the same number.
    CloseAndReuse(usize),
    /// Removes a subscriber (live or dead).
    RemoveSubscriber(usize),
    /// Every call with the id of a removed subscriber returns `InvalidId`.
    CheckDeadIds,
    /// `run_with_timeout(0)`, checked against the ready set of the model.
    Run,
}

/// A change of one fd's registration that a subscriber makes through its
/// `EventOps`, from outside the loop or from inside `process`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    Remove,
    Pause,
    Resume,
}

/// What the manager answered to a `Change`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Changed {
    change: Change,
    fd: RawFd,
    result: Result<(), Error>,
    /// `is_paused` of the fd right after the change.
    paused_after: Result<bool, Error>,
}

impl Change {
    /// Makes the change and asks `is_paused` after it.
    fn make(self, ops: &mut EventOps, fd: RawFd) -> Changed {
        let result = match self {
            Change::Remove => ops.remove(Events::empty_raw(fd)),
            Change::Pause => ops.pause(&fd),
            Change::Resume => ops.resume(&fd),
        };
        Changed {
            change: self,
            fd,
            result,
            paused_after: ops.is_paused(&fd),
        }
    }
}

/// A dispatch as the subscriber saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    subscriber: usize,
    fd: RawFd,
    data: u32,
    set: EventSet,
    /// The change it made from inside this `process`, if it was armed.
    changed: Option<Changed>,
}

type Log = Rc<RefCell<Vec<Seen>>>;

struct Recorder {
    name: usize,
    initial: Vec<Events>,
    init_results: Vec<Result<(), Error>>,
    armed: Option<(Change, RawFd)>,
    log: Log,
}

impl MutEventSubscriber for Recorder {
    fn init(&mut self, ops: &mut EventOps) {
        for events in &self.initial {
            self.init_results.push(ops.add(*events));
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let changed = self.armed.take().map(|(change, fd)| change.make(ops, fd));
        self.log.borrow_mut().push(Seen {
            subscriber: self.name,
            fd: events.fd(),
            data: events.data(),
            set: events.event_set(),
            changed,
        });
    }
}

/// The real file behind a model fd.
enum RealFd {
    Event(EventFd),
    Socket { mine: UnixStream, peer: UnixStream },
}

impl RealFd {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::EventFd => RealFd::Event(EventFd::new(EFD_NONBLOCK).unwrap()),
            Kind::Socket => {
                let (mine, peer) = UnixStream::pair().unwrap();
                mine.set_nonblocking(true).unwrap();
                RealFd::Socket { mine, peer }
            }
        }
    }

    fn number(&self) -> RawFd {
        match self {
            RealFd::Event(fd) => fd.as_raw_fd(),
            RealFd::Socket { mine, .. } => mine.as_raw_fd(),
        }
    }

    fn make_readable(&mut self) {
        match self {
            RealFd::Event(fd) => fd.write(1).unwrap(),
            RealFd::Socket { peer, .. } => peer.write_all(&[7]).unwrap(),
        }
    }

    fn drain(&mut self) {
        match self {
            RealFd::Event(fd) => match fd.read() {
                Ok(_) => {}
                Err(err) => assert_eq!(err.kind(), io::ErrorKind::WouldBlock),
            },
            RealFd::Socket { mine, .. } => {
                let mut buffer = [0u8; 256];
                loop {
                    match mine.read(&mut buffer) {
                        Ok(0) => panic!("the peer of a model socket closed"),
                        Ok(_) => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) => panic!("draining a model socket: {err}"),
                    }
                }
            }
        }
    }

    /// Closes the file and puts a new, idle eventfd under the same number.
    fn close_and_reuse(self) -> Self {
        match self {
            RealFd::Event(fd) => RealFd::Event(replace_with_new_eventfd(fd)),
            RealFd::Socket { mine, .. } => RealFd::Event(replace_with_new_eventfd(mine)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// In the manager's table, and in the kernel's interest list unless
    /// paused. A paused fd stays `Registered` when its number is closed
    /// and reused: the kernel had let go of it already, and `resume`
    /// registers whatever file is at the number then.
    Registered,
    /// Closed (and the number reused) while registered: the kernel dropped
    /// it, the manager's table still lists it for its owner.
    ClosedWhileRegistered,
    /// Not registered.
    Free,
}

struct ModelFd {
    real: RealFd,
    state: State,
    /// The subscriber that registered it, while `state` is not `Free`.
    owner: Option<usize>,
    interest: EventSet,
    data: u32,
    readable: bool,
    /// Paused by its owner: out of the kernel's list, record kept. Only
    /// ever set while `Registered`.
    paused: bool,
}

impl ModelFd {
    /// The event set a level-triggered wait reports now, if any. Both
    /// kinds are always writable here: nothing is written to the side that
    /// is registered.
    fn ready_set(&self) -> Option<EventSet> {
        if self.state != State::Registered || self.paused {
            return None;
        }
        let mut ready = EventSet::OUT;
        if self.readable {
            ready |= EventSet::IN;
        }
        let set = ready & self.interest;
        (!set.is_empty()).then_some(set)
    }
}

struct ModelSubscriber {
    id: SubscriberId,
    alive: bool,
    /// Indices into `Harness::fds` of the fds created for it.
    fds: Vec<usize>,
    /// What its `Recorder` is armed to change in its next `process`.
    armed: Option<(Change, usize)>,
}

/// A manager of `Recorder`s, its real fds, and the model beside them.
struct Harness {
    manager: EventManager<Recorder>,
    capacity: usize,
    log: Log,
    subscribers: Vec<ModelSubscriber>,
    fds: Vec<ModelFd>,
    ids_seen: HashSet<SubscriberId>,
    runs: usize,
}

fn enoent() -> Error {
    Error::Epoll(Errno::new(libc::ENOENT))
}

impl Harness {
    /// A harness whose manager reports at most `capacity` events per wait.
    fn new(capacity: usize) -> Self {
        Harness {
            manager: EventManager::new_with_capacity(capacity).unwrap(),
            capacity,
            log: Rc::default(),
            subscribers: Vec::new(),
            fds: Vec::new(),
            ids_seen: HashSet::new(),
            runs: 0,
        }
    }

    fn pick_subscriber(&self, index: usize) -> Option<usize> {
        (!self.subscribers.is_empty()).then(|| index % self.subscribers.len())
    }

    fn pick_fd(&self, index: usize) -> Option<usize> {
        (!self.fds.is_empty()).then(|| index % self.fds.len())
    }

    fn new_fd(&mut self, kind: Kind, interest: Interest, data: u32) -> usize {
        self.fds.push(ModelFd {
            real: RealFd::new(kind),
            state: State::Free,
            owner: None,
            interest: interest.set(),
            data,
            readable: false,
            paused: false,
        });
        self.fds.len() - 1
    }

    /// Applies `op` to the manager and to the model, and panics where they
    /// disagree.
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::AddSubscriber(ref fds) => self.add_subscriber(fds),
            Op::Trigger(fd) => {
                if let Some(fd) = self.pick_fd(fd) {
                    self.fds[fd].real.make_readable();
                    self.fds[fd].readable = true;
                }
            }
            Op::Drain(fd) => {
                if let Some(fd) = self.pick_fd(fd) {
                    self.fds[fd].real.drain();
                    self.fds[fd].readable = false;
                }
            }
            Op::Modify {
                by,
                fd,
                interest,
                data,
            } => self.modify(by, fd, interest.set(), data),
            Op::Remove { by, fd } => self.change(Change::Remove, by, fd),
            Op::RemoveInProcess { by, fd } => self.arm(Change::Remove, by, fd),
            Op::Pause { by, fd } => self.change(Change::Pause, by, fd),
            Op::Resume { by, fd } => self.change(Change::Resume, by, fd),
            Op::PauseInProcess { by, fd } => self.arm(Change::Pause, by, fd),
            Op::ResumeInProcess { by, fd } => self.arm(Change::Resume, by, fd),
            Op::AddFd {
                by,
                again,
                kind,
                interest,
                data,
            } => self.add_fd(by, again, kind, interest, data),
            Op::AddDuplicate { by, fd } => self.add_duplicate(by, fd),
            Op::CloseAndReuse(fd) => self.close_and_reuse(fd),
            Op::RemoveSubscriber(subscriber) => self.remove_subscriber(subscriber),
            Op::CheckDeadIds => self.check_dead_ids(),
            Op::Run => self.run(),
        }
    }

    fn add_subscriber(&mut self, fds: &[(Kind, Interest, u32, bool)]) {
        let name = self.subscribers.len();
        let mut indices = Vec::new();
        let mut initial = Vec::new();
        for &(kind, interest, data, readable) in fds {
            let fd = self.new_fd(kind, interest, data);
            if readable {
                self.fds[fd].real.make_readable();
                self.fds[fd].readable = true;
            }
            initial.push(Events::with_data_raw(
                self.fds[fd].real.number(),
                data,
                interest.set(),
            ));
            indices.push(fd);
        }
        let id = self.manager.add_subscriber(Recorder {
            name,
            initial,
            init_results: Vec::new(),
            armed: None,
            log: Rc::clone(&self.log),
        });
        assert!(self.ids_seen.insert(id), "id {id:?} was given out twice");
        let results = &self.manager.subscriber_mut(id).unwrap().init_results;
        assert_eq!(results, &vec![Ok(()); fds.len()]);
        for &fd in &indices {
            self.fds[fd].state = State::Registered;
            self.fds[fd].owner = Some(name);
        }
        self.subscribers.push(ModelSubscriber {
            id,
            alive: true,
            fds: indices,
            armed: None,
        });
    }

    /// What `modify` of `fd` by `by` must return, by the model. A paused
    /// fd is `Registered`: its change touches only the table.
    fn expected_modify(&self, by: usize, fd: usize) -> Result<(), Error> {
        let model = &self.fds[fd];
        match (model.owner == Some(by), model.state) {
            (true, State::Registered) => Ok(()),
            (true, State::ClosedWhileRegistered) => Err(enoent()),
            _ => Err(Error::FdNotRegistered),
        }
    }

    /// What `is_paused` of `fd` by `by` must return, by the model.
    fn expected_is_paused(&self, by: usize, fd: usize) -> Result<bool, Error> {
        let model = &self.fds[fd];
        if model.owner == Some(by) {
            Ok(model.paused)
        } else {
            Err(Error::FdNotRegistered)
        }
    }

    /// The model's side of a removal by the fd's owner.
    fn forget(&mut self, fd: usize) {
        self.fds[fd].state = State::Free;
        self.fds[fd].owner = None;
        self.fds[fd].paused = false;
    }

    /// Checks what the manager answered to `change` of `fd` by the live
    /// subscriber `by` against the model, and brings the model along.
    /// Returns whether an event of `fd` still waiting in the batch being
    /// dispatched must now be dropped.
    fn check_change(&mut self, by: usize, fd: usize, changed: Changed) -> bool {
        let model = &self.fds[fd];
        let owns = model.owner == Some(by);
        let expected = match changed.change {
            // Resuming an fd that is not paused (closed or not) asks the
            // kernel nothing, and one that is paused was closed, if at all,
            // after the kernel let go of it: the file now at the number is
            // free to register.
            Change::Resume if owns => Ok(()),
            // Removing or pausing a paused fd asks the kernel nothing; a
            // closed one it no longer knows (ENOENT for the new file).
            _ => self.expected_modify(by, fd),
        };
        assert_eq!(
            changed.result, expected,
            "{:?} of fd {fd} by {by}",
            changed.change
        );
        let mut drop_pending = false;
        if owns {
            match changed.change {
                // The record goes even when the kernel answered ENOENT.
                Change::Remove => {
                    self.forget(fd);
                    drop_pending = true;
                }
                // A failed pause leaves the fd as it was.
                Change::Pause if expected.is_ok() => {
                    self.fds[fd].paused = true;
                    drop_pending = true;
                }
                Change::Pause => {}
                Change::Resume => self.fds[fd].paused = false,
            }
        }
        assert_eq!(
            changed.paused_after,
            self.expected_is_paused(by, fd),
            "is_paused of fd {fd} by {by} after {:?}",
            changed.change
        );
        drop_pending
    }

    fn modify(&mut self, by: usize, fd: usize, interest: EventSet, data: u32) {
        let (Some(by), Some(fd)) = (self.pick_subscriber(by), self.pick_fd(fd)) else {
            return;
        };
        let number = self.fds[fd].real.number();
        let events = Events::with_data_raw(number, data, interest);
        let result = self
            .manager
            .event_ops(self.subscribers[by].id)
            .and_then(|ops| {
                ops.modify(events)?;
                ops.is_paused(&number)
            });
        if !self.subscribers[by].alive {
            assert_eq!(result, Err(Error::InvalidId));
            return;
        }
        let expected = self.expected_modify(by, fd);
        // A paused fd stays paused through a modify.
        let expected_paused = expected.map(|()| self.fds[fd].paused);
        assert_eq!(result, expected_paused, "modify of fd {fd} by {by}");
        if expected.is_ok() {
            self.fds[fd].interest = interest;
            self.fds[fd].data = data;
        }
    }

    /// `change` of `fd` by `by` from outside the loop.
    fn change(&mut self, change: Change, by: usize, fd: usize) {
        let (Some(by), Some(fd)) = (self.pick_subscriber(by), self.pick_fd(fd)) else {
            return;
        };
        let number = self.fds[fd].real.number();
        let changed = self
            .manager
            .event_ops(self.subscribers[by].id)
            .map(|mut ops| change.make(&mut ops, number));
        match changed {
            Ok(changed) => {
                assert!(self.subscribers[by].alive);
                self.check_change(by, fd, changed);
            }
            Err(err) => {
                assert!(!self.subscribers[by].alive);
                assert_eq!(err, Error::InvalidId);
            }
        }
    }

    /// Arms `by` to make `change` of `fd` in its next `process`.
    fn arm(&mut self, change: Change, by: usize, fd: usize) {
        let (Some(by), Some(fd)) = (self.pick_subscriber(by), self.pick_fd(fd)) else {
            return;
        };
        let number = self.fds[fd].real.number();
        match self.manager.subscriber_mut(self.subscribers[by].id) {
            Ok(recorder) => {
                assert!(self.subscribers[by].alive);
                recorder.armed = Some((change, number));
                self.subscribers[by].armed = Some((change, fd));
            }
            Err(err) => {
                assert!(!self.subscribers[by].alive);
                assert_eq!(err, Error::InvalidId);
            }
        }
    }

    fn add_fd(
        &mut self,
        by: usize,
        again: Option<usize>,
        kind: Kind,
        interest: Interest,
        data: u32,
    ) {
        let Some(by) = self.pick_subscriber(by) else {
            return;
        };
        let id = self.subscribers[by].id;
        if !self.subscribers[by].alive {
            assert_eq!(self.manager.event_ops(id).err(), Some(Error::InvalidId));
            return;
        }
        // An fd of its own that is not registered any more or is paused,
        // if asked and there is one; else a new fd.
        let own = &self.subscribers[by].fds;
        let candidates: Vec<usize> = own
            .iter()
            .copied()
            .filter(|&fd| self.fds[fd].state != State::Registered || self.fds[fd].paused)
            .filter(|&fd| self.fds[fd].owner.is_none_or(|owner| owner == by))
            .collect();
        let fd = match again {
            Some(pick) if !candidates.is_empty() => candidates[pick % candidates.len()],
            _ => {
                let fd = self.new_fd(kind, interest, data);
                self.subscribers[by].fds.push(fd);
                fd
            }
        };
        let events = Events::with_data_raw(self.fds[fd].real.number(), data, interest.set());
        let result = self.manager.event_ops(id).unwrap().add(events);
        if self.fds[fd].paused {
            // Out of the kernel's list, which would take it again, but
            // still in the table; the refusal leaves it paused as it was.
            assert_eq!(
                result,
                Err(Error::FdAlreadyRegistered),
                "add of paused fd {fd}"
            );
            return;
        }
        assert_eq!(result, Ok(()), "add of fd {fd} by {by}");
        let model = &mut self.fds[fd];
        model.state = State::Registered;
        model.owner = Some(by);
        model.interest = interest.set();
        model.data = data;
    }

    fn add_duplicate(&mut self, by: usize, fd: usize) {
        let (Some(by), Some(fd)) = (self.pick_subscriber(by), self.pick_fd(fd)) else {
            return;
        };
        // A paused fd is `Registered` too: its number is taken in the
        // table, though the kernel would accept it.
        if !self.subscribers[by].alive || self.fds[fd].state != State::Registered {
            return;
        }
        let events = Events::new_raw(self.fds[fd].real.number(), EventSet::IN);
        let result = self
            .manager
            .event_ops(self.subscribers[by].id)
            .unwrap()
            .add(events);
        assert_eq!(result, Err(Error::FdAlreadyRegistered));
    }

    fn close_and_reuse(&mut self, fd: usize) {
        let Some(fd) = self.pick_fd(fd) else {
            return;
        };
        let model = &mut self.fds[fd];
        let number = model.real.number();
        // Take the real fd out by swapping in a placeholder for the moment.
        let real = std::mem::replace(&mut model.real, RealFd::new(Kind::EventFd));
        let reused = real.close_and_reuse();
        assert_eq!(reused.number(), number);
        model.real = reused;
        model.readable = false;
        // The kernel drops the registration with the file; a paused fd had
        // none to drop.
        if model.state == State::Registered && !model.paused {
            model.state = State::ClosedWhileRegistered;
        }
    }

    fn remove_subscriber(&mut self, subscriber: usize) {
        let Some(subscriber) = self.pick_subscriber(subscriber) else {
            return;
        };
        let result = self
            .manager
            .remove_subscriber(self.subscribers[subscriber].id);
        if !self.subscribers[subscriber].alive {
            assert_eq!(result.err(), Some(Error::InvalidId));
            return;
        }
        assert_eq!(result.unwrap().name, subscriber);
        self.subscribers[subscriber].alive = false;
        self.subscribers[subscriber].armed = None;
        for fd in 0..self.fds.len() {
            if self.fds[fd].owner == Some(subscriber) {
                self.forget(fd);
            }
        }
    }

    fn check_dead_ids(&mut self) {
        for subscriber in self.subscribers.iter().filter(|s| !s.alive) {
            let id = subscriber.id;
            assert_eq!(
                self.manager.subscriber_mut(id).err(),
                Some(Error::InvalidId)
            );
            assert_eq!(self.manager.event_ops(id).err(), Some(Error::InvalidId));
            assert_eq!(
                self.manager.remove_subscriber(id).err(),
                Some(Error::InvalidId)
            );
        }
    }

    fn run(&mut self) {
        // What the wait must report: (fd index, owner, set).
        let mut expected: Vec<(usize, usize, EventSet)> = (0..self.fds.len())
            .filter_map(|fd| {
                let set = self.fds[fd].ready_set()?;
                Some((
                    fd,
                    self.fds[fd].owner.expect("a registered fd has an owner"),
                    set,
                ))
            })
            .collect();
        let batch_is_whole = expected.len() <= self.capacity;

        self.log.borrow_mut().clear();
        let dispatched = self.manager.run_with_timeout(0).unwrap();
        self.runs += 1;
        let seen = std::mem::take(&mut *self.log.borrow_mut());
        assert_eq!(dispatched, seen.len());

        for event in &seen {
            let position = expected
                .iter()
                .position(|&(fd, _, _)| self.fds[fd].real.number() == event.fd)
                .unwrap_or_else(|| panic!("unexpected dispatch {event:?} (expected {expected:?})"));
            let (fd, owner, set) = expected.swap_remove(position);
            assert_eq!(
                event.subscriber, owner,
                "{event:?} went to the wrong subscriber"
            );
            assert_eq!(
                event.data, self.fds[fd].data,
                "{event:?} carries the wrong data"
            );
            assert_eq!(event.set, set, "{event:?} has the wrong event set");

            let armed = self.subscribers[owner].armed.take();
            match (armed, event.changed) {
                (None, None) => {}
                (Some((change, target)), Some(changed)) if changed.change == change => {
                    assert_eq!(changed.fd, self.fds[target].real.number());
                    if self.check_change(owner, target, changed) {
                        // Its event, if it comes later in this batch, must
                        // not be dispatched.
                        expected.retain(|&(fd, _, _)| fd != target);
                    }
                }
                (armed, changed) => panic!("armed {armed:?}, but the process made {changed:?}"),
            }
        }
        if batch_is_whole {
            assert!(expected.is_empty(), "never dispatched: {expected:?}");
        }
    }
}

/// Applies `ops` to a new harness of `capacity`, then checks the dead ids
/// and runs once more; returns the number of runs checked.
pub fn check_sequence(capacity: usize, ops: &[Op]) -> usize {
    let mut harness = Harness::new(capacity);
    for op in ops.iter().chain([&Op::CheckDeadIds, &Op::Run]) {
        harness.apply(op);
    }
    harness.runs
}
