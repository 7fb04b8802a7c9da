//! Helpers shared by the integration tests that read ../shared/corpus in place.

use std::path::{Path, PathBuf};

/// The shared corpus beside the checkout. Missing: a test fails under CI=true and skips
/// with a message otherwise.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("manifest.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but the shared corpus is missing at {}",
            dir.display()
        );
    }
    eprintln!("skipping: no shared corpus at {}", dir.display());
    None
}
