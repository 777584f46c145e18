//! What is inside an image, as attack-surface facts rather than slogans: how many files and
//! executables it holds, whether a shell or setuid/setgid files are among them, and which
//! kernel comes with it. Read from the image itself: a container image as the engine saves
//! it, an appliance's initramfs list, or a VM's boot files.

use std::io::Read;
use std::path::Path;

/// Names of programs that give an attacker a shell.
const SHELLS: [&str; 10] = [
    "sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox",
];

/// Offset of the Linux boot protocol's "HdrS" magic in a bzImage.
const BZIMAGE_MAGIC_AT: usize = 0x202;
/// Offset of the boot protocol's pointer to the kernel version string (minus 0x200).
const BZIMAGE_VERSION_AT: usize = 0x20E;

/// Attack-surface facts of one image.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Contents {
    /// Regular files.
    pub files: u64,
    /// Regular files with an execute bit.
    pub executables: u64,
    /// Files with the setuid or setgid bit.
    pub setuid: u64,
    /// Paths of shells found.
    pub shells: Vec<String>,
    /// The kernel that comes with the image, e.g. `Linux 6.1.158 inside`.
    pub kernel: String,
    /// The host interfaces a WebAssembly component imports (its whole reach outside its
    /// sandbox), e.g. `wasi:sockets/tcp@0.2.4`.
    #[serde(default)]
    pub imports: Vec<String>,
}

impl Contents {
    fn add_file(&mut self, path: &str, mode: u32) {
        self.files += 1;
        if mode & 0o111 != 0 {
            self.executables += 1;
        }
        if mode & 0o6000 != 0 {
            self.setuid += 1;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        if mode & 0o111 != 0 && SHELLS.contains(&name) {
            self.shells.push(format!(
                "/{}",
                path.trim_start_matches("./").trim_start_matches('/')
            ));
        }
    }
}

/// The regular files of an image, by path, with their modes, as layers are applied.
type FileSystem = std::collections::BTreeMap<String, u32>;

/// Applies one layer: adds its regular files, and removes what its whiteouts hide.
fn apply_layer<R: Read>(files: &mut FileSystem, layer: R) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries()? {
        let entry = entry?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path.as_str()),
        };
        if name == ".wh..wh..opq" {
            // An opaque directory hides everything lower layers put in it.
            files.retain(|p, _| !p.starts_with(&dir));
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            let hidden = format!("{dir}{hidden}");
            files.retain(|p, _| *p != hidden && !p.starts_with(&format!("{hidden}/")));
        } else if entry.header().entry_type().is_file() {
            files.insert(path.clone(), entry.header().mode()?);
        }
    }
    Ok(())
}

/// Facts of a container image from the engine's `docker save` tarball: the layers its
/// manifest lists (legacy `ID/layer.tar` or OCI `blobs/sha256/...`), applied in order.
pub fn from_saved_image(tarball: &[u8], host_kernel: &str) -> std::io::Result<Contents> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    // Where every member's data lies in the tarball.
    let mut members = std::collections::HashMap::new();
    let mut manifest = None;
    for entry in tar::Archive::new(tarball).entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            manifest = Some(text);
        } else {
            let start =
                usize::try_from(entry.raw_file_position()).map_err(|_| invalid("huge tarball"))?;
            let size = usize::try_from(entry.size()).map_err(|_| invalid("huge tarball"))?;
            members.insert(name, start..start + size);
        }
    }
    let manifest = manifest.ok_or_else(|| invalid("the saved image has no manifest.json"))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest).map_err(|e| invalid(&e.to_string()))?;
    let layers: Vec<&str> = manifest
        .get(0)
        .and_then(|image| image.get("Layers"))
        .and_then(|layers| layers.as_array())
        .map(|layers| layers.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    if layers.is_empty() {
        return Err(invalid("the saved image's manifest lists no layers"));
    }
    let mut files = FileSystem::new();
    for layer in layers {
        let range = members
            .get(layer)
            .ok_or_else(|| invalid(&format!("layer {layer} is not in the saved image")))?;
        let data = tarball
            .get(range.clone())
            .ok_or_else(|| invalid("truncated tarball"))?;
        apply_layer(&mut files, data)?;
    }
    let mut contents = Contents {
        kernel: format!("shares the host's Linux {host_kernel}"),
        ..Contents::default()
    };
    for (path, mode) in &files {
        contents.add_file(path, *mode);
    }
    Ok(contents)
}

