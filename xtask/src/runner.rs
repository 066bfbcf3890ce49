//! Test binaries built once and run one at a time, each under a time limit.
//!
//! `cargo test` runs every binary to its end however long that takes: one
//! reliability run once sat 17 minutes at 100 % CPU. Here cargo only
//! builds (`--no-run`, its JSON messages name every test executable), and
//! each binary then runs as cargo would run it (in its package's directory,
//! with the `CARGO_*` variables set) under a watchdog. Past its limit the
//! binary and everything it started (its own process group) are killed,
//! the tests it had not finished are named, and they count as failures:
//! a test that times out is a failure, never a skip.
//!
//! Building once is also what lets a second pass (central's HTTP suite on
//! PostgreSQL, the reliability suite) reuse the workspace build: `cargo
//! test -p central` resolves features for central alone and rebuilt for
//! five minutes.

use std::{
    collections::BTreeSet,
    ffi::OsString,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicI32, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{Tally, root};

/// One executable cargo built.
#[derive(Debug, Clone)]
pub struct Binary {
    pub package: String,
    pub version: String,
    /// The target's kind as cargo names it: lib, bin, test, bench, example.
    pub kind: String,
    pub name: String,
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    /// Built for `cargo test` (a libtest harness), or a plain executable
    /// (a `[[bin]]` integration tests start).
    pub test: bool,
}

impl Binary {
    /// How cargo selects it: `-p central --test api`.
    pub fn label(&self) -> String {
        match self.kind.as_str() {
            "bin" | "test" | "bench" | "example" => {
                format!("-p {} --{} {}", self.package, self.kind, self.name)
            }
            // lib, rlib, cdylib, proc-macro, …: the package's one library.
            _ => format!("-p {} --lib", self.package),
        }
    }

    fn manifest_dir(&self) -> PathBuf {
        self.manifest_path
            .parent()
            .map_or_else(root, Path::to_path_buf)
    }
}

/// What one `cargo test --no-run` built.
pub struct Built {
    pub binaries: Vec<Binary>,
}

impl Built {
    /// The test binaries, in a stable order (package, then lib, bins,
    /// tests; cargo's JSON comes in build order).
    pub fn tests(&self) -> impl Iterator<Item = &Binary> {
        let mut tests: Vec<&Binary> = self.binaries.iter().filter(|b| b.test).collect();
        let rank = |kind: &str| match kind {
            "bin" => 1,
            "test" => 2,
            "bench" | "example" => 3,
            _ => 0,
        };
        tests.sort_by(|a, b| {
            (&a.package, rank(&a.kind), &a.name).cmp(&(&b.package, rank(&b.kind), &b.name))
        });
        tests.into_iter()
    }

    /// The test binary `cargo test -p package --kind name` would run.
    pub fn test(&self, package: &str, kind: &str, name: &str) -> anyhow::Result<&Binary> {
        self.binaries
            .iter()
            .find(|b| b.test && b.package == package && b.kind == kind && b.name == name)
            .with_context(|| {
                format!("the build made no test binary `-p {package} --{kind} {name}`")
            })
    }

    /// A plain executable the build made (a `[[bin]]` target).
    pub fn executable(&self, package: &str, name: &str) -> anyhow::Result<&Path> {
        self.binaries
            .iter()
            .find(|b| !b.test && b.package == package && b.kind == "bin" && b.name == name)
            .map(|b| b.path.as_path())
            .with_context(|| format!("the build made no executable `{name}` of {package}"))
    }
}

/// `cargo test <selection> --no-run`: builds, and reads from cargo's JSON
/// messages what it built. Compiler messages are rendered to the terminal
/// as usual.
pub fn build(selection: &[&str]) -> anyhow::Result<Built> {
    let mut child = Command::new("cargo")
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(selection)
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo test --no-run")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut binaries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        // Not every line is a message (a build script may print); only
        // artifacts matter.
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(binary) = artifact(&message) {
            binaries.push(binary);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "`cargo test --no-run {}` failed ({status})",
            selection.join(" ")
        );
    }
    Ok(Built { binaries })
}

