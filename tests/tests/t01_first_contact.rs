//! The quick parts of the first-contact check (`scripts/fresh-check.sh` runs the whole of it):
//! the README's two commands are the scripts that do their own set-up, CI runs the same test
//! command, and the run command's prerequisite check finds what the build needs here (and
//! only that).

use std::process::Command;
use tests::repo_root;

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap()
}

#[test]
fn readme_commands_are_the_scripts_ci_runs() {
    let readme = read("README.md");
    let commands: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .take(2)
        .map(|block| block.lines().next().unwrap_or_default())
        .collect();
    assert_eq!(
        commands,
        ["scripts/run.sh", "scripts/test.sh"],
        "README's two commands"
    );
    let ci = read(".ci/run");
    assert!(ci.lines().any(|l| l == "exec scripts/test.sh"), "{ci}");
    let test = read("scripts/test.sh");
    assert!(test.lines().any(|l| l == "scripts/setup.sh"), "{test}");
    let run = read("scripts/run.sh");
    let check = run
        .find("scripts/prereqs.sh")
        .expect("run.sh checks prerequisites");
    let build = run.find("cargo run").expect("run.sh builds");
    assert!(check < build, "the check comes before the build");
}

#[test]
fn prerequisite_check_passes_here_and_names_what_is_missing() {
    let ok = Command::new("bash")
        .arg(repo_root().join("scripts/prereqs.sh"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Without a C++ compiler on PATH (and not allowed to install), the check says what to
    // install, in one line, and fails at once.
    let dir = tempfile::tempdir().unwrap();
    for tool in ["bash", "ls", "id", "dirname"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        std::os::unix::fs::symlink(path, dir.path().join(tool)).unwrap();
    }
    let missing = Command::new(dir.path().join("bash"))
        .arg(repo_root().join("scripts/prereqs.sh"))
        .env("PATH", dir.path())
        .env("PREREQS_NO_INSTALL", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success(), "{err}");
    assert!(
        err.contains("apt-get install") && err.contains("g++"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A machine with only `libclang-cpp` (another library) or a versioned `libclang.so.1`
/// failed the build after the check passed; the check must look for what clang-sys loads.
#[test]
fn libclang_is_found_only_under_the_names_the_build_loads() {
    let check = |files: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/prereqs.sh"))
            .env("PREREQS_LIBCLANG_DIRS", dir.path())
            .env("PREREQS_NO_INSTALL", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check(&["libclang-cpp.so.14", "libclang.so.1"]);
    assert!(!ok && err.contains("libclang-dev"), "{err}");
    assert!(check(&["libclang.so"]).0);
    assert!(check(&["libclang-14.so"]).0);
}
