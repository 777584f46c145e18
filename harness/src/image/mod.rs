//! Images: how each wrap's image is built from a recipe and cached ([`recipe`]), how big it
//! is on disk and compressed ([`size`]), and what it holds ([`contents`]).

pub mod contents;
pub mod recipe;
pub mod size;
