//! The classic VM, built by its recipe from Debian's packages and booted from its disk for
//! real: it must serve its first 200 right after systemd started the service, and its image
//! facts must agree with what the recipe installed.

mod common;

use common::{run, run_options};
use shrinkwrap::image::recipe::ImageCache;
use shrinkwrap::repository_root;
use shrinkwrap::scenario::{Launch, Scenario};

#[tokio::test(flavor = "multi_thread")]
async fn the_classic_vm_boots_from_its_disk_and_serves() {
    let mut scenario =
        Scenario::load(&repository_root().join("scenarios/hello-rust.toml")).unwrap();
    scenario.select_wraps(&["vm".to_string()]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let rows = run(&scenario, &run_options("test-vm", out.path(), 1))
        .await
        .expect("the disk builds and the run completes")
        .rows;
    let row = &rows[0];
    assert!(row.ok, "the VM failed: {}", row.error);

    // The probe's first 200 and the guest's own ready line (the service's output, through
    // journald to the serial console) lie within the probe's lag of each other, not seconds
    // apart. The line can reach the host after the 200: journald relays it (measured: the
    // 200 came up to 12 ms before the line was read).
    let (ready, first) = (row.ready_line_ms.unwrap(), row.ttfr_ms.unwrap());
    assert!((first - ready).abs() < 1000.0, "{ready} ms, {first} ms");
    // The console shows the boot in order: the kernel's first output, its handing over to
    // the initramfs, systemd starting, the service listening.
    let phases = row.console_phases();
    let names: Vec<&str> = phases.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["initramfs", "systemd"], "{}", row.console_phases);
    let mut times = vec![row.first_output_ms.unwrap()];
    times.extend(phases.iter().map(|(_, ms)| ms));
    times.push(ready);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");

    // The image is the disk file, and its kernel is the one dpkg installed on it.
    let image = ImageCache::for_repository(repository_root())
        .ensure(scenario.wraps[0].image.as_ref().unwrap(), false, &|_| {})
        .unwrap();
    let disk = image.dir.join("disk.raw");
    assert_eq!(
        row.image_bytes,
        Some(std::fs::metadata(&disk).unwrap().len())
    );
    let packages = std::fs::read_to_string(image.dir.join("packages.txt")).unwrap();
    let version = row
        .image_kernel
        .strip_prefix("Linux ")
        .and_then(|k| k.strip_suffix(" on its disk"))
        .unwrap_or_else(|| panic!("kernel fact: {}", row.image_kernel));
    assert!(
        packages.contains(&format!("linux-image-{version} ")),
        "{version} is not an installed kernel package"
    );
    // A stock system: thousands of files, a shell, setuid programs (su, mount, passwd).
    assert!(row.image_files.unwrap() > 1000, "{row:?}");
    assert!(
        row.image_shells.contains("/usr/bin/bash"),
        "{}",
        row.image_shells
    );
    assert!(row.image_setuid.unwrap() > 0);
    let Launch::Qemu(qemu) = &scenario.wraps[0].launch else {
        panic!("the vm is a QEMU wrap")
    };
    assert!(row.guest_ram_bytes.unwrap() <= u64::from(qemu.memory_mb) << 20);
}
