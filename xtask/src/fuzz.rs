//! The OpenAPI fuzzer: schemathesis (from PyPI, into a venv of its own)
//! against a real central on a free port with a fresh database, every
//! check on, a fixed seed and a time budget; once each with a store's
//! token, a sales channel's token and an admin key. Any failure fails the test command.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, bail};

use crate::{root, start_central, step};

pub const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// The same cases every run: a failure found once is found again.
const SEED: &str = "20261201";
/// Seconds each of the two runs may take (`STOCKLINE_FUZZ_SECS` overrides).
const DEFAULT_SECS: u64 = 120;

/// The venv schemathesis lives in: under `target/`, so a clean clone makes
/// it afresh and nothing is installed into the machine's Python.
fn venv() -> PathBuf {
    root().join("target/schemathesis-venv")
}

pub fn install() -> anyhow::Result<PathBuf> {
    let venv = venv();
    let bin = venv.join("bin/schemathesis");
    let version = Command::new(&bin).arg("--version").output();
    if version.is_ok_and(|v| String::from_utf8_lossy(&v.stdout).contains(SCHEMATHESIS_VERSION)) {
        return Ok(bin);
    }
    step(&format!(
        "installing schemathesis {SCHEMATHESIS_VERSION} from PyPI into {} (~1 min, once)",
        venv.display()
    ));
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok())
        .context("no python3 for schemathesis")?;
    run(Command::new(python).arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")))?;
    Ok(bin)
}

/// Runs `command`; an error when it cannot start or fails.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// What one run found.
pub struct Fuzzed {
    pub cases: u64,
    pub failures: u64,
}

