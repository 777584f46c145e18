//! Every scenario shipped in scenarios/ is valid, and every recipe it names exists.

use std::path::{Path, PathBuf};

use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::repository_root;
use shrinkwrap::scenario::Scenario;

fn scenario_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("workloads") {
            scenario_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
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
fn the_default_scenario_compares_the_native_floor_container_unikernel_and_appliance() {
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
            ("hermit", "qemu"),
            ("appliance", "qemu")
        ]
    );
    assert_eq!(scenario.runs, 10);
}
