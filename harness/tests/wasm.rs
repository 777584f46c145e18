//! The WebAssembly wraps against the real wasmtime the recipe built: the hello-rust
//! component boots and answers its 200 in each of the three cold starts, each row's image is
//! the component (or the precompiled file) alone, beside the runtime it names by version,
//! and the imports read from the component are names the component's own bytes hold.

mod common;

use common::{run, run_options};
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::repository_root;
use shrinkwrap::results::ResultRow;
use shrinkwrap::scenario::Scenario;

const WRAPS: [(&str, &str); 3] = [
    ("wasm", "rootfs/hello-rust.wasm"),
    ("wasm-cached", "rootfs/hello-rust.wasm"),
    ("wasm-precompiled", "precompiled/hello-rust.cwasm"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_component_serves_in_each_cold_start_and_its_image_is_the_component_alone() {
    let mut scenario =
        Scenario::load(&repository_root().join("scenarios/hello-rust.toml")).unwrap();
    let names: Vec<String> = WRAPS.iter().map(|(w, _)| w.to_string()).collect();
    scenario.select_wraps(&names).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut options = run_options("test-wasm", out.path(), 2);
    // The warm-up launch fills wasmtime's compiled-code cache for `wasm-cached`.
    options.warmup = 1;
    let rows = run(&scenario, &options)
        .await
        .expect("the component builds and the run completes")
        .rows;
    let image = ImageCache::for_repository(repository_root())
        .ensure(scenario.wraps[0].image.as_ref().unwrap(), false, &|_| {})
        .unwrap();
    for (wrap, file) in WRAPS {
        let rows: Vec<&ResultRow> = rows.iter().filter(|r| r.wrap == wrap).collect();
        assert_eq!(rows.len(), 2, "{wrap}");
        for row in &rows {
            assert!(row.ok, "{wrap}: {}", row.error);
            // The component's own ready line came through wasmtime's stdout; it may be read
            // after the first 200 (the probe answers as soon as the socket listens).
            assert!(row.ready_line_ms.is_some(), "{row:?}");
        }
        let row = rows[0];
        let length = std::fs::metadata(image.dir.join(file)).unwrap().len();
        assert_eq!(
            row.image_bytes,
            Some(length),
            "{wrap}: the image is {file} alone"
        );
        assert!(
            row.runtime_version.starts_with("wasmtime 48.0.8"),
            "{}",
            row.runtime_version
        );
        assert!(
            row.image_kernel
                .starts_with("none: runs on the host's wasmtime"),
            "{}",
            row.image_kernel
        );
        assert_eq!((row.image_files, row.image_shells.as_str()), (Some(1), ""));
    }
    // The component's imports: the sockets it serves on, read by parsing the component, and
    // each one a name its bytes hold. The precompiled file is machine code: none are read.
    let component = std::fs::read(image.dir.join("rootfs/hello-rust.wasm")).unwrap();
    let row = rows.iter().find(|r| r.wrap == "wasm").unwrap();
    let imports: Vec<&str> = row.image_imports.split(';').collect();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/tcp@0.2")),
        "{imports:?}"
    );
    for import in &imports {
        let bytes = import.as_bytes();
        assert!(
            component.windows(bytes.len()).any(|w| w == bytes),
            "{import} is not in the component"
        );
    }
    let precompiled = rows.iter().find(|r| r.wrap == "wasm-precompiled").unwrap();
    assert_eq!(precompiled.image_imports, "");
}
