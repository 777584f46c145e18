//! Every scenario shipped in scenarios/ is valid, and every recipe it names exists; every
//! budgets file parses and belongs to a scenario.

use std::path::{Path, PathBuf};

use shrinkwrap::analysis::regression::Budgets;
use shrinkwrap::analysis::regression::budget::BUDGETS_DIR;
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::repository_root;
use shrinkwrap::scenario::Scenario;

fn scenario_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("workloads") && !path.ends_with("budgets") {
            scenario_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
}

#[test]
fn every_budgets_file_parses_and_names_a_shipped_scenario() {
    let mut scenarios = Vec::new();
    scenario_files(&repository_root().join("scenarios"), &mut scenarios);
    let names: Vec<String> = scenarios
        .iter()
        .map(|file| Scenario::load(file).unwrap().name)
        .collect();
    let dir = repository_root().join(BUDGETS_DIR);
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        Budgets::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            names.contains(&stem),
            "{}: no scenario is named {stem}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 1, "the default scenario has its budgets");
}

#[test]
fn every_shipped_scenario_parses_and_its_recipes_exist() {
    let mut files = Vec::new();
    scenario_files(&repository_root().join("scenarios"), &mut files);
    assert!(files.len() >= 5, "{files:?}");
    let cache = ImageCache::for_repository(repository_root());
    for file in files {
        let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        for wrap in &scenario.wraps {
            if let Some(image) = &wrap.image {
                cache
                    .check(image)
                    .unwrap_or_else(|e| panic!("{}: wrap {}: {e}", file.display(), wrap.name));
            }
        }
    }
}

#[test]
fn the_default_scenario_measures_the_wraps_the_readme_lists() {
    let scenario =
        Scenario::load(&repository_root().join(shrinkwrap::scenario::DEFAULT_SCENARIO)).unwrap();
    let kinds: Vec<(&str, &str)> = scenario
        .wraps
        .iter()
        .map(|w| (w.name.as_str(), w.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("native", "process"),
            ("container", "container"),
            ("gvisor", "container"),
            ("wasm", "process"),
            ("wasm-cached", "process"),
            ("wasm-precompiled", "process"),
            ("hermit", "qemu"),
            ("hermit-restored", "qemu"),
            ("nanos", "qemu"),
            ("nanos-restored", "qemu"),
            ("unikraft", "qemu"),
            ("appliance", "qemu"),
            ("vm", "qemu")
        ]
    );
    let readme = std::fs::read_to_string(repository_root().join("README.md")).unwrap();
    for (name, _) in kinds {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "the README's table of wraps lacks {name}"
        );
    }
    assert_eq!(scenario.runs, 10);
    let runtimes: Vec<&str> = scenario
        .wraps
        .iter()
        .filter_map(|w| match &w.launch {
            shrinkwrap::scenario::Launch::Container(c) => Some(c.runtime.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(runtimes, ["runc", "runsc"]);
}