/// Every run against one central (the executable `central`); the counts
/// as the fuzzer printed them.
pub fn run_all(central: &Path) -> anyhow::Result<Vec<(&'static str, Fuzzed)>> {
    let bin = install()?;
    let secs = std::env::var("STOCKLINE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let data = std::env::temp_dir().join(format!("stockline-fuzz-{}", std::process::id()));
    let key = format!("fuzz-admin-key-{:024}", std::process::id());
    // One address sends every bogus credential the checks need on purpose:
    // the failed-authentication limit would soon refuse all of it. Long
    // polls are kept short so that no case outwaits the fuzzer's timeout.
    let (mut central, addr) = start_central(
        central,
        &data,
        &key,
        &[
            "--auth-failures-per-address",
            "0",
            "--auth-failures-per-client",
            "0",
            "--max-wait-secs",
            "2",
        ],
    )?;
    let result = (|| {
        let url = format!("http://{addr}");
        let token = store_token(&url, &key)?;
        let channel = channel_token(&url, &key)?;
        let mut found = Vec::new();
        // The store and the channel first: the admin run may deactivate
        // them or rotate a secret (its stateful phase finds them listed).
        for (who, header) in [
            ("store token", format!("Authorization: Bearer {token}")),
            ("channel token", format!("Authorization: Bearer {channel}")),
            ("admin key", format!("X-API-Key: {key}")),
        ] {
            step(&format!(
                "OpenAPI fuzzer (schemathesis {SCHEMATHESIS_VERSION}, all checks, seed {SEED}, {secs} s) with {who}"
            ));
            found.push((who, fuzz(&bin, &url, &header, secs)?));
        }
        Ok(found)
    })();
    let _ = central.kill();
    let _ = central.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

/// Registers a store and signs it in; its bearer token.
fn store_token(url: &str, admin_key: &str) -> anyhow::Result<String> {
    token(
        url,
        admin_key,
        "stores",
        r#"{"store_id":"fuzz-store","name":"Fuzz"}"#,
        |secret| serde_json::json!({"client_id": "fuzz-store", "client_secret": secret}),
    )
}

/// Registers a sales channel and signs it in; its bearer token.
fn channel_token(url: &str, admin_key: &str) -> anyhow::Result<String> {
    token(
        url,
        admin_key,
        "channels",
        r#"{"channel_id":"fuzz-shop","name":"Fuzz shop"}"#,
        |secret| serde_json::json!({"channel_id": "fuzz-shop", "channel_secret": secret}),
    )
}

/// Registers a caller at `/v1/admin/{kind}` and signs it in with the
/// secret the answer holds.
fn token(
    url: &str,
    admin_key: &str,
    kind: &str,
    new: &str,
    sign_in: impl FnOnce(&str) -> serde_json::Value,
) -> anyhow::Result<String> {
    let created: serde_json::Value = serde_json::from_str(
        &ureq::post(format!("{url}/v1/admin/{kind}"))
            .header("x-api-key", admin_key)
            .header("content-type", "application/json")
            .send(new)?
            .body_mut()
            .read_to_string()?,
    )?;
    // A store's secret is its `client_secret`, a channel's its
    // `channel_secret`: what each signs in with.
    let secret = created["client_secret"]
        .as_str()
        .or_else(|| created["channel_secret"].as_str())
        .with_context(|| format!("a secret for the fuzz {kind}"))?;
    let token: serde_json::Value = serde_json::from_str(
        &ureq::post(format!("{url}/v1/auth/token"))
            .header("content-type", "application/json")
            .send(sign_in(secret).to_string())?
            .body_mut()
            .read_to_string()?,
    )?;
    Ok(token["access_token"]
        .as_str()
        .context("a token")?
        .to_owned())
}

fn fuzz(bin: &Path, url: &str, header: &str, secs: u64) -> anyhow::Result<Fuzzed> {
    let started = Instant::now();
    let output = Command::new(bin)
        .arg("--config-file")
        .arg(root().join("tests/fuzz/schemathesis.toml"))
        .arg("--no-color")
        .args(["run", &format!("{url}/openapi.json"), "--checks", "all"])
        .args(["--seed", SEED, "--max-time", &secs.to_string()])
        .args(["--request-timeout", "20", "-H", header])
        .output()
        .context("starting schemathesis")?;
    let printed = String::from_utf8_lossy(&output.stdout);
    // The summary and any failure, never the whole progress output.
    let summary: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.contains("FAILURES") && !l.contains("SUMMARY"))
        .collect();
    println!("{}", summary.join("\n"));
    let Some(fuzzed) = counts(&printed) else {
        bail!(
            "schemathesis printed no summary (exit {}):\n{printed}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    println!(
        "fuzzer: {} cases, {} failures in {:.0} s",
        fuzzed.cases,
        fuzzed.failures,
        started.elapsed().as_secs_f64()
    );
    if !output.status.success() || fuzzed.failures > 0 {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        bail!("the OpenAPI fuzzer found failures (exit {})", output.status);
    }
    Ok(fuzzed)
}

/// From "  4750 generated, 4750 passed, 57 skipped" or
/// "  4186 generated, 6 found 6 unique failures, 51 skipped".
fn counts(printed: &str) -> Option<Fuzzed> {
    let line = printed.lines().rev().find(|l| l.contains(" generated"))?;
    let number = |label: &str| -> Option<u64> {
        let before = line.split(label).next()?;
        before.split_whitespace().last()?.parse().ok()
    };
    Some(Fuzzed {
        cases: number(" generated")?,
        failures: number(" unique failures").unwrap_or(0) + number(" errored").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_gives_the_counts() {
        let clean = counts("x\n  4750 generated, 4750 passed, 57 skipped\n").unwrap();
        assert_eq!((clean.cases, clean.failures), (4750, 0));
        let failed = counts("  4186 generated, 6 found 6 unique failures, 51 skipped\n").unwrap();
        assert_eq!((failed.cases, failed.failures), (4186, 6));
        let errored = counts("  4198 generated, 4198 passed, 2 errored, 18 skipped").unwrap();
        assert_eq!(errored.failures, 2);
        assert!(counts("nothing").is_none());
    }
}
