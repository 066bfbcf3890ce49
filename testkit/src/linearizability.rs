//! A linearizability checker whose cost is bounded: Wing and Gong's search
//! with Lowe's memoization, as porcupine does it.
//!
//! A history is a list of completed operations, each with the instants (from
//! one counter, [`Clock`]) at which it was invoked and at which it returned.
//! The checker looks for an order of the operations that respects real time
//! (an operation that returned before another was invoked comes first) and
//! in which each one, applied to a sequential [`Model`], gives the answer
//! that was observed.
//!
//! The search walks the history's events in time order: at a call it tries
//! to linearize that operation now (the model must accept its answer), at a
//! return whose call is not linearized yet it backtracks. Lowe's insight is
//! that two branches that linearized the same set of operations and reached
//! the same model state have the same future, so every (set, state) pair is
//! explored at most once: the cost is bounded by the number of such pairs,
//! which for a history whose clients each have one call outstanding is
//! about `operations × 2^clients × states`, not the factorial of the
//! overlap (stateright's unmemoized search once ran 17 minutes).
//!
//! Every check also takes a [`Budget`]: a number of search steps and a
//! wall-clock deadline. Past either, [`check`] says [`Outcome::GaveUp`]:
//! the caller must treat that as a failure, never as a pass.

use std::{
    collections::HashSet,
    hash::Hash,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// A sequential specification of one object.
pub trait Model: Clone + Eq + Hash {
    type Op;
    type Ret;

    /// The state after `op` answered `ret`, or `None` when the object in
    /// this state could not have answered so. (A nondeterministic object
    /// accepts several answers.)
    fn step(&self, op: &Self::Op, ret: &Self::Ret) -> Option<Self>;
}

/// One completed call: who made it, when it was invoked and when it
/// returned (instants of one [`Clock`]), what it asked and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<Op, Ret> {
    pub client: usize,
    pub call: u64,
    pub ret: u64,
    pub op: Op,
    pub out: Ret,
}

/// Instants for a history: one counter every client reads, so that an
/// operation that returned before another was invoked has a smaller return
/// instant than the other's call instant (sequentially consistent atomics
/// have one total order, which includes real-time order).
#[derive(Debug, Default)]
pub struct Clock(AtomicU64);

impl Clock {
    pub fn now(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// How much a check may cost before it gives up.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Search steps (one event visited or one backtrack each).
    pub steps: u64,
    /// Wall-clock time from the start of the check.
    pub time: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An order was found; `steps` is what finding it cost.
    Linearizable { steps: u64 },
    /// Every order was tried. `linearized` is the most operations any
    /// order got through, and `stuck_at` the index (in the history given)
    /// of the operation that order could not place.
    NotLinearizable {
        linearized: usize,
        stuck_at: usize,
        steps: u64,
    },
    /// The budget ran out first: nothing is known, which is a failure.
    GaveUp { steps: u64, elapsed: Duration },
    /// The history itself is malformed (a return before its call, or two
    /// calls of one client that overlap).
    Malformed(String),
}

impl Outcome {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Outcome::Linearizable { .. })
    }
}

/// No node: the end of the event list.
const NIL: usize = usize::MAX;
/// The list's head sentinel; events are nodes `1..=2n`.
const HEAD: usize = 0;

/// A fixed-size set of operation indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Box<[u64]>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// The history's calls and returns in time order, as a doubly linked list
/// from which a linearized operation's two events are lifted (and put back
/// when the search backtracks: always in the reverse order, so the links
/// the lifted nodes kept are still right).
struct Events {
    prev: Vec<usize>,
    next: Vec<usize>,
    /// Per node: the operation's index in the history.
    op: Vec<usize>,
    /// Per call node: its return's node; `NIL` for return nodes.
    matching: Vec<usize>,
}

impl Events {
    fn new<Op, Ret>(history: &[Operation<Op, Ret>]) -> Events {
        // (instant, returns after calls at one instant, operation, is return)
        let mut order: Vec<(u64, bool, usize)> = history
            .iter()
            .enumerate()
            .flat_map(|(i, o)| [(o.call, false, i), (o.ret, true, i)])
            .collect();
        order.sort_unstable();
        let nodes = order.len() + 1;
        let mut events = Events {
            prev: (0..nodes).map(|n| n.wrapping_sub(1)).collect(),
            next: (1..=nodes)
                .map(|n| if n == nodes { NIL } else { n })
                .collect(),
            op: vec![NIL; nodes],
            matching: vec![NIL; nodes],
        };
        let mut call_node = vec![NIL; history.len()];
        for (k, &(_, is_return, i)) in order.iter().enumerate() {
            let node = k + 1;
            events.op[node] = i;
            if is_return {
                events.matching[call_node[i]] = node;
            } else {
                call_node[i] = node;
            }
        }
        events.prev[HEAD] = NIL;
        events
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }

    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.matching[call]);
    }

    fn unlift(&mut self, call: usize) {
        self.relink(self.matching[call]);
        self.relink(call);
    }
}

