//! Every wrapper impl dispatches to the subscriber inside it, and the impls
//! the API promises exist (checked at compile time).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use event_manager::{
    EventManager, EventOps, EventSet, EventSubscriber, Events, MutEventSubscriber, SubscriberOps,
};
use event_manager_tests::{ready_eventfd, Probe};
use vmm_sys_util::eventfd::EventFd;

/// A `&self` subscriber: counts its events in an atomic.
struct Shared {
    fd: EventFd,
    events: AtomicU32,
    inits: AtomicU32,
}

impl Shared {
    fn new() -> Self {
        Shared {
            fd: ready_eventfd(),
            events: AtomicU32::new(0),
            inits: AtomicU32::new(0),
        }
    }
}

impl EventSubscriber for Shared {
    fn init(&self, ops: &mut EventOps) {
        self.inits.fetch_add(1, Ordering::Relaxed);
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }

    fn process(&self, _events: Events, _ops: &mut EventOps) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

/// A `&self` subscriber that is not `Send`.
struct Local {
    fd: EventFd,
    events: Cell<u32>,
}

impl EventSubscriber for Local {
    fn init(&self, ops: &mut EventOps) {
        ops.add(Events::new(&self.fd, EventSet::IN)).unwrap();
    }

    fn process(&self, _events: Events, _ops: &mut EventOps) {
        self.events.set(self.events.get() + 1);
    }
}

fn assert_both_traits<T: EventSubscriber + MutEventSubscriber + ?Sized>() {}
fn assert_mut_trait<T: MutEventSubscriber + ?Sized>() {}

#[test]
fn the_promised_wrapper_impls_exist() {
    assert_both_traits::<Arc<Shared>>();
    assert_both_traits::<Rc<Shared>>();
    assert_both_traits::<Arc<dyn EventSubscriber>>();
    assert_both_traits::<Rc<dyn EventSubscriber>>();
    assert_both_traits::<Mutex<Probe>>();
    assert_both_traits::<RefCell<Probe>>();
    assert_both_traits::<Mutex<dyn MutEventSubscriber + Send>>();
    assert_both_traits::<RefCell<dyn MutEventSubscriber>>();
    assert_both_traits::<Box<Mutex<Probe>>>();
    assert_both_traits::<Arc<Mutex<dyn MutEventSubscriber + Send>>>();
    assert_both_traits::<Rc<RefCell<dyn MutEventSubscriber>>>();
    assert_mut_trait::<Box<dyn MutEventSubscriber>>();
    assert_mut_trait::<Box<dyn MutEventSubscriber + Send>>();
    assert_event_trait::<Box<dyn EventSubscriber>>();
    assert_event_trait::<Box<Shared>>();
}

fn assert_event_trait<T: EventSubscriber + ?Sized>() {}

#[test]
fn arc_and_rc_of_an_event_subscriber_dispatch_to_the_shared_value() {
    let shared = Arc::new(Shared::new());
    let mut manager = EventManager::<Arc<Shared>>::new().unwrap();
    manager.add_subscriber(Arc::clone(&shared));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(shared.events.load(Ordering::Relaxed), 1);
    assert_eq!(shared.inits.load(Ordering::Relaxed), 1);

    let local = Rc::new(Local {
        fd: ready_eventfd(),
        events: Cell::new(0),
    });
    let mut manager = EventManager::<Rc<dyn EventSubscriber>>::new().unwrap();
    manager.add_subscriber(local.clone());
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(local.events.get(), 1);
}

#[test]
fn mutex_and_refcell_lend_the_inner_subscriber_mutably() {
    let fd = ready_eventfd();
    let shared = Arc::new(Mutex::new(Probe::new(vec![Events::new(&fd, EventSet::IN)])));
    let mut manager = EventManager::<Arc<Mutex<Probe>>>::new().unwrap();
    manager.add_subscriber(Arc::clone(&shared));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(shared.lock().unwrap().seen.len(), 1);

    let fd = ready_eventfd();
    let cell = Rc::new(RefCell::new(Probe::new(vec![Events::new(
        &fd,
        EventSet::IN,
    )])));
    let mut manager = EventManager::<Rc<RefCell<Probe>>>::new().unwrap();
    manager.add_subscriber(Rc::clone(&cell));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(cell.borrow().seen.len(), 1);

    // Owned, without sharing: `&mut self` reaches the inner value directly.
    let fd = ready_eventfd();
    let mut manager = EventManager::<Mutex<Probe>>::new().unwrap();
    let id = manager.add_subscriber(Mutex::new(Probe::new(vec![Events::new(&fd, EventSet::IN)])));
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    assert_eq!(
        manager
            .remove_subscriber(id)
            .unwrap()
            .into_inner()
            .unwrap()
            .seen
            .len(),
        1
    );
}

#[test]
fn a_poisoned_mutex_keeps_receiving_events() {
    let fd = ready_eventfd();
    let shared = Arc::new(Mutex::new(Probe::new(vec![Events::new(&fd, EventSet::IN)])));
    let mut manager = EventManager::<Arc<Mutex<Probe>>>::new().unwrap();
    manager.add_subscriber(Arc::clone(&shared));

    let poisoner = Arc::clone(&shared);
    let _ = std::thread::spawn(move || {
        let _guard = poisoner.lock().unwrap();
        panic!("poison the lock");
    })
    .join();
    assert!(shared.is_poisoned());

    assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
    let seen = shared.lock().unwrap_or_else(|e| e.into_inner()).seen.len();
    assert_eq!(seen, 1);
}

#[test]
fn different_types_share_one_manager_behind_trait_objects() {
    let (a, b) = (ready_eventfd(), ready_eventfd());
    let probe: Arc<Mutex<dyn MutEventSubscriber + Send>> =
        Arc::new(Mutex::new(Probe::new(vec![Events::with_data(
            &a,
            1,
            EventSet::IN,
        )])));
    let shared = Arc::new(Mutex::new(Shared::new_on(b)));

    let mut manager = EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new().unwrap();
    manager.add_subscriber(probe);
    manager.add_subscriber(shared.clone());
    assert_eq!(manager.run_with_timeout(1000).unwrap(), 2);
    assert_eq!(shared.lock().unwrap().events.load(Ordering::Relaxed), 1);

    let mut boxed = EventManager::<Box<dyn MutEventSubscriber>>::new().unwrap();
    let fd = ready_eventfd();
    boxed.add_subscriber(Box::new(Probe::new(vec![Events::new(&fd, EventSet::IN)])));
    boxed.add_subscriber(Box::new(Arc::new(Shared::new())));
    assert_eq!(boxed.run_with_timeout(1000).unwrap(), 2);
}

impl Shared {
    fn new_on(fd: EventFd) -> Self {
        Shared {
            fd,
            ..Shared::new()
        }
    }
}

/// `Mutex<T>` needs `T: MutEventSubscriber`; `Shared` only has the `&self`
/// trait, so give it the `&mut self` one by delegation, as a user would.
impl MutEventSubscriber for Shared {
    fn init(&mut self, ops: &mut EventOps) {
        EventSubscriber::init(self, ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        EventSubscriber::process(self, events, ops);
    }
}
