//! The nightly workflow (`.github/workflows/nightly.yml`) is valid YAML of the shape GitHub
//! Actions runs: a schedule with a five-field cron, a matrix of host kinds, and steps that
//! run scripts/nightly, cache the images and baselines, report to the job summary and keep
//! the night as an artifact. (No workflow linter installs here; this checks its schema.)

use shrinkwrap::repository_root;
use yaml_rust2::{Yaml, YamlLoader};

fn workflow() -> Yaml {
    let path = repository_root().join(".github/workflows/nightly.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut documents = YamlLoader::load_from_str(&text).expect("the workflow is valid YAML");
    assert_eq!(documents.len(), 1);
    documents.remove(0)
}

#[test]
fn the_nightly_runs_on_a_schedule_over_a_matrix_of_hosts() {
    let workflow = workflow();
    let cron = workflow["on"]["schedule"][0]["cron"]
        .as_str()
        .expect("on.schedule[0].cron");
    let fields: Vec<&str> = cron.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "a five-field cron: {cron}");
    let job = &workflow["jobs"]["nightly"];
    let hosts = job["strategy"]["matrix"]["include"]
        .as_vec()
        .expect("a matrix of hosts");
    assert!(hosts.len() >= 2, "one job per kind of host");
    for host in hosts {
        assert!(host["host"].as_str().is_some() && host["labels"].as_vec().is_some());
    }
    assert_eq!(job["runs-on"].as_str(), Some("${{ matrix.labels }}"));
    assert!(job["timeout-minutes"].as_i64().is_some_and(|m| m <= 90));
}

#[test]
fn the_nightly_measures_caches_reports_and_keeps_the_night() {
    let workflow = workflow();
    let steps = workflow["jobs"]["nightly"]["steps"]
        .as_vec()
        .expect("steps")
        .clone();
    let uses = |action: &str| {
        steps
            .iter()
            .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
            .count()
    };
    let runs = |command: &str| {
        steps
            .iter()
            .any(|s| s["run"].as_str().is_some_and(|r| r.contains(command)))
    };
    assert_eq!(uses("actions/checkout@"), 1);
    let checkout = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        })
        .expect("a checkout");
    assert_eq!(
        checkout["with"]["fetch-depth"].as_i64(),
        Some(0),
        "the A/B checks out the last good revision: the clone needs the history"
    );
    assert_eq!(
        uses("actions/cache@"),
        2,
        "the image cache and the baselines"
    );
    assert_eq!(uses("actions/upload-artifact@"), 1);
    assert!(runs("scripts/nightly"));
    assert!(runs("GITHUB_STEP_SUMMARY"));
    for step in &steps {
        let keys: Vec<&str> = step
            .as_hash()
            .expect("a step is a mapping")
            .keys()
            .filter_map(Yaml::as_str)
            .collect();
        assert!(
            keys.contains(&"uses") != keys.contains(&"run"),
            "a step either uses an action or runs a command: {keys:?}"
        );
    }
    assert!(
        repository_root().join("scripts/nightly").is_file(),
        "the script it runs exists"
    );
}
