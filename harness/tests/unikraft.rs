//! The Unikraft unikernel, built from the pinned sources by its recipe and measured for
//! real: its binary-compatibility loader must run the very binary the container holds, from
//! an initrd that holds it byte for byte, report its image's facts as they are, serve its
//! first 200 and leave nothing behind.

use std::collections::BTreeMap;

mod common;

use common::{
    assert_served_after_its_ready_line, containers_binary, image_dir, prepared, prepared_default,
    run_leaving_no_vm, sha256,
};

/// The regular files of a newc cpio archive by name, read by the format's own rules (a
/// 110-byte header of hex fields, the name, the data, each padded to 4 bytes), up to its
/// trailer.
fn cpio_files(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let pad = |n: usize| n.next_multiple_of(4);
    let mut files = BTreeMap::new();
    let mut at = 0;
    while at + 110 <= archive.len() {
        let header = &archive[at..at + 110];
        assert_eq!(&header[..6], b"070701", "a newc header at byte {at}");
        let field = |i: usize| {
            let hex = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap();
            usize::from_str_radix(hex, 16).unwrap()
        };
        let (mode, size, name_size) = (field(1), field(6), field(11));
        let name_at = at + 110;
        let name = String::from_utf8(archive[name_at..name_at + name_size - 1].to_vec()).unwrap();
        if name == "TRAILER!!!" {
            break;
        }
        let data_at = pad(name_at + name_size);
        if mode & 0o170000 == 0o100000 {
            files.insert(name, archive[data_at..data_at + size].to_vec());
        }
        at = pad(data_at + size);
    }
    files
}

/// The reader gives back what GNU cpio packed, and a changed byte of the archive changes
/// what it reads.
#[test]
fn a_cpio_is_read_back_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b): (Vec<u8>, Vec<u8>) = ((0..5001u32).map(|i| i as u8).collect(), b"xyz".to_vec());
    std::fs::write(dir.path().join("a"), &a).unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/b"), &b).unwrap();
    let mut cpio = std::process::Command::new("cpio")
        .args(["--quiet", "-o", "-H", "newc"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cpio is installed: run scripts/setup");
    use std::io::Write;
    cpio.stdin
        .take()
        .unwrap()
        .write_all(b"a\netc\netc/b\n")
        .unwrap();
    let mut archive = cpio.wait_with_output().unwrap().stdout;
    let files = cpio_files(&archive);
    assert_eq!(
        files,
        BTreeMap::from([("a".to_string(), a.clone()), ("etc/b".to_string(), b)])
    );
    let at = archive.windows(a.len()).position(|w| w == a).unwrap();
    archive[at + 4000] ^= 1;
    assert_ne!(cpio_files(&archive)["a"], a);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unikraft_initrd_holds_the_very_binary_the_container_runs_and_nothing_else() {
    let (scenario, _prepared) = prepared_default(&["container", "unikraft"]).await;
    let container = containers_binary(&scenario);
    let initrd = std::fs::read(image_dir(&scenario, "unikraft").join("initrd.cpio")).unwrap();
    let files = cpio_files(&initrd);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["hello-rust"], "the program alone");
    assert_eq!(
        sha256(&files["hello-rust"]),
        sha256(&container),
        "the loader runs the container's file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unikraft_boots_serves_and_reports_its_image_as_it_is() {
    let (scenario, _prepared) = prepared_default(&["unikraft"]).await;
    let dir = image_dir(&scenario, "unikraft");
    let rows = run_leaving_no_vm(&scenario, "test-unikraft-elfloader", 2).await;
    let size = |name: &str| std::fs::metadata(dir.join(name)).unwrap().len();
    for row in &rows {
        assert_served_after_its_ready_line(row);
        assert_eq!(row.image_kernel, "Unikraft 0.16.3 (elfloader)");
        // The boot files QEMU reads: the kernel and the initrd.
        assert_eq!(row.image_bytes, Some(size("kernel") + size("initrd.cpio")));
        assert_eq!((row.image_files, row.image_executables), (Some(2), Some(2)));
        assert_eq!(row.image_shells, "", "no shell in the initrd");
    }
}

/// The example a new user runs with no kernel of theirs: the recipe builds Unikraft's own
/// httpreply, which serves; its image is the kernel alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_httpreply_example_builds_its_kernel_and_serves() {
    let (scenario, _prepared) =
        prepared("scenarios/examples/unikraft-httpreply.toml", &["httpreply"]).await;
    let dir = image_dir(&scenario, "httpreply");
    let rows = run_leaving_no_vm(&scenario, "test-unikraft-httpreply", 1).await;
    let row = &rows[0];
    assert!(row.ok, "{}", row.error);
    assert_eq!(row.image_kernel, "Unikraft 0.16.3 (httpreply)");
    let kernel = std::fs::metadata(dir.join("kernel")).unwrap().len();
    assert_eq!(row.image_bytes, Some(kernel));
    assert_eq!(row.image_files, Some(1), "the kernel alone");
}