/// The comment line by which a file list names a kernel that is not Linux, e.g.
/// `# kernel: Nanos 0.1.55` (a unikernel's disk).
const KERNEL_COMMENT: &str = "# kernel:";

/// Facts of an image from its file list (gen_init_cpio format: `file NAME LOCATION MODE UID
/// GID`): an appliance's initramfs or a disk's files. The kernel is the one a
/// `# kernel: NAME` line names, else the `-kernel` file's when there is one, else the
/// `/boot/vmlinuz-VERSION` the list names (a Linux VM booting from a disk).
pub fn from_initramfs_list(list: &str, kernel: Option<&Path>) -> Contents {
    let mut contents = Contents::default();
    let mut named_kernel = None;
    let mut linux_on_disk = None;
    for line in list.lines() {
        if let Some(name) = line.strip_prefix(KERNEL_COMMENT).map(str::trim) {
            named_kernel = named_kernel.or((!name.is_empty()).then_some(name));
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let ["file", name, _location, mode, ..] = fields.as_slice() {
            contents.add_file(name, u32::from_str_radix(mode, 8).unwrap_or(0));
            linux_on_disk = linux_on_disk.or_else(|| name.strip_prefix("/boot/vmlinuz-"));
        }
    }
    contents.kernel = match (named_kernel, kernel, linux_on_disk) {
        (Some(name), Some(_), _) => name.to_string(),
        (Some(name), None, _) => format!("{name} on its disk"),
        (None, Some(kernel), _) => kernel_fact(kernel),
        (None, None, Some(version)) => format!("Linux {version} on its disk"),
        (None, None, None) => "unknown (boots from a disk)".to_string(),
    };
    contents
}

/// Facts of a VM whose image is its boot files (kernel, initrd): each counts as one
/// executable file, since each is code the VM runs.
pub fn from_boot_files(kernel: Option<&Path>, boot_files: &[&Path]) -> Contents {
    let mut contents = Contents {
        kernel: kernel.map_or_else(|| "unknown (boots from a disk)".to_string(), kernel_fact),
        ..Contents::default()
    };
    for file in boot_files {
        contents.add_file(&file.to_string_lossy(), 0o755);
    }
    contents
}

/// Facts of an image that is a few host files (a program run as a host process), each
/// counted with its own mode; `kernel` says which kernel runs it.
pub fn from_files(files: &[&Path], kernel: String) -> std::io::Result<Contents> {
    use std::os::unix::fs::PermissionsExt;
    let mut contents = Contents {
        kernel,
        ..Contents::default()
    };
    for file in files {
        let mode = std::fs::metadata(file)?.permissions().mode();
        contents.add_file(&file.to_string_lossy(), mode);
        if is_component(file)? {
            let bytes = std::fs::read(file)?;
            let imports = component_imports(&bytes).map_err(|e| {
                std::io::Error::other(format!("{}: not a valid component: {e}", file.display()))
            })?;
            contents.imports.extend(imports);
        }
    }
    Ok(contents)
}

/// The first bytes of a WebAssembly component: the magic, version 13 and layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Whether `file` starts as a WebAssembly component does; only its first bytes are read
/// (an image file may be a disk of gigabytes).
fn is_component(file: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; COMPONENT_PREAMBLE.len()];
    match std::fs::File::open(file)?.read_exact(&mut head) {
        Ok(()) => Ok(head == COMPONENT_PREAMBLE),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The names a component imports at its top level (not those of the modules and
/// components nested inside it).
fn component_imports(bytes: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    use wasmparser::Payload;
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import?.name.full_name().into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// Which kernel a `-kernel` file is: a Linux bzImage (with its version) or not Linux.
pub fn kernel_fact(kernel: &Path) -> String {
    // The version pointer is 16 bits past 0x200: the string starts within 0x10200 bytes.
    let mut head = vec![0u8; 0x10400];
    let read = std::fs::File::open(kernel).and_then(|mut f| {
        let mut filled = 0;
        loop {
            let n = f.read(&mut head[filled..])?;
            if n == 0 || filled + n == head.len() {
                return Ok(filled + n);
            }
            filled += n;
        }
    });
    match read {
        Ok(n) => match linux_version(&head[..n]) {
            None => "no Linux kernel (not a bzImage)".to_string(),
            Some(None) => "Linux (version unknown) inside".to_string(),
            Some(Some(version)) => format!("Linux {version} inside"),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

/// `None` when `head` is not the start of a bzImage; else its version, when the boot
/// protocol header points to one.
fn linux_version(head: &[u8]) -> Option<Option<String>> {
    if head.get(BZIMAGE_MAGIC_AT..BZIMAGE_MAGIC_AT + 4)? != b"HdrS" {
        return None;
    }
    let version = || {
        let pointer = head.get(BZIMAGE_VERSION_AT..BZIMAGE_VERSION_AT + 2)?;
        let start = usize::from(u16::from_le_bytes([pointer[0], pointer[1]])) + 0x200;
        let text = head.get(start..)?;
        let end = text.iter().position(|&b| b == 0 || b == b' ')?;
        let version = std::str::from_utf8(&text[..end]).ok()?;
        (!version.is_empty()).then(|| version.to_string())
    };
    Some(version())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_files_first_bytes_say_whether_it_is_a_component() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let mut component = COMPONENT_PREAMBLE.to_vec();
        component.extend_from_slice(b"rest of a component");
        assert!(is_component(&write("c.wasm", &component)).unwrap());
        let module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        assert!(!is_component(&write("m.wasm", &module)).unwrap());
        assert!(!is_component(&write("short", b"\0asm")).unwrap());
    }

    fn tar_with(files: &[(&str, u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(*mode);
            header.set_cksum();
            builder.append_data(&mut header, path, &b"x"[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// A `docker save` tarball: the layers under `names`, and a manifest listing them.
    fn saved_image(layers: &[(&str, Vec<u8>)], manifest: &str) -> Vec<u8> {
        let mut outer = tar::Builder::new(Vec::new());
        for (name, data) in layers
            .iter()
            .map(|(n, d)| (*n, d.as_slice()))
            .chain([("manifest.json", manifest.as_bytes())])
        {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            outer.append_data(&mut header, name, data).unwrap();
        }
        outer.into_inner().unwrap()
    }

    #[test]
    fn applies_every_listed_layer_in_order_with_whiteouts() {
        let lower = tar_with(&[
            ("bin/sh", 0o755),
            ("etc/passwd", 0o644),
            ("app/old.js", 0o644),
            ("tmp/x/a", 0o644),
        ]);
        let upper = tar_with(&[
            ("usr/bin/passwd", 0o4755),
            ("app/.wh.old.js", 0o644),
            ("tmp/x/.wh..wh..opq", 0o644),
        ]);
        let tarball = saved_image(
            &[("blobs/sha256/aaa", lower), ("blobs/sha256/bbb", upper)],
            r#"[{"Config":"blobs/sha256/ccc","Layers":["blobs/sha256/aaa","blobs/sha256/bbb"]}]"#,
        );
        let contents = from_saved_image(&tarball, "6.18.0").unwrap();
        assert_eq!(contents.files, 3, "bin/sh, etc/passwd, usr/bin/passwd");
        assert_eq!(contents.executables, 2);
        assert_eq!(contents.setuid, 1);
        assert_eq!(contents.shells, vec!["/bin/sh".to_string()]);
        assert_eq!(contents.kernel, "shares the host's Linux 6.18.0");
    }

    #[test]
    fn a_saved_image_without_listed_layers_is_an_error_not_an_empty_image() {
        let layer = tar_with(&[("bin/sh", 0o755)]);
        let unlisted = saved_image(&[("x/layer.tar", layer.clone())], "[]");
        assert!(from_saved_image(&unlisted, "6").is_err());
        let no_manifest = tar_with(&[("x/layer.tar", 0o644)]);
        assert!(from_saved_image(&no_manifest, "6").is_err());
        let missing = saved_image(&[("x/layer.tar", layer)], r#"[{"Layers":["y/layer.tar"]}]"#);
        assert!(from_saved_image(&missing, "6").is_err());
    }

    #[test]
    fn reads_an_initramfs_list() {
        let list = "# comment\ndir /dev 0755 0 0\nnod /dev/null 0666 0 0 c 1 3\n\
                    file /init /w/init 0755 0 0\nfile /lib/libc.so.6 /x 0644 0 0\n\
                    file /bin/busybox /y 4755 0 0\nslink /bin/sh busybox 0777 0 0\n";
        let contents = from_initramfs_list(list, Some(Path::new("/nonexistent/bzImage")));
        assert_eq!(
            (contents.files, contents.executables, contents.setuid),
            (3, 2, 1)
        );
        assert_eq!(contents.shells, vec!["/bin/busybox".to_string()]);
        assert!(
            contents.kernel.starts_with("unknown ("),
            "{}",
            contents.kernel
        );
    }

    #[test]
    fn a_disk_list_names_its_kernel_by_its_boot_file() {
        let list = "file /boot/vmlinuz-6.1.0-50-cloud-amd64 - 644 0 0\n\
                    file /usr/bin/dash - 755 0 0\nfile /usr/share/menu/dash - 644 0 0\n";
        let contents = from_initramfs_list(list, None);
        assert_eq!(contents.kernel, "Linux 6.1.0-50-cloud-amd64 on its disk");
        assert_eq!(contents.shells, vec!["/usr/bin/dash".to_string()]);
        let without = from_initramfs_list("file /usr/bin/x - 755 0 0\n", None);
        assert_eq!(without.kernel, "unknown (boots from a disk)");
    }

    #[test]
    fn a_list_may_name_a_kernel_that_is_not_linux() {
        let list = "# kernel: Nanos 0.1.55\nfile /kernel /w/kernel.img 0755 0 0\n\
                    file /hello-rust /w/hello-rust 0755 0 0\n";
        let on_disk = from_initramfs_list(list, None);
        assert_eq!(on_disk.kernel, "Nanos 0.1.55 on its disk");
        assert_eq!((on_disk.files, on_disk.executables), (2, 2));
        assert!(on_disk.shells.is_empty());
        let booted = from_initramfs_list(list, Some(Path::new("/nonexistent/kernel.img")));
        assert_eq!(
            booted.kernel, "Nanos 0.1.55",
            "the list's name, not the file's guess"
        );
    }

    #[test]
    fn recognises_a_bzimage_and_its_version() {
        // The version pointer is 16 bits past 0x200: the string starts within 0x10200 bytes.
        let mut head = vec![0u8; 0x10400];
        head[BZIMAGE_MAGIC_AT..BZIMAGE_MAGIC_AT + 4].copy_from_slice(b"HdrS");
        head[BZIMAGE_VERSION_AT..BZIMAGE_VERSION_AT + 2].copy_from_slice(&0x0300u16.to_le_bytes());
        assert_eq!(
            linux_version(&head),
            Some(None),
            "a pointer past the end: version unknown"
        );
        head.resize(0x3800, 0);
        head[BZIMAGE_VERSION_AT..BZIMAGE_VERSION_AT + 2].copy_from_slice(&0x3500u16.to_le_bytes());
        let version = b"6.1.158 (debian-kernel@lists.debian.org) #1\0";
        head[0x3700..0x3700 + version.len()].copy_from_slice(version);
        assert_eq!(linux_version(&head), Some(Some("6.1.158".to_string())));
        assert_eq!(linux_version(&[0u8; 0x400]), None);
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("bzImage");
        std::fs::write(&kernel, &head).unwrap();
        assert_eq!(kernel_fact(&kernel), "Linux 6.1.158 inside");
        let loader = dir.path().join("loader");
        std::fs::write(&loader, [0x90u8; 64]).unwrap();
        assert_eq!(kernel_fact(&loader), "no Linux kernel (not a bzImage)");
    }

    #[test]
    fn boot_files_count_as_executables() {
        let contents = from_boot_files(
            Some(Path::new("/nonexistent/loader")),
            &[Path::new("/x/loader"), Path::new("/x/app")],
        );
        assert_eq!(
            (contents.files, contents.executables, contents.setuid),
            (2, 2, 0)
        );
        assert!(contents.shells.is_empty());
    }
}
