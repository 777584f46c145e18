//! Images: how each wrap's image is built from a recipe and cached ([`recipe`]), how big it
//! is on disk and compressed ([`size`]), and what it holds ([`contents`]).

pub mod contents;
pub mod recipe;
pub mod size;

use std::path::Path;

use contents::Contents;

/// What is known of a prepared wrap's image, read once and repeated in every row.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    /// Apparent size, as defined for the wrap's kind.
    pub bytes: u64,
    /// The image compressed as one stream with [`size::COMPRESSION`], or why that is
    /// unknown.
    pub compressed_bytes: Result<u64, String>,
    /// What the image holds, or why that is unknown.
    pub contents: Result<Contents, String>,
}

impl ImageFacts {
    /// The facts of an image that is a few host files (a VM's boot files, a program): their
    /// sizes on disk, and compressed together (cached by their content).
    pub fn of_files(
        files: &[&Path],
        cache_dir: &Path,
        contents: Result<Contents, String>,
    ) -> std::io::Result<ImageFacts> {
        let bytes = files
            .iter()
            .map(|file| std::fs::metadata(file).map(|m| m.len()))
            .sum::<std::io::Result<u64>>()?;
        Ok(ImageFacts {
            bytes,
            compressed_bytes: size::compressed_files_cached(files, cache_dir),
            contents,
        })
    }
}
