//! Build script: the commit this binary was built from, as `ML_CONNECTOR_COMMIT` for the crate
//! (`ml-connector --version`, `/healthz`).
//!
//! The value is, in order: the `ML_CONNECTOR_COMMIT` environment variable when set (the Dockerfile
//! passes it as a build argument: its build has no `.git`); else `git rev-parse --short=12 HEAD`,
//! with `-dirty` when the sources that go into the binary differ from that commit; else `unknown`.
//!
//! It also writes `console_assets.rs` into OUT_DIR: the table of the ops console's built files
//! (console/dist, committed; `include_bytes!` each), so building the binary needs no Node.
//!
//! It re-runs only when HEAD or the branch it points to moves, or when those sources change (which
//! rebuild the crate anyway): editing docs or tests does not force a rebuild.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What goes into the binary: an edit here makes the build `-dirty`.
const SOURCES: &[&str] = &[
    "src",
    "migrations",
    "workflows",
    "crates",
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "console/dist",
];

fn main() {
    println!("cargo:rerun-if-env-changed=ML_CONNECTOR_COMMIT");
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    let commit = match std::env::var("ML_CONNECTOR_COMMIT") {
        Ok(given) if !given.trim().is_empty() => given.trim().to_string(),
        _ => from_git().unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo:rustc-env=ML_CONNECTOR_COMMIT={commit}");
    console_assets();
}

/// `pub static ASSETS: &[(&str, &[u8])]`: every file under console/dist by its path there
/// (`/`-separated, sorted); empty when the folder is missing (the console then says so).
fn console_assets() {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join("console")
        .join("dist");
    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    files.sort();
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("console_assets.rs"), code).expect("writing console_assets.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((name, path));
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn from_git() -> Option<String> {
    // A worktree's HEAD lives in its own git dir, its branches in the common one.
    let git_dir = PathBuf::from(git(&["rev-parse", "--absolute-git-dir"])?);
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(|c| absolute(&git_dir, &c))
        .unwrap_or_else(|| git_dir.clone());
    watch(&git_dir.join("HEAD"));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = common.join(&branch);
        // A packed branch gets a loose file on its next commit: watch its folder until then.
        watch(if loose.exists() {
            &loose
        } else {
            loose.parent().unwrap_or(&common)
        });
        watch(&common.join("packed-refs"));
    }
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut args = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    args.extend_from_slice(SOURCES);
    let dirty = git(&args).is_none_or(|changes| !changes.is_empty());
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

fn absolute(git_dir: &Path, path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        // Relative to the working directory git ran in: the manifest's.
        std::env::var("CARGO_MANIFEST_DIR")
            .map(|d| PathBuf::from(d).join(&p))
            .unwrap_or_else(|_| git_dir.join(p))
    }
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
