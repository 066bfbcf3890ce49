//! The POS page: built by trunk (release: wasm-opt, the size-first cargo
//! profile), its wasm size reported, and its browser tests run against it.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use flate2::{Compression, write::GzEncoder};

use crate::{Tally, root, runner::Binary, setup, sh, step};

/// How long the POS page's browser tests may take, all of them.
const POS_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The size the page's wasm should stay under, gzipped.
const WASM_BUDGET_GZIP: usize = 250 * 1024;

/// `trunk build --release` into `dist/`; returns that directory.
pub fn build() -> anyhow::Result<PathBuf> {
    setup::wasm_target()?;
    setup::wasm_bindgen()?;
    setup::wasm_opt()?;
    setup::trunk()?;
    // trunk runs cargo offline (Trunk.toml): every crate must be here first.
    sh("cargo", &["fetch"])?;
    step("building the POS page (trunk build --release)");
    let status = std::process::Command::new("trunk")
        .args(["build", "--release"])
        .env("PATH", setup::tool_path())
        .current_dir(root())
        .status()
        .context("starting trunk")?;
    anyhow::ensure!(status.success(), "trunk build failed ({status})");
    let dist = root().join("dist");
    report_size(&dist)?;
    Ok(dist)
}

/// Prints the wasm's size, raw and gzipped, against the budget.
fn report_size(dist: &Path) -> anyhow::Result<()> {
    let wasm = std::fs::read_dir(dist)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .context("no .wasm in dist/")?;
    let bytes = std::fs::read(&wasm)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&bytes)?;
    let gzipped = gz.finish()?.len();
    let verdict = if gzipped <= WASM_BUDGET_GZIP {
        "within"
    } else {
        "OVER"
    };
    println!(
        "\nPOS page wasm: {} {:.0} KB, {:.0} KB gzipped ({verdict} the {} KB gzipped target)",
        wasm.file_name().unwrap_or_default().to_string_lossy(),
        bytes.len() as f64 / 1024.0,
        gzipped as f64 / 1024.0,
        WASM_BUDGET_GZIP / 1024
    );
    Ok(())
}

/// The page in headless Chromium over WebDriver, against a real central
/// (started by the tests themselves) serving `dist`: the `pos` test binary
/// (e2e's), built beforehand. `only` runs the tests whose names contain it.
pub fn browser_tests(
    tally: &mut Tally,
    dist: &Path,
    pos: &Binary,
    only: Option<&str>,
) -> anyhow::Result<()> {
    step("POS page tests: headless Chromium over WebDriver, real central serving dist/");
    // One at a time: each drives its own browsers, and two cores are few.
    let mut args = vec!["--ignored", "--test-threads=1"];
    args.extend(only);
    tally.run(
        pos,
        &args,
        &[
            ("STOCKLINE_WEB_DIST", dist.into()),
            ("CHROMEDRIVER", "/usr/bin/chromedriver".into()),
        ],
        POS_LIMIT,
    )
}
