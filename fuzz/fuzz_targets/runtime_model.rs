//! The runtime against the reference model of the tests
//! (`event_manager_tests::model`), on operation sequences decoded from
//! the fuzzer's bytes: a disagreement between the manager and the model
//! panics inside the model, and the fuzzer reports it.
//!
//! The first byte picks the ready-list capacity (1 to 4, which splits
//! batches, or 256); then each operation is a tag byte followed by its
//! arguments. Indices are bytes: the model takes them modulo the number
//! of subscribers or fds made so far.
#![no_main]

use arbitrary::{Result, Unstructured};
use event_manager_tests::model::{check_sequence, Interest, Kind, Op};
use libfuzzer_sys::fuzz_target;

/// Longer sequences than this are cut: they rarely reach a state a shorter
/// one cannot, and each operation costs system calls.
const MAX_OPS: usize = 256;

/// The model fds (each an eventfd or a socket pair) one sequence may make;
/// operations that would make more become `Run`s, so that no input runs
/// out of fds.
const MAX_FDS: usize = 192;

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok((capacity, ops)) = decode(&mut input) else {
        return;
    };
    check_sequence(capacity, &ops);
});

fn decode(input: &mut Unstructured) -> Result<(usize, Vec<Op>)> {
    let capacity = match input.arbitrary::<u8>()? % 8 {
        small @ 0..=3 => usize::from(small) + 1,
        _ => 256,
    };
    let mut ops = Vec::new();
    let mut fds_made = 0;
    while !input.is_empty() && ops.len() < MAX_OPS {
        ops.push(op(input, &mut fds_made)?);
    }
    Ok((capacity, ops))
}

fn op(input: &mut Unstructured, fds_made: &mut usize) -> Result<Op> {
    let op = match input.arbitrary::<u8>()? % 17 {
        0 => {
            let count = index(input)? % 4 + 1;
            if *fds_made + count > MAX_FDS {
                return Ok(Op::Run);
            }
            *fds_made += count;
            let fds = (0..count)
                .map(|_| {
                    Ok((
                        kind(input)?,
                        interest(input)?,
                        input.arbitrary()?,
                        input.arbitrary()?,
                    ))
                })
                .collect::<Result<_>>()?;
            Op::AddSubscriber(fds)
        }
        1 => Op::Trigger(index(input)?),
        2 => Op::Drain(index(input)?),
        3 => Op::Modify {
            by: index(input)?,
            fd: index(input)?,
            interest: interest(input)?,
            data: input.arbitrary()?,
        },
        4 => Op::Remove {
            by: index(input)?,
            fd: index(input)?,
        },
        5 => Op::RemoveInProcess {
            by: index(input)?,
            fd: index(input)?,
        },
        6 => {
            if *fds_made >= MAX_FDS {
                return Ok(Op::Run);
            }
            *fds_made += 1;
            Op::AddFd {
                by: index(input)?,
                again: input.arbitrary::<Option<u8>>()?.map(usize::from),
                kind: kind(input)?,
                interest: interest(input)?,
                data: input.arbitrary()?,
            }
        }
        7 => Op::AddDuplicate {
            by: index(input)?,
            fd: index(input)?,
        },
        8 => Op::CloseAndReuse(index(input)?),
        9 => Op::RemoveSubscriber(index(input)?),
        10 => Op::CheckDeadIds,
        11 => Op::Pause {
            by: index(input)?,
            fd: index(input)?,
        },
        12 => Op::Resume {
            by: index(input)?,
            fd: index(input)?,
        },
        13 => Op::PauseInProcess {
            by: index(input)?,
            fd: index(input)?,
        },
        14 => Op::ResumeInProcess {
            by: index(input)?,
            fd: index(input)?,
        },
        _ => Op::Run,
    };
    Ok(op)
}

/// A subscriber or fd, modulo their number.
fn index(input: &mut Unstructured) -> Result<usize> {
    input.arbitrary::<u8>().map(usize::from)
}

fn kind(input: &mut Unstructured) -> Result<Kind> {
    Ok(if input.arbitrary()? {
        Kind::Socket
    } else {
        Kind::EventFd
    })
}

fn interest(input: &mut Unstructured) -> Result<Interest> {
    Ok(match input.arbitrary::<u8>()? % 4 {
        0 => Interest::In,
        1 => Interest::Out,
        2 => Interest::InOut,
        _ => Interest::Empty,
    })
}
