//! The POS page's CPU as a till spends its day: idle and online (a
//! long-poll waiting), with central unreachable (backing off), and
//! unreachable after the cashier pressed "Sync now". A till idles on a
//! tablet battery all day, so each of these must cost next to nothing.
//!
//! Measured from `/proc`: the CPU time of Chromium's renderer processes over
//! each window, as milliseconds of CPU per second. `cargo xtask bench-node`
//! builds the page and runs this; it prints figures and asserts nothing
//! about them (the README records them).

// The POS tests' harness; this benchmark uses part of it.
#[allow(dead_code)]
#[path = "pos/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{Central, Driver};

const STORE: &str = "bench-store";
const WINDOW: Duration = Duration::from_secs(20);

/// Clock ticks a second, as `/proc/<pid>/stat` counts CPU time.
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A process as `/proc/<pid>/stat` describes it: its process group, and
/// its user plus system CPU ticks.
fn stat(pid: &str) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's closing parenthesis: the group is the
    // 3rd of them, utime the 12th and stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let group = fields.get(2)?.parse().ok()?;
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((group, ticks))
}

/// CPU ticks of the renderer processes of this benchmark's browser (those
/// in chromedriver's process group) now.
fn renderer_ticks(group: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--type=renderer"))
        })
        .filter_map(|pid| stat(&pid))
        .filter(|(g, _)| *g == group)
        .map(|(_, ticks)| ticks)
        .sum()
}

/// The renderers' CPU over the next `WINDOW`, in ms per second.
async fn cpu_over_window(group: u32) -> f64 {
    let (before, started) = (renderer_ticks(group), Instant::now());
    tokio::time::sleep(WINDOW).await;
    let ticks = renderer_ticks(group).saturating_sub(before) as f64;
    ticks / ticks_per_second() * 1000.0 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: cargo xtask bench-node runs it"]
async fn the_page_idles_cheaply_online_and_offline() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    till.search("COF-1").await;
    till.until_stock("COF-1", "5 in stock").await;
    // Settle: the first sync and render are not what a till does all day.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let group = driver.pid();
    assert!(renderer_ticks(group) > 0, "the page's renderer is found");
    let online = cpu_over_window(group).await;
    central.down().await;
    till.until_text("#status", "Offline").await;
    let offline = cpu_over_window(group).await;
    till.css("#sync-now").await.click().await.expect("Sync now");
    let after_sync_now = cpu_over_window(group).await;
    central.up().await;
    till.until_text("#status", "Online").await;

    println!(
        "\nPOS page renderer CPU, {} s each (ms of CPU per second):",
        WINDOW.as_secs()
    );
    println!("| state | CPU |");
    println!("|---|---|");
    println!("| online, idle (long-poll waiting) | {online:.1} ms/s |");
    println!("| central unreachable, backing off | {offline:.1} ms/s |");
    println!("| unreachable, after Sync now | {after_sync_now:.1} ms/s |");
    till.client.close().await.unwrap();
}