/// Checks that `history` (complete calls on one object that starts as
/// `initial`) is linearizable, within `budget`.
pub fn check<M: Model>(
    initial: &M,
    history: &[Operation<M::Op, M::Ret>],
    budget: Budget,
) -> Outcome {
    if let Some(bad) = malformed(history) {
        return Outcome::Malformed(bad);
    }
    let started = Instant::now();
    let mut events = Events::new(history);
    let mut state = initial.clone();
    let mut linearized = Bits::new(history.len());
    let mut depth = 0;
    let mut deepest = (0, 0);
    let mut seen: HashSet<(Bits, M)> = HashSet::new();
    // The calls linearized so far, innermost last, each with the state
    // before it.
    let mut calls: Vec<(usize, M)> = Vec::new();
    let mut steps = 0;
    let mut entry = events.next[HEAD];
    while events.next[HEAD] != NIL {
        steps += 1;
        if steps > budget.steps || (steps % 4096 == 0 && started.elapsed() > budget.time) {
            return Outcome::GaveUp {
                steps,
                elapsed: started.elapsed(),
            };
        }
        let i = events.op[entry];
        let call = events.matching[entry] != NIL;
        if call {
            if let Some(after) = state.step(&history[i].op, &history[i].out) {
                linearized.set(i);
                if seen.insert((linearized.clone(), after.clone())) {
                    calls.push((entry, std::mem::replace(&mut state, after)));
                    events.lift(entry);
                    depth += 1;
                    entry = events.next[HEAD];
                    continue;
                }
                linearized.clear(i);
            }
            // A call is always followed by its own return, so this is
            // never the list's end.
            entry = events.next[entry];
        } else {
            // The first return left belongs to an operation no order from
            // here could place before it: undo the last choice.
            if depth >= deepest.0 {
                deepest = (depth, i);
            }
            let Some((undone, before)) = calls.pop() else {
                return Outcome::NotLinearizable {
                    linearized: deepest.0,
                    stuck_at: deepest.1,
                    steps,
                };
            };
            state = before;
            linearized.clear(events.op[undone]);
            events.unlift(undone);
            depth -= 1;
            entry = events.next[undone];
        }
    }
    Outcome::Linearizable { steps }
}

