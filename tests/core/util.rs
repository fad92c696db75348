//! Shared helpers: temp stores, real PNG images, and the worker process.

use std::path::PathBuf;
use std::process::Command;

/// A temp dir with a store path inside it; the dir lives as long as the value.
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("runlog.db");
    TempStore { dir, path }
}

/// A real PNG of `w` x `h` RGB pixels, with contents depending on `seed`.
pub fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().expect("png header");
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        wr.write_image_data(&data).expect("png data");
    }
    out
}

/// The `test_worker` example binary (built by `cargo test` with the other examples).
pub fn worker() -> Command {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join("test_worker");
    assert!(
        path.exists(),
        "the test_worker example is not built at {}; run `cargo build --release --examples` first (scripts/test.sh does)",
        path.display()
    );
    let mut c = Command::new(path);
    hermetic(&mut c, &dir.join("hermetic-config-absent"));
    c
}

/// Keeps a child away from the user's runlog configuration: its config directory (and HOME, which the default one
/// derives from) is `config`, a directory no test creates, and no remote comes from the environment.
pub fn hermetic(c: &mut Command, config: &std::path::Path) {
    c.env("RUNLOG_CONFIG_DIR", config).env("HOME", config).env_remove("RUNLOG_REMOTE").env_remove("RUNLOG_TOKEN");
}