/// A `compiler-artifact` message that names an executable, as a [`Binary`].
fn artifact(message: &Value) -> Option<Binary> {
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let path = message["executable"].as_str()?;
    let target = &message["target"];
    let (package, version) = package_of(message["package_id"].as_str()?)?;
    Some(Binary {
        package,
        version,
        kind: target["kind"][0].as_str()?.to_owned(),
        name: target["name"].as_str()?.to_owned(),
        path: PathBuf::from(path),
        manifest_path: PathBuf::from(message["manifest_path"].as_str()?),
        test: message["profile"]["test"].as_bool()?,
    })
}

/// Name and version from a package id: `path+file:///w/central#0.1.0`
/// (the name is the directory's) or `path+file:///w/tests#e2e@0.1.0`.
fn package_of(id: &str) -> Option<(String, String)> {
    let (source, fragment) = id.rsplit_once('#')?;
    match fragment.split_once('@') {
        Some((name, version)) => Some((name.to_owned(), version.to_owned())),
        None => {
            let name = source.trim_end_matches('/').rsplit('/').next()?;
            Some((name.to_owned(), fragment.to_owned()))
        }
    }
}

/// The process group of the test binary running now (0: none), for the
/// signal handler: a Ctrl-C that ends xtask ends it too, although it runs
/// in a group of its own.
static RUNNING: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let group = RUNNING.load(Ordering::SeqCst);
    // SAFETY: kill, signal and raise are async-signal-safe.
    unsafe {
        if group > 0 {
            libc::kill(-group, libc::SIGKILL);
        }
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

fn forward_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: `forward` does only async-signal-safe work.
            unsafe {
                libc::signal(
                    signal,
                    forward as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
    });
}

/// Kills a process group: the test binary and whatever it started that
/// did not leave the group.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: a negative pid signals that group; ours is `child`'s own.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// How a watched run ended.
enum Ended {
    Exited(ExitStatus),
    TimedOut(Duration),
}

