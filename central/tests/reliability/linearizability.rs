//! Linearizability: many clients issue guarded adjustments, version-checked
//! adjustments and reads against a few hot levels over real HTTP; every
//! call's invocation and return is stamped as it happens, and each level's
//! history is checked against a sequential model of one level by the
//! test-kit's checker (Wing–Gong–Lowe, memoized: bounded cost). Levels are
//! independent objects, so each is checked alone (linearizability
//! composes).
//!
//! Each history is saved before it is checked (the path is printed), so a
//! run that fails, gives up or is killed by `cargo xtask test`'s time limit
//! leaves it behind; `STOCKLINE_LINEARIZABILITY_REPLAY=<file>` makes the
//! test check that file instead of making traffic.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use testkit::{
    TestApp,
    linearizability::{Budget, Clock, Model, Operation, Outcome, check},
};

/// A level as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Level {
    available: i64,
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Op {
    /// A guarded adjustment, with an expected version or without.
    Adjust {
        delta: i64,
        expected: Option<u64>,
    },
    Read,
}

/// What central answered; every answer carries the level it saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Ret {
    Applied(i64, u64),
    Insufficient(i64, u64),
    VersionMoved(i64, u64),
    Read(i64, u64),
}

impl Level {
    /// What the ledger does with `op`, and what it answers.
    fn apply(&mut self, op: &Op) -> Ret {
        match *op {
            Op::Read => Ret::Read(self.available, self.version),
            Op::Adjust { delta, expected } => {
                if expected.is_some_and(|e| e != self.version) {
                    return Ret::VersionMoved(self.available, self.version);
                }
                if delta < 0 && self.available + delta < 0 {
                    return Ret::Insufficient(self.available, self.version);
                }
                self.available += delta;
                self.version += 1;
                Ret::Applied(self.available, self.version)
            }
        }
    }
}

impl Model for Level {
    type Op = Op;
    type Ret = Ret;

    fn step(&self, op: &Op, ret: &Ret) -> Option<Level> {
        let mut after = self.clone();
        (after.apply(op) == *ret).then_some(after)
    }
}

const LEVELS: usize = 4;
const CLIENTS_PER_LEVEL: usize = 6;
const OPS_PER_CLIENT: usize = 100;
const INITIAL: i64 = 12;

/// What one level's check may cost. With 6 clients a history of 600 calls
/// has at most about 600 × 2⁶ (linearized set, level) pairs that matter;
/// a check takes some 4,000 steps (0.02 s). The budget is 250 times that
/// and still ends within seconds; past it the test fails, since giving up
/// is not a pass.
const BUDGET: Budget = Budget {
    steps: 1_000_000,
    time: Duration::from_secs(20),
};

/// The environment variable naming a saved history to check again.
const REPLAY_ENV: &str = "STOCKLINE_LINEARIZABILITY_REPLAY";

/// One level's history as saved: enough to check it again.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    sku: String,
    initial: Level,
    /// (client, call instant, return instant, op, answer)
    operations: Vec<(usize, u64, u64, Op, Ret)>,
}

impl Saved {
    fn new(sku: &str, initial: &Level, history: &[Operation<Op, Ret>]) -> Saved {
        Saved {
            sku: sku.to_owned(),
            initial: initial.clone(),
            operations: history
                .iter()
                .map(|o| (o.client, o.call, o.ret, o.op.clone(), o.out.clone()))
                .collect(),
        }
    }

    fn history(&self) -> Vec<Operation<Op, Ret>> {
        self.operations
            .iter()
            .map(|(client, call, ret, op, out)| Operation {
                client: *client,
                call: *call,
                ret: *ret,
                op: op.clone(),
                out: out.clone(),
            })
            .collect()
    }

