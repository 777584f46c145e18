//! The Nanos unikernel, built from the pinned sources by its recipe and measured for real: it
//! must run the very binary the container holds, report its disk's facts as they are on
//! disk, serve its first 200 and leave nothing behind.

use std::path::Path;

mod common;

use common::{
    assert_served_after_its_ready_line, containers_binary, image_dir, prepared_default,
    run_leaving_no_vm, sha256,
};
use shrinkwrap::repository_root;
use shrinkwrap::scenario::Launch;

/// Where `file` lies whole in `disk`, at a 512-byte sector (Nanos's filesystem stores a file
/// written by mkfs in one extent).
fn sector_holding(disk: &[u8], file: &[u8]) -> Option<usize> {
    (0..=disk.len().checked_sub(file.len())?)
        .step_by(512)
        .find(|&at| disk[at..at + file.len()] == *file)
}

/// The search finds a file only whole and at a sector, so one changed byte is a miss.
#[test]
fn a_file_is_found_on_a_disk_only_byte_for_byte() {
    let file: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut disk = vec![0u8; 512 * 3];
    disk.extend_from_slice(&file);
    assert_eq!(
        sector_holding(&disk, &file),
        Some(512 * 3),
        "at the disk's very end"
    );
    let mut planted = file.clone();
    planted[1500] ^= 1;
    assert_eq!(sector_holding(&disk, &planted), None);
    assert_eq!(
        sector_holding(&file[..100], &file),
        None,
        "longer than the disk"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nanos_disk_holds_the_very_binary_the_container_and_native_run() {
    let (scenario, _prepared) = prepared_default(&["native", "container", "nanos"]).await;
    let container = containers_binary(&scenario);
    let native = std::fs::read(image_dir(&scenario, "native").join("rootfs/hello-rust")).unwrap();
    assert_eq!(
        sha256(&native),
        sha256(&container),
        "native runs the container's file"
    );
    let disk = std::fs::read(image_dir(&scenario, "nanos").join("disk.raw")).unwrap();
    let at = sector_holding(&disk, &container);
    assert!(
        at.is_some(),
        "the Nanos disk holds the container's binary (sha256 {}) whole",
        sha256(&container)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nanos_boots_serves_and_reports_its_boot_files_as_they_are() {
    let (scenario, _prepared) = prepared_default(&["nanos"]).await;
    let dir = image_dir(&scenario, "nanos");
    let rows = run_leaving_no_vm(&scenario, "test-nanos-serves", 2).await;
    for row in &rows {
        assert_served_after_its_ready_line(row);
        assert_eq!(row.image_kernel, "Nanos 0.1.55, its files on its disk");
        assert_eq!(row.image_shells, "", "no shell on the disk");
        assert_eq!(row.image_setuid, Some(0));
    }
    let row = &rows[0];
    // The image is the boot files QEMU reads, the kernel and the disk, by their apparent
    // sizes (as every VM's); the disk is sparse.
    use std::os::unix::fs::MetadataExt;
    let kernel = std::fs::metadata(dir.join("kernel.img")).unwrap();
    let disk = std::fs::metadata(dir.join("disk.raw")).unwrap();
    assert_eq!(row.image_bytes, Some(kernel.len() + disk.len()));
    assert!(
        disk.blocks() * 512 < disk.len(),
        "mkfs writes a sparse disk: {} allocated of {}",
        disk.blocks() * 512,
        disk.len()
    );
    let compressed = row.image_compressed_bytes.unwrap();
    let allocated = (kernel.blocks() + disk.blocks()) * 512;
    assert!(
        compressed < allocated && compressed > 1_000_000,
        "the kernel (1.7 MB, twice) and the binary (1.3 MB) compressed: {compressed} of {allocated}"
    );
    // The kernel in the boot filesystem and the program on the root filesystem, nothing else.
    assert_eq!((row.image_files, row.image_executables), (Some(2), Some(2)));
    let manifest = std::fs::read_to_string(dir.join("manifest")).unwrap();
    assert!(manifest.contains("program:/hello-rust"), "{manifest}");
}

/// At 48 MiB Nanos on microvm cannot allocate its network's receive buffers and says so,
/// then its program still prints its ready line: the fatal line must end the launch at once,
/// name what the guest said, and leave no VM.
#[tokio::test(flavor = "multi_thread")]
async fn a_nanos_guest_without_network_fails_on_its_own_line() {
    let (mut scenario, _prepared) = prepared_default(&["nanos"]).await;
    if let Launch::Qemu(qemu) = &mut scenario.wraps[0].launch {
        qemu.memory_mb = 48;
    }
    let rows = run_leaving_no_vm(&scenario, "test-nanos-fatal", 1).await;
    let row = &rows[0];
    assert!(!row.ok);
    assert!(
        row.error.contains("failed to set up interface"),
        "{}",
        row.error
    );
    assert!(row.ttfr_ms.is_none() && row.error.len() < 2000, "{row:?}");
}

/// `shrinkwrap build --wrap nanos` with the mirror at `mirror` and a cache of its own: its
/// exit code and its `error:` line.
fn build_from_mirror(mirror: &Path, cache: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shrinkwrap"))
        .args(["build", "--wrap", "nanos"])
        .current_dir(repository_root())
        .env("SHRINKWRAP_MIRROR", mirror)
        .env("SHRINKWRAP_CACHE", cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    (out.status.code(), errors[0].to_string())
}

/// A mirror file that is altered, or missing (upstream being out of reach here), stops the
/// build before anything is unpacked, with one line naming the file and the fix, and no image.
#[test]
fn a_corrupt_or_missing_mirror_file_stops_the_build_naming_it() {
    let real = repository_root().join("../shared/mirror/nanos/nanos-0.1.55.tar.gz");
    let mirror = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir(mirror.path().join("nanos")).unwrap();
    let copy = mirror.path().join("nanos/nanos-0.1.55.tar.gz");
    let mut bytes = std::fs::read(&real).expect("the pinned mirror is beside the repository");
    bytes[1000] ^= 1;
    std::fs::write(&copy, bytes).unwrap();

    let (code, line) = build_from_mirror(mirror.path(), cache.path());
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains(&copy.display().to_string()), "{line}");
    assert!(line.contains("not the pinned 0a8254f9"), "{line}");
    assert!(line.contains("replace it with the pinned file"), "{line}");

    std::fs::remove_file(&copy).unwrap();
    let (code, line) = build_from_mirror(mirror.path(), cache.path());
    assert_eq!(code, Some(2), "{line}");
    assert!(
        line.contains("nanos/nanos-0.1.55.tar.gz is not in the mirror"),
        "{line}"
    );
    assert!(line.contains("SHRINKWRAP_MIRROR"), "{line}");

    let images = std::fs::read_dir(cache.path().join("images")).unwrap();
    let built: Vec<String> = images
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|name| !name.starts_with('.') && !name.ends_with(".log"))
        .collect();
    assert!(built.is_empty(), "no image from a failed build: {built:?}");
}