/// Starts `command` in a process group of its own with stdout piped, hands
/// each line of its stdout to `line` as it comes, and kills the group if
/// it runs past `limit`. A process it started may keep the pipe open after
/// it exited: its stdout is then read for two seconds more, not forever.
fn watch(
    mut command: Command,
    limit: Duration,
    mut line: impl FnMut(&str),
) -> anyhow::Result<Ended> {
    use std::os::unix::process::CommandExt;
    forward_signals();
    let started = Instant::now();
    let mut child = command
        .process_group(0)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    RUNNING.store(i32::try_from(child.id()).unwrap_or(0), Ordering::SeqCst);
    let stdout = child.stdout.take().context("the child's stdout")?;
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if lines.send(l).is_err() {
                break;
            }
        }
    });
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let ended = loop {
        match received.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => line(&l),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed: the binary is ending; wait for it within
                // its limit.
                if exited.is_none() {
                    while started.elapsed() < limit {
                        if let Some(status) = child.try_wait()? {
                            exited = Some((status, Instant::now()));
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                match exited {
                    Some((status, _)) => break Ended::Exited(status),
                    None => {
                        kill_group(&mut child);
                        break Ended::TimedOut(started.elapsed());
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if exited.is_none()
            && let Some(status) = child.try_wait()?
        {
            exited = Some((status, Instant::now()));
        }
        match exited {
            Some((status, at)) if at.elapsed() > Duration::from_secs(2) => {
                // Something it started still holds the pipe; the binary's
                // own output is all read by now.
                kill_group(&mut child);
                break Ended::Exited(status);
            }
            Some(_) => {}
            None if started.elapsed() >= limit => {
                kill_group(&mut child);
                let elapsed = started.elapsed();
                // What it printed before it died, for the report (for a
                // moment: something outside the group may hold the pipe).
                let killed = Instant::now();
                while killed.elapsed() < Duration::from_secs(2)
                    && let Ok(l) = received.recv_timeout(Duration::from_millis(200))
                {
                    line(&l);
                }
                break Ended::TimedOut(elapsed);
            }
            None => {}
        }
    };
    RUNNING.store(0, Ordering::SeqCst);
    let _ = child.wait();
    Ok(ended)
}

/// What libtest said about a binary's tests, line by line.
#[derive(Default)]
struct Progress {
    done: BTreeSet<String>,
    /// A test whose result line is still to come: with `--nocapture` and
    /// one thread, libtest prints `test NAME ... `, the test's output, then
    /// `ok` on a line of its own.
    open: Option<String>,
    passed: u64,
    failed: u64,
    /// Whether the binary printed its `test result:` summary.
    summarised: bool,
}

impl Progress {
    fn line(&mut self, line: &str) {
        if let Some((name, rest)) = line
            .strip_prefix("test ")
            .and_then(|l| l.split_once(" ... "))
        {
            self.open = Some(name.to_owned());
            self.result(rest);
        } else if line.starts_with("test result: ") {
            self.summarised = true;
        } else if self.open.is_some() {
            self.result(line);
        }
    }

    fn result(&mut self, said: &str) {
        let said = said.trim();
        let passed = said == "ok";
        let failed = said == "FAILED";
        if (passed || failed || said.starts_with("ignored"))
            && let Some(name) = self.open.take()
        {
            self.passed += u64::from(passed);
            self.failed += u64::from(failed);
            self.done.insert(name);
        }
    }
}

impl Tally {
    /// Runs a test binary as `cargo test` would (its package's directory,
    /// `CARGO_*` variables) with libtest `args`, under `limit`. Its output
    /// passes through and its results are counted; past the limit, or if
    /// it ends without its summary, the tests it had not finished are
    /// named and counted as failed.
    pub fn run(
        &mut self,
        binary: &Binary,
        args: &[&str],
        envs: &[(&str, OsString)],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let label = binary.label();
        crate::step(&format!(
            "{label} {}(limit {})",
            if args.is_empty() {
                String::new()
            } else {
                format!("-- {} ", args.join(" "))
            },
            minutes(limit)
        ));
        let command = |extra: &[&str]| {
            let mut command = Command::new(&binary.path);
            command
                .args(args)
                .args(extra)
                .envs(envs.iter().map(|(k, v)| (k, v)))
                .env("CARGO_MANIFEST_DIR", binary.manifest_dir())
                .env("CARGO_MANIFEST_PATH", &binary.manifest_path)
                .env("CARGO_PKG_NAME", &binary.package)
                .env("CARGO_PKG_VERSION", &binary.version)
                .env("CARGO_CRATE_NAME", binary.name.replace('-', "_"))
                .current_dir(binary.manifest_dir());
            if let Some(cargo) = std::env::var_os("CARGO") {
                command.env("CARGO", cargo);
            }
            command
        };
        // The tests it will run, to name those a time-out leaves unfinished.
        let mut listed = BTreeSet::new();
        let listing = watch(
            command(&["--list", "--format", "terse"]),
            Duration::from_secs(60),
            |l| {
                if let Some(name) = l.strip_suffix(": test") {
                    listed.insert(name.to_owned());
                }
            },
        )?;
        if !matches!(listing, Ended::Exited(s) if s.success()) {
            self.failed += 1;
            self.unfinished
                .push(format!("{label}: could not list its tests"));
            bail!("{label}: listing its tests failed");
        }
        let mut progress = Progress::default();
        let started = Instant::now();
        let ended = watch(command(&[]), limit, |l| {
            println!("{l}");
            if let Some(at) = l.find("reliability: ") {
                self.reports.push(l[at..].to_owned());
            }
            if let Some(rest) = l.strip_prefix("test result: ") {
                self.passed += crate::count(rest, " passed");
                self.failed += crate::count(rest, " failed");
            }
            progress.line(l);
        })?;
        eprintln!("    ({label}: {:.1} s)", started.elapsed().as_secs_f64());
        let unfinished: Vec<&String> = listed.difference(&progress.done).collect();
        let names = |unfinished: &[&String]| {
            unfinished
                .iter()
                .map(|n| format!("\n    {n}"))
                .collect::<String>()
        };
        match ended {
            Ended::Exited(status) if status.success() => Ok(()),
            Ended::Exited(status) => {
                if !progress.summarised {
                    // It died mid-run (a crash, an abort): what it passed
                    // counts, and what it never finished fails.
                    self.passed += progress.passed;
                    self.failed += progress.failed + unfinished.len().max(1) as u64;
                    let line = format!(
                        "{label} ended without its summary ({status}); tests not finished:{}",
                        names(&unfinished)
                    );
                    eprintln!("\nxtask: {line}");
                    self.unfinished.push(line);
                }
                bail!("{label} failed ({status})")
            }
            Ended::TimedOut(after) => {
                self.passed += progress.passed;
                self.failed += progress.failed + unfinished.len().max(1) as u64;
                let line = format!(
                    "TIMED OUT: {label} ran past its limit of {} ({:.0} s) and was killed; \
                     tests not finished (each a failure):{}",
                    minutes(limit),
                    after.as_secs_f64(),
                    names(&unfinished)
                );
                eprintln!("\nxtask: {line}");
                self.unfinished.push(line);
                bail!("{label} timed out")
            }
        }
    }

    /// Runs `cargo args` (a `cargo test` whose building cannot be
    /// separated from running, such as the wasm tests, whose runner is
    /// cargo's), counting its results, killed past `limit`.
    pub fn cargo_test(
        &mut self,
        args: &[&str],
        envs: &[(&str, OsString)],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let mut command = Command::new("cargo");
        command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .current_dir(root());
        let ended = watch(command, limit, |l| {
            println!("{l}");
            if let Some(rest) = l.strip_prefix("test result: ") {
                self.passed += crate::count(rest, " passed");
                self.failed += crate::count(rest, " failed");
            }
        })?;
        match ended {
            Ended::Exited(status) if status.success() => Ok(()),
            Ended::Exited(status) => bail!("`cargo {}` failed ({status})", args.join(" ")),
            Ended::TimedOut(_) => {
                self.failed += 1;
                let line = format!(
                    "TIMED OUT: `cargo {}` ran past its limit of {} and was killed",
                    args.join(" "),
                    minutes(limit)
                );
                eprintln!("\nxtask: {line}");
                self.unfinished.push(line);
                bail!("`cargo {}` timed out", args.join(" "))
            }
        }
    }
}

fn minutes(limit: Duration) -> String {
    let secs = limit.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// A time limit from the environment (whole seconds), or `default`.
pub fn limit(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_give_name_and_version() {
        assert_eq!(
            package_of("path+file:///work/main/central#0.1.0"),
            Some(("central".into(), "0.1.0".into()))
        );
        assert_eq!(
            package_of("path+file:///work/main/tests#e2e@0.1.0"),
            Some(("e2e".into(), "0.1.0".into()))
        );
    }

    #[test]
    fn results_are_read_however_libtest_splits_them() {
        let mut progress = Progress::default();
        for line in [
            "test a ... ok",
            "test b ... FAILED",
            "test c ... ignored, reliability suite",
            // --nocapture, one thread: the result after the test's output.
            "test d ... reliability: checked",
            "more output",
            "ok",
            "test e ... ",
            "test e has been running for over 60 seconds",
        ] {
            progress.line(line);
        }
        let done: Vec<&str> = progress.done.iter().map(String::as_str).collect();
        assert_eq!(done, ["a", "b", "c", "d"]);
        assert_eq!((progress.passed, progress.failed), (2, 1));
        assert!(!progress.summarised);
    }

    #[test]
    fn a_run_past_its_limit_is_killed_with_what_it_started() {
        let mut command = Command::new("sh");
        // A child that would hold the pipe open, and a parent that hangs.
        command.args(["-c", "echo started; sleep 30 & sleep 30"]);
        let started = Instant::now();
        let mut seen = Vec::new();
        let ended = watch(command, Duration::from_millis(500), |l| {
            seen.push(l.to_owned())
        })
        .expect("sh runs");
        assert!(matches!(ended, Ended::TimedOut(_)));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(seen, ["started"]);
    }

    #[test]
    fn a_run_whose_child_keeps_the_pipe_ends_when_it_does() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo done; sleep 30 &"]);
        let started = Instant::now();
        let ended = watch(command, Duration::from_secs(20), |_| {}).expect("sh runs");
        assert!(matches!(ended, Ended::Exited(s) if s.success()));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
