//! Installing the tools the project needs, each only when missing. The
//! machine reaches only the package registries (crates.io, Debian, npm), so
//! every tool comes from one of them and nothing downloads binaries at run
//! time (trunk is pinned offline in Trunk.toml).

use std::{env, ffi::OsString, path::PathBuf, process::Command};

use anyhow::{Context, bail};

use crate::{root, sh, step};

pub const TRUNK_VERSION: &str = "0.21.14";
pub const BINARYEN_VERSION: &str = "132.0.0";
const BINARYEN_PREFIX: &str = "/opt/binaryen";

pub fn all() -> anyhow::Result<()> {
    wasm_target()?;
    wasm_bindgen()?;
    wasm_opt()?;
    trunk()?;
    chromium()?;
    postgres()?;
    crate::fuzz::install()?;
    crate::clients::install()?;
    Ok(())
}

/// Debian's Chromium and its WebDriver, for the browser tests.
pub fn chromium() -> anyhow::Result<()> {
    let have = |p: &str| std::path::Path::new(p).exists();
    if have("/usr/bin/chromium") && have("/usr/bin/chromedriver") {
        return Ok(());
    }
    step("installing Debian's chromium and chromium-driver (apt-get, ~1 min, once)");
    sh("apt-get", &["update"])?;
    let status = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("starting apt-get")?;
    if !status.success() {
        bail!("apt-get install chromium chromium-driver failed ({status})");
    }
    Ok(())
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env("PATH", tool_path())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// PATH with npm's binaryen first (Debian's wasm-opt miscompiles, see
/// shared/TOOLCHAIN.md) and cargo's bin directory present.
pub fn tool_path() -> OsString {
    let mut dirs = vec![PathBuf::from(BINARYEN_PREFIX).join("bin")];
    if let Some(home) = env::var_os("CARGO_HOME").or_else(|| {
        env::var_os("HOME").map(|h| {
            let mut p = PathBuf::from(h);
            p.push(".cargo");
            p.into_os_string()
        })
    }) {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    dirs.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    env::join_paths(dirs).unwrap_or_default()
}

pub fn wasm_target() -> anyhow::Result<()> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    step("installing the wasm32-unknown-unknown target (rustup, once)");
    sh("rustup", &["target", "add", "wasm32-unknown-unknown"])
}

/// The wasm-bindgen version Cargo.lock pins: the CLI must match it exactly.
pub fn locked_wasm_bindgen() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines.next()
        {
            return Ok(version
                .trim()
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen")
}

pub fn wasm_bindgen() -> anyhow::Result<()> {
    let version = locked_wasm_bindgen()?;
    if output("wasm-bindgen", &["--version"]).is_some_and(|v| v.contains(&version)) {
        return Ok(());
    }
    step(&format!(
        "installing wasm-bindgen-cli {version} to match Cargo.lock (cargo install, ~3 min, once)"
    ));
    // Not --locked: its lock file pins a webpki-roots the registry does not serve.
    sh(
        "cargo",
        &[
            "install",
            "wasm-bindgen-cli",
            "--version",
            &version,
            "--force",
        ],
    )
}

pub fn trunk() -> anyhow::Result<()> {
    if output("trunk", &["--version"]).is_some_and(|v| v.contains(TRUNK_VERSION)) {
        return Ok(());
    }
    step(&format!(
        "installing trunk {TRUNK_VERSION} (cargo install --locked, ~11 min, once; 0.22 needs a newer rustc)"
    ));
    sh(
        "cargo",
        &[
            "install",
            "trunk",
            "--version",
            TRUNK_VERSION,
            "--locked",
            "--force",
        ],
    )
}

pub fn wasm_opt() -> anyhow::Result<()> {
    let wanted = BINARYEN_VERSION.split('.').next().unwrap_or_default();
    let have = output(&format!("{BINARYEN_PREFIX}/bin/wasm-opt"), &["--version"]);
    if have.is_some_and(|v| v.contains(&format!("version {wanted}"))) {
        return Ok(());
    }
    step(&format!(
        "installing wasm-opt (npm binaryen@{BINARYEN_VERSION} into {BINARYEN_PREFIX}, seconds, once)"
    ));
    sh(
        "npm",
        &[
            "install",
            "--global",
            "--prefix",
            BINARYEN_PREFIX,
            &format!("binaryen@{BINARYEN_VERSION}"),
        ],
    )
}

/// Debian's PostgreSQL 15, for the ledger's second backend and the
/// cluster tests. Only the binaries are used: the tests run their own
/// server on a temporary directory, never the system's cluster.
pub fn postgres() -> anyhow::Result<()> {
    if std::path::Path::new(testkit::postgres::BIN)
        .join("initdb")
        .exists()
    {
        return Ok(());
    }
    step("installing Debian's postgresql-15 (apt-get, ~1 min, once)");
    sh("apt-get", &["update"])?;
    let status = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql-15"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("starting apt-get")?;
    if !status.success() {
        bail!("apt-get install postgresql-15 failed ({status})");
    }
    Ok(())
}
