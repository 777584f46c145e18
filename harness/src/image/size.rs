//! Image sizes beside the apparent bytes: the image compressed as one stream with one fixed
//! method ([`COMPRESSION`]), which is what a platform moves to a cold host. Computed once per
//! image identity (a container image id, a hash of a VM's boot files) and cached, since it
//! reads the whole image.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The compression every `image_compressed_bytes` figure uses, as the reports name it.
pub const COMPRESSION: &str = "zstd level 3";
/// zstd's level for [`COMPRESSION`] (zstd's own default, and containerd's).
const ZSTD_LEVEL: i32 = 3;

/// Counts the bytes written to it and keeps none.
#[derive(Default)]
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes of `stream` compressed with [`COMPRESSION`] as one zstd frame.
pub fn compressed_size(mut stream: impl Read) -> std::io::Result<u64> {
    let mut encoder = zstd::Encoder::new(CountingSink::default(), ZSTD_LEVEL)?;
    std::io::copy(&mut stream, &mut encoder)?;
    Ok(encoder.finish()?.0)
}

/// Bytes of the files concatenated in order, compressed as one stream.
pub fn compressed_size_of_files(files: &[&Path]) -> std::io::Result<u64> {
    let mut chained: Box<dyn Read> = Box::new(std::io::empty());
    for file in files {
        chained = Box::new(chained.chain(std::fs::File::open(file)?));
    }
    compressed_size(chained)
}

/// An identity of files by content: the SHA-256 of their bytes, in order, with their lengths.
pub fn files_identity(files: &[&Path]) -> std::io::Result<String> {
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    for file in files {
        let mut reader = std::fs::File::open(file)?;
        let mut length = 0u64;
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hash.update(&buffer[..n]);
            length += n as u64;
        }
        hash.update(length.to_le_bytes());
    }
    Ok(hex::encode(hash.finalize()))
}

/// Facts of one image computed by reading all of it, cached by its identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedFacts<T> {
    /// What the facts are of (an image id, a content hash).
    pub identity: String,
    /// The image compressed with [`COMPRESSION`].
    pub compressed_bytes: u64,
    /// Further facts read in the same pass (a container image's contents).
    pub extra: T,
}

/// Where cached image facts live: one JSON file per identity under the image cache.
#[derive(Debug, Clone)]
pub struct FactsCache {
    dir: PathBuf,
}

impl FactsCache {
    /// The facts cache under the image cache folder `cache_dir`.
    pub fn new(cache_dir: &Path) -> FactsCache {
        FactsCache {
            dir: cache_dir.join("image-facts"),
        }
    }

    fn path(&self, identity: &str) -> PathBuf {
        let safe: String = identity
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    /// The cached facts of `identity`, if any.
    pub fn load<T: for<'de> Deserialize<'de>>(&self, identity: &str) -> Option<CachedFacts<T>> {
        std::fs::read(self.path(identity))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CachedFacts<T>>(&bytes).ok())
            .filter(|facts| facts.identity == identity)
    }

    /// Caches `facts`. A cache that cannot be written costs a recomputation next time,
    /// never an error.
    pub fn store<T: Serialize>(&self, facts: &CachedFacts<T>) {
        if std::fs::create_dir_all(&self.dir).is_ok()
            && let Ok(json) = serde_json::to_vec(facts)
        {
            let _ = std::fs::write(self.path(&facts.identity), json);
        }
    }
}

/// Files (a VM's boot files, a program) compressed as one stream, cached by their content.
pub fn compressed_files_cached(files: &[&Path], cache_dir: &Path) -> Result<u64, String> {
    let failed = |e: std::io::Error| format!("compressing {}: {e}", describe(files));
    let identity = files_identity(files).map_err(failed)?;
    let cache = FactsCache::new(cache_dir);
    if let Some(facts) = cache.load::<()>(&identity) {
        return Ok(facts.compressed_bytes);
    }
    let compressed_bytes = compressed_size_of_files(files).map_err(failed)?;
    cache.store(&CachedFacts {
        identity,
        compressed_bytes,
        extra: (),
    });
    Ok(compressed_bytes)
}

/// Names files for an error: the first, and how many more.
fn describe(files: &[&Path]) -> String {
    match files {
        [] => "no files".to_string(),
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive_bytes_compress_and_the_count_is_a_real_zstd_frame() {
        let data = vec![7u8; 1_000_000];
        let size = compressed_size(&data[..]).unwrap();
        assert!(size < 1_000, "{size}");
        // The frame it counted decodes to the input.
        let frame = zstd::encode_all(&data[..], ZSTD_LEVEL).unwrap();
        assert_eq!(frame.len() as u64, size);
        assert_eq!(zstd::decode_all(&frame[..]).unwrap(), data);
    }

    #[test]
    fn files_are_compressed_as_one_stream_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"kernel bytes ".repeat(1000)).unwrap();
        std::fs::write(&b, b"initrd bytes ".repeat(1000)).unwrap();
        let mut joined = std::fs::read(&a).unwrap();
        joined.extend(std::fs::read(&b).unwrap());
        assert_eq!(
            compressed_size_of_files(&[&a, &b]).unwrap(),
            compressed_size(&joined[..]).unwrap()
        );
        let one = files_identity(&[&a, &b]).unwrap();
        assert_eq!(one, files_identity(&[&a, &b]).unwrap());
        assert_ne!(one, files_identity(&[&b, &a]).unwrap());
    }

    #[test]
    fn facts_are_kept_per_identity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FactsCache::new(dir.path());
        assert!(cache.load::<String>("sha256:abc").is_none());
        cache.store(&CachedFacts {
            identity: "sha256:abc".to_string(),
            compressed_bytes: 42,
            extra: "contents".to_string(),
        });
        let loaded = cache.load::<String>("sha256:abc").unwrap();
        assert_eq!(
            (loaded.compressed_bytes, loaded.extra.as_str()),
            (42, "contents")
        );
        assert!(cache.load::<String>("sha256:other").is_none());
    }
}