/// Why a history cannot be checked, if it cannot.
fn malformed<Op, Ret>(history: &[Operation<Op, Ret>]) -> Option<String> {
    if let Some((i, o)) = history.iter().enumerate().find(|(_, o)| o.ret <= o.call) {
        return Some(format!(
            "operation {i} returns at {} but was called at {}",
            o.ret, o.call
        ));
    }
    let mut by_client: Vec<(usize, u64, u64)> =
        history.iter().map(|o| (o.client, o.call, o.ret)).collect();
    by_client.sort_unstable();
    by_client
        .windows(2)
        .find(|w| w[0].0 == w[1].0 && w[1].1 < w[0].2)
        .map(|w| format!("client {} has two calls at once", w[0].0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register holding one number: writes set it, reads return it.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    struct Register(i64);

    #[derive(Debug, Clone)]
    enum Op {
        Write(i64),
        Read,
    }

    impl Model for Register {
        type Op = Op;
        type Ret = Option<i64>;

        fn step(&self, op: &Op, ret: &Option<i64>) -> Option<Register> {
            match (op, ret) {
                (Op::Write(v), None) => Some(Register(*v)),
                (Op::Read, Some(v)) if *v == self.0 => Some(self.clone()),
                _ => None,
            }
        }
    }

    fn op(
        client: usize,
        call: u64,
        ret: u64,
        op: Op,
        out: Option<i64>,
    ) -> Operation<Op, Option<i64>> {
        Operation {
            client,
            call,
            ret,
            op,
            out,
        }
    }

    const BUDGET: Budget = Budget {
        steps: 1_000_000,
        time: Duration::from_secs(10),
    };

    #[test]
    fn overlapping_calls_may_take_either_order() {
        // The read overlaps the write and saw the old value; a later read
        // saw the new one.
        let history = [
            op(0, 0, 3, Op::Write(1), None),
            op(1, 1, 2, Op::Read, Some(0)),
            op(1, 4, 5, Op::Read, Some(1)),
        ];
        assert!(check(&Register(0), &history, BUDGET).is_linearizable());
        // Or the new one, even though it was called first.
        let history = [
            op(0, 1, 3, Op::Write(1), None),
            op(1, 0, 2, Op::Read, Some(1)),
        ];
        assert!(check(&Register(0), &history, BUDGET).is_linearizable());
    }

    #[test]
    fn a_value_never_written_is_found() {
        let history = [
            op(0, 0, 1, Op::Write(1), None),
            op(1, 2, 3, Op::Read, Some(7)),
        ];
        let outcome = check(&Register(0), &history, BUDGET);
        assert!(
            matches!(outcome, Outcome::NotLinearizable { stuck_at: 1, .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_stale_read_after_the_write_returned_is_found() {
        let history = [
            op(0, 0, 1, Op::Write(1), None),
            op(1, 2, 3, Op::Read, Some(0)),
        ];
        assert!(!check(&Register(0), &history, BUDGET).is_linearizable());
        // A read may not see a value and then an older one.
        let history = [
            op(0, 0, 10, Op::Write(1), None),
            op(1, 1, 2, Op::Read, Some(1)),
            op(1, 3, 4, Op::Read, Some(0)),
        ];
        assert!(!check(&Register(0), &history, BUDGET).is_linearizable());
    }

    /// A counter: adds commute, so every order of overlapping adds ends in
    /// the same state, which is what the memo catches.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    struct Counter(i64);

    impl Model for Counter {
        type Op = Option<i64>;
        type Ret = i64;

        /// `Some(n)` adds n and answers 0, `None` reads.
        fn step(&self, op: &Option<i64>, ret: &i64) -> Option<Counter> {
            match op {
                Some(n) if *ret == 0 => Some(Counter(self.0 + n)),
                None if *ret == self.0 => Some(self.clone()),
                _ => None,
            }
        }
    }

    /// Rounds of 8 adds that all overlap, then a read of `last` after the
    /// final round.
    fn rounds(last: i64) -> Vec<Operation<Option<i64>, i64>> {
        let clock = Clock::default();
        let mut history = Vec::new();
        for _ in 0..50 {
            let calls: Vec<u64> = (0..8).map(|_| clock.now()).collect();
            for (client, call) in calls.into_iter().enumerate() {
                history.push(Operation {
                    client,
                    call,
                    ret: 0,
                    op: Some(1),
                    out: 0,
                });
            }
            let round = history.len() - 8;
            for o in &mut history[round..] {
                o.ret = clock.now();
            }
        }
        history.push(Operation {
            client: 8,
            call: clock.now(),
            ret: clock.now(),
            op: None,
            out: last,
        });
        history
    }

    #[test]
    fn overlapping_calls_cost_their_sets_not_their_orders() {
        // Each round's 8! orders reach one state; unmemoized, proving the
        // wrong read wrong would take (8!)^50 steps.
        let outcome = check(&Counter(0), &rounds(400), BUDGET);
        assert!(outcome.is_linearizable(), "{outcome:?}");
        let outcome = check(&Counter(0), &rounds(399), BUDGET);
        assert!(
            matches!(
                outcome,
                Outcome::NotLinearizable {
                    linearized: 400,
                    stuck_at: 400,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn the_budget_is_kept_and_giving_up_is_not_a_pass() {
        let history = [
            op(0, 0, 3, Op::Write(1), None),
            op(1, 1, 2, Op::Read, Some(0)),
            op(1, 4, 5, Op::Read, Some(1)),
        ];
        let tight = Budget {
            steps: 2,
            time: Duration::from_secs(10),
        };
        let outcome = check(&Register(0), &history, tight);
        assert!(
            matches!(outcome, Outcome::GaveUp { steps: 3, .. }),
            "{outcome:?}"
        );
        assert!(!outcome.is_linearizable());
    }

    #[test]
    fn malformed_histories_are_refused() {
        let backwards = [op(0, 3, 2, Op::Read, Some(0))];
        assert!(matches!(
            check(&Register(0), &backwards, BUDGET),
            Outcome::Malformed(_)
        ));
        let overlapping = [
            op(0, 0, 3, Op::Read, Some(0)),
            op(0, 1, 2, Op::Read, Some(0)),
        ];
        assert!(matches!(
            check(&Register(0), &overlapping, BUDGET),
            Outcome::Malformed(_)
        ));
    }
}
