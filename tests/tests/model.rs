//! Model-based tests of the manager: proptest generates sequences of
//! operations on real eventfds and Unix sockets, and the reference model
//! of `event_manager_tests::model` checks every one of them: exactly the
//! expected (subscriber, fd, data, event set) dispatches, none for an fd
//! removed or paused earlier in the batch, a paused fd or a removed
//! subscriber, the answers of `pause`, `resume` and `is_paused`, and
//! `InvalidId` for every dead id. The `runtime_model` fuzz target
//! (`fuzz/`) drives the same model with sequences decoded from its own
//! inputs.
//!
//! `EVENT_MANAGER_MODEL_CASES=N` sets the number of sequences (default
//! 300). A failing input is shrunk and saved by proptest in
//! `model.proptest-regressions` beside this file, and replayed first on
//! every later run; inputs found that way are also kept as plain tests at
//! the end of this file.

use std::cell::Cell;

use event_manager_tests::model::{check_sequence, Interest, Kind, Op};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::EventFd), Just(Kind::Socket)]
}

fn interest() -> impl Strategy<Value = Interest> {
    prop_oneof![
        3 => Just(Interest::In),
        1 => Just(Interest::Out),
        1 => Just(Interest::InOut),
        1 => Just(Interest::Empty),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let index = || 0..64usize;
    prop_oneof![
        3 => prop::collection::vec((kind(), interest(), any::<u32>(), any::<bool>()), 1..=4)
            .prop_map(Op::AddSubscriber),
        4 => index().prop_map(Op::Trigger),
        2 => index().prop_map(Op::Drain),
        2 => (index(), index(), interest(), any::<u32>())
            .prop_map(|(by, fd, interest, data)| Op::Modify { by, fd, interest, data }),
        1 => (index(), index()).prop_map(|(by, fd)| Op::Remove { by, fd }),
        2 => (index(), index()).prop_map(|(by, fd)| Op::RemoveInProcess { by, fd }),
        2 => (index(), index()).prop_map(|(by, fd)| Op::Pause { by, fd }),
        2 => (index(), index()).prop_map(|(by, fd)| Op::Resume { by, fd }),
        1 => (index(), index()).prop_map(|(by, fd)| Op::PauseInProcess { by, fd }),
        1 => (index(), index()).prop_map(|(by, fd)| Op::ResumeInProcess { by, fd }),
        1 => (index(), prop::option::of(index()), kind(), interest(), any::<u32>()).prop_map(
            |(by, again, kind, interest, data)| Op::AddFd { by, again, kind, interest, data }
        ),
        1 => (index(), index()).prop_map(|(by, fd)| Op::AddDuplicate { by, fd }),
        1 => index().prop_map(Op::CloseAndReuse),
        1 => index().prop_map(Op::RemoveSubscriber),
        1 => Just(Op::CheckDeadIds),
        6 => Just(Op::Run),
    ]
}

fn cases() -> u32 {
    std::env::var("EVENT_MANAGER_MODEL_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(300)
}

#[test]
fn dispatch_follows_the_model() {
    let config = ProptestConfig {
        cases: cases(),
        // Where a failing input is kept, and replayed first from then on.
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    let capacity = prop_oneof![1 => 1..=4usize, 3 => Just(256usize)];
    let sequence = prop::collection::vec(op(), 1..80);
    let (sequences, operations, runs) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));
    let result = TestRunner::new(config).run(&(capacity, sequence), |(capacity, ops)| {
        let checked_runs = check_sequence(capacity, &ops);
        sequences.set(sequences.get() + 1);
        operations.set(operations.get() + ops.len() as u64);
        runs.set(runs.get() + checked_runs as u64);
        Ok(())
    });
    eprintln!(
        "model: {} sequences, {} operations, {} runs checked",
        sequences.get(),
        operations.get(),
        runs.get()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
