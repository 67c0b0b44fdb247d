//! The dependency direction of the workspace: writer → format ← compactor, rest-catalog →
//! format, sql → format + writer (RFC 0002), and writer and compactor never depend on each
//! other; only the CLI (and tests) depend on sql.

use std::collections::BTreeMap;
use std::path::Path;

/// Workspace crates and the workspace crates each depends on (normal dependencies).
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let root = strata_tests::python::repo_root();
    let mut out = BTreeMap::new();
    for dir in [
        "format",
        "writer",
        "compactor",
        "rest-catalog",
        "sql",
        "cli",
    ] {
        let manifest = std::fs::read_to_string(root.join(dir).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{dir}/Cargo.toml: {e}"));
        let mut deps = Vec::new();
        let mut section = String::new();
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            // Dev-dependencies may cross (tests); only real dependencies count.
            if section == "[dependencies]" {
                if let Some(name) = line.split(['=', ' ']).next() {
                    if name.starts_with("strata-") {
                        deps.push(name.to_string());
                    }
                }
            }
        }
        out.insert(format!("strata-{dir}"), deps);
    }
    assert!(Path::new(&root).join("Cargo.toml").exists());
    out
}

#[test]
fn data_flows_one_way() {
    let deps = workspace_dependencies();
    assert!(
        deps["strata-format"].is_empty(),
        "format must not depend on other workspace crates: {:?}",
        deps["strata-format"]
    );
    assert!(
        !deps["strata-writer"].contains(&"strata-compactor".to_string()),
        "writer must not depend on compactor"
    );
    assert!(
        !deps["strata-compactor"].contains(&"strata-writer".to_string()),
        "compactor must not depend on writer"
    );
    for krate in ["strata-writer", "strata-compactor", "strata-rest-catalog"] {
        assert!(
            deps[krate].iter().all(|d| d == "strata-format"),
            "{krate} may depend only on strata-format, has {:?}",
            deps[krate]
        );
        assert!(deps[krate].contains(&"strata-format".to_string()));
    }
}

#[test]
fn sql_reads_format_and_writes_through_the_writer() {
    let deps = workspace_dependencies();
    let mut sql = deps["strata-sql"].clone();
    sql.sort();
    assert_eq!(
        sql,
        vec!["strata-format".to_string(), "strata-writer".to_string()],
        "strata-sql must depend on exactly strata-format and strata-writer"
    );
    for (krate, krate_deps) in &deps {
        if krate != "strata-cli" {
            assert!(
                !krate_deps.contains(&"strata-sql".to_string()),
                "{krate} must not depend on strata-sql (only the CLI and tests do)"
            );
        }
    }
    assert!(deps["strata-cli"].contains(&"strata-sql".to_string()));
}