    /// Written under the target directory (cargo's directory for
    /// integration tests' files), where the next run overwrites it.
    fn save(&self) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linearizability");
        std::fs::create_dir_all(&dir).expect("a directory for histories");
        let path = dir.join(format!("history-{}.json", self.sku));
        let json = serde_json::to_vec(self).expect("a history serializes");
        std::fs::write(&path, json).expect("the history saved");
        path
    }

    fn load(path: &Path) -> Saved {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} is not a saved history: {e}", path.display()))
    }

    /// Checks the history within [`BUDGET`]; panics, naming `path`, unless
    /// it is shown linearizable. Returns the search steps it took.
    fn check(&self, path: &Path) -> u64 {
        let started = Instant::now();
        let history = self.history();
        let outcome = check(&self.initial, &history, BUDGET);
        let replay = format!(
            "history in {} (check it again: {REPLAY_ENV}={} cargo test -p central \
             --test reliability linearizable -- --ignored --nocapture)",
            path.display(),
            path.display()
        );
        match outcome {
            Outcome::Linearizable { steps } => {
                eprintln!(
                    "level {}: {} calls linearizable, {steps} steps, {:.2} s",
                    self.sku,
                    history.len(),
                    started.elapsed().as_secs_f64()
                );
                steps
            }
            Outcome::NotLinearizable {
                linearized,
                stuck_at,
                ..
            } => panic!(
                "level {}'s history is not linearizable: the longest order placed {linearized} \
                 of {} calls, then could not place {:?}; {replay}",
                self.sku,
                history.len(),
                history[stuck_at]
            ),
            Outcome::GaveUp { steps, elapsed } => panic!(
                "level {}: the check gave up after {steps} steps ({:.1} s; budget {} steps, \
                 {:?}), which is a failure, not a pass; {replay}",
                self.sku,
                elapsed.as_secs_f64(),
                BUDGET.steps,
                BUDGET.time
            ),
            Outcome::Malformed(why) => panic!("level {}: {why}; {replay}", self.sku),
        }
    }
}

/// One level's calls as they returned.
type History = Vec<Operation<Op, Ret>>;

/// A small seeded generator, so every run issues the same calls.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

