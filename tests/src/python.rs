//! Running the repository's Python conformance scripts from Rust tests.
//!
//! The interpreter is `$STRATA_PYTHON`, else `<repo>/.venv/bin/python` (what `scripts/test`
//! creates). A missing interpreter fails the test with a message saying how to install it:
//! these tests never pass silently without their real client.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The Python interpreter with the pinned clients installed.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("STRATA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let p = venv.join("bin").join("python");
    assert!(
        p.exists(),
        "no Python with pypaimon at {}: run scripts/test (or set STRATA_PYTHON)",
        p.display()
    );
    p
}

/// Runs a script under `tests/conformance/` with arguments; panics with its output on failure.
pub fn run_script(script: &str, args: &[&str]) -> String {
    let path = repo_root().join("tests").join("conformance").join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{} failed: {}\n{}",
        path.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
