//! Clients generated from the OpenAPI document, as integrators make them:
//! a Python one (`openapi-python-client`, from PyPI) that runs
//! `tests/clients/walkthrough.py` (a sale, a replay, a reused key, a
//! refusal, a changes page and a hold), type-checked by mypy first; and
//! TypeScript types (`openapi-typescript`, from npm) that
//! `tests/clients/check.ts` must compile against (`tsc --noEmit`).
//! The document is the one a real central serves.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{fuzz::run, root, start_central, step};

const PYTHON_CLIENT: &str = "openapi-python-client==0.29.1";
const MYPY: &str = "mypy==2.4.1";
const NPM_PACKAGES: [&str; 2] = ["openapi-typescript@7.13.0", "typescript@5.9.3"];

/// Under `target/`: a clean clone makes them afresh, and nothing is
/// installed into the machine's Python or npm.
fn venv() -> PathBuf {
    root().join("target/clients-venv")
}

fn npm_prefix() -> PathBuf {
    root().join("target/clients-npm")
}

/// Installs what is missing: the generators, mypy and tsc.
pub fn install() -> anyhow::Result<()> {
    let venv = venv();
    let versions = Command::new(venv.join("bin/pip"))
        .args(["freeze", "--disable-pip-version-check"])
        .output();
    let wanted = [PYTHON_CLIENT, MYPY];
    let have = versions.is_ok_and(|v| {
        let frozen = String::from_utf8_lossy(&v.stdout).to_lowercase();
        wanted.iter().all(|w| frozen.contains(w))
    });
    if !have {
        step(&format!(
            "installing {} from PyPI into {} (~1 min, once)",
            wanted.join(" and "),
            venv.display()
        ));
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(wanted))?;
    }
    let npm = npm_prefix();
    if !npm.join("node_modules/.bin/tsc").exists()
        || !npm.join("node_modules/.bin/openapi-typescript").exists()
    {
        step(&format!(
            "installing {} from npm into {} (~10 s, once)",
            NPM_PACKAGES.join(" and "),
            npm.display()
        ));
        std::fs::create_dir_all(&npm)?;
        run(Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&npm)
            .args(NPM_PACKAGES))?;
    }
    Ok(())
}

/// Generates both clients from the document `central` serves and runs
/// their checks against it.
pub fn check(central: &Path) -> anyhow::Result<()> {
    install()?;
    let out = root().join("target/clients");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(out.join("python"))?;
    std::fs::create_dir_all(out.join("ts"))?;
    let data = std::env::temp_dir().join(format!("stockline-clients-{}", std::process::id()));
    let key = format!("clients-admin-key-{:024}", std::process::id());
    let (mut central, addr) = start_central(central, &data, &key, &[])?;
    let result = (|| {
        let url = format!("http://{addr}");
        let document = ureq::get(format!("{url}/openapi.json"))
            .call()?
            .body_mut()
            .read_to_string()?;
        let spec = out.join("openapi.json");
        std::fs::write(&spec, document)?;
        let tests = root().join("tests/clients");

        step("a Python client generated from the served document (openapi-python-client)");
        run(Command::new(venv().join("bin/openapi-python-client"))
            .args(["generate", "--meta", "none", "--overwrite", "--path"])
            .arg(&spec)
            .arg("--config")
            .arg(tests.join("openapi-python-client.yaml"))
            .arg("--output-path")
            .arg(out.join("python/stockline_client")))?;
        step("the Python walkthrough type-checked (mypy --strict) and run against central");
        let python_path = out.join("python");
        run(Command::new(venv().join("bin/mypy"))
            .args(["--strict", "--no-incremental", "--cache-dir=/dev/null"])
            .arg(tests.join("walkthrough.py"))
            .env("MYPYPATH", &python_path))?;
        run(Command::new(venv().join("bin/python"))
            .arg(tests.join("walkthrough.py"))
            .args([&url, &key])
            .env("PYTHONPATH", &python_path))?;

        step("TypeScript types generated from it (openapi-typescript), checked by tsc --noEmit");
        let bin = npm_prefix().join("node_modules/.bin");
        let ts = out.join("ts");
        run(Command::new(bin.join("openapi-typescript"))
            .arg(&spec)
            .arg("-o")
            .arg(ts.join("stockline.d.ts")))?;
        std::fs::copy(tests.join("check.ts"), ts.join("check.ts"))?;
        run(Command::new(bin.join("tsc"))
            .args([
                "--noEmit",
                "--strict",
                "--target",
                "es2022",
                "--module",
                "es2022",
                "--moduleResolution",
                "bundler",
            ])
            .arg(ts.join("check.ts")))
    })();
    let _ = central.kill();
    let _ = central.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}