async fn call(app: &TestApp, client: &reqwest::Client, sku: &str, key: &str, op: &Op) -> Ret {
    let level = |body: &Value| {
        (
            body["available"].as_i64().expect("available"),
            body["version"].as_u64().expect("version"),
        )
    };
    match op {
        Op::Read => {
            let body: Value = client
                .get(app.url(&format!("/v1/stores/s1/stock/{sku}")))
                .send()
                .await
                .expect("read")
                .json()
                .await
                .expect("level");
            let (a, v) = level(&body);
            Ret::Read(a, v)
        }
        Op::Adjust { delta, expected } => {
            let mut body = json!({"sku": sku, "delta": delta});
            if let Some(expected) = expected {
                body["expected_version"] = json!(expected);
            }
            let response = client
                .post(app.url("/v1/stores/s1/adjustments"))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("adjust");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("answer");
            match (status, body["code"].as_str()) {
                (200, _) => {
                    let (a, v) = level(&body);
                    Ret::Applied(a, v)
                }
                (409, Some("insufficient_stock")) => {
                    let (a, v) = level(&body["current"]);
                    Ret::Insufficient(a, v)
                }
                (409, Some("version_conflict")) => {
                    let (a, v) = level(&body["current"]);
                    Ret::VersionMoved(a, v)
                }
                other => panic!("unexpected answer {other:?}: {body}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability suite: cargo xtask test runs it"]
async fn guarded_and_versioned_writes_and_reads_are_linearizable() {
    if let Some(path) = std::env::var_os(REPLAY_ENV) {
        let path = PathBuf::from(path);
        let steps = Saved::load(&path).check(&path);
        println!("replayed {}: linearizable ({steps} steps)", path.display());
        return;
    }
    let app = TestApp::spawn().await;
    let mut initial = Vec::new();
    for l in 0..LEVELS {
        let sku = format!("L{l}");
        app.create_product(&sku).await;
        let level = app.set_stock("s1", &sku, INITIAL).await;
        initial.push(Level {
            available: level.available,
            version: level.version,
        });
    }
    let started = Instant::now();
    let app = Arc::new(app);
    // One clock for every call, so real-time order is in the instants.
    let clock = Arc::new(Clock::default());
    let histories: Vec<Arc<Mutex<History>>> = (0..LEVELS).map(|_| Arc::default()).collect();
    let mut clients = Vec::new();
    for (l, history) in histories.iter().enumerate() {
        for c in 0..CLIENTS_PER_LEVEL {
            let (app, clock, history) = (app.clone(), clock.clone(), history.clone());
            clients.push(tokio::spawn(async move {
                let client = app.client.clone();
                let sku = format!("L{l}");
                let mut rng = Rng((l * 100 + c) as u64 + 1);
                let mut last_version = 0;
                for i in 0..OPS_PER_CLIENT {
                    let roll = rng.next() % 100;
                    let op = match roll {
                        0..45 => Op::Adjust {
                            delta: -((rng.next() % 3) as i64 + 1),
                            expected: None,
                        },
                        45..60 => Op::Adjust {
                            delta: (rng.next() % 5) as i64 + 1,
                            expected: None,
                        },
                        60..80 => Op::Adjust {
                            delta: if rng.next().is_multiple_of(2) { -1 } else { 2 },
                            expected: Some(last_version),
                        },
                        _ => Op::Read,
                    };
                    let key = format!("lin-{l}-{c}-{i}");
                    let invoked = clock.now();
                    let out = call(&app, &client, &sku, &key, &op).await;
                    let returned = clock.now();
                    last_version = match out {
                        Ret::Applied(_, v)
                        | Ret::Insufficient(_, v)
                        | Ret::VersionMoved(_, v)
                        | Ret::Read(_, v) => v,
                    };
                    history.lock().expect("history").push(Operation {
                        client: c,
                        call: invoked,
                        ret: returned,
                        op,
                        out,
                    });
                }
            }));
        }
    }
    for client in clients {
        client.await.expect("client");
    }
    let calls = started.elapsed();
    let checking = Instant::now();
    let mut steps = Vec::new();
    for (l, history) in histories.iter().enumerate() {
        let saved = Saved::new(
            &format!("L{l}"),
            &initial[l],
            &history.lock().expect("history"),
        );
        // Saved first: if the check never ends, the history is there.
        let path = saved.save();
        eprintln!("checking level L{l}: history in {}", path.display());
        steps.push(saved.check(&path));
        let _ = std::fs::remove_file(&path);
    }
    let ops = LEVELS * CLIENTS_PER_LEVEL * OPS_PER_CLIENT;
    println!(
        "reliability: linearizability: {ops} operations on {LEVELS} levels by {} clients \
         ({:.1} s of calls), checked in {:.2} s ({} search steps at most per level, budget {}): \
         0 violations",
        LEVELS * CLIENTS_PER_LEVEL,
        calls.as_secs_f64(),
        checking.elapsed().as_secs_f64(),
        steps.iter().max().unwrap_or(&0),
        BUDGET.steps
    );
}

/// The checker is not a rubber stamp on this model: a read that misses a
/// write which had already returned is found, and so is a sale that took
/// stock that was not there; overlapping calls may take either order.
#[test]
fn the_checker_finds_stale_reads_and_oversells() {
    let start = Level {
        available: 1,
        version: 1,
    };
    let sale = Op::Adjust {
        delta: -1,
        expected: None,
    };
    let op = |client, call, ret, op: &Op, out| Operation {
        client,
        call,
        ret,
        op: op.clone(),
        out,
    };
    let budget = Budget {
        steps: 10_000,
        time: Duration::from_secs(10),
    };
    let stale = [
        op(0, 0, 1, &sale, Ret::Applied(0, 2)),
        op(1, 2, 3, &Op::Read, Ret::Read(1, 1)),
    ];
    assert!(!check(&start, &stale, budget).is_linearizable());

    let oversold = [
        op(0, 0, 2, &sale, Ret::Applied(0, 2)),
        op(1, 1, 3, &sale, Ret::Applied(-1, 3)),
    ];
    assert!(!check(&start, &oversold, budget).is_linearizable());

    let never_written = [op(0, 0, 1, &Op::Read, Ret::Read(7, 1))];
    assert!(!check(&start, &never_written, budget).is_linearizable());

    let concurrent = [
        op(0, 0, 3, &sale, Ret::Applied(0, 2)),
        op(1, 1, 2, &Op::Read, Ret::Read(1, 1)),
    ];
    assert!(check(&start, &concurrent, budget).is_linearizable());
}

/// A saved history reads back as the same history.
#[test]
fn a_saved_history_reads_back() {
    let history = [Operation {
        client: 3,
        call: 5,
        ret: 9,
        op: Op::Adjust {
            delta: -2,
            expected: Some(4),
        },
        out: Ret::VersionMoved(10, 5),
    }];
    let initial = Level {
        available: 10,
        version: 5,
    };
    let saved = Saved::new("roundtrip", &initial, &history);
    let path = saved.save();
    let loaded = Saved::load(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(loaded.initial, initial);
    assert_eq!(loaded.history(), history);
}
