//! The dependency direction of the workspace: writer → format ← compactor, rest-catalog →
//! format, and writer and compactor never depend on each other.

use std::collections::BTreeMap;
use std::path::Path;

/// Workspace crates and the workspace crates each depends on (normal dependencies).
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let root = strata_tests::python::repo_root();
    let mut out = BTreeMap::new();
    for dir in ["format", "writer", "compactor", "rest-catalog", "cli"] {
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
