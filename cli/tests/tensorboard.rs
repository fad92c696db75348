//! TensorBoard in and out (issue 12) with the real Python packages: event files written by tensorboardX are imported
//! and read back value by value (and a second import adds nothing); a runlog run is exported and read by
//! TensorBoard's own `EventAccumulator`.
//!
//! Python comes from `$RUNLOG_TB_PYTHON`, else from `scripts/tb-venv.sh` (which creates a virtual environment with
//! the pinned `scripts/tb-requirements.txt` the first time, about a minute).

mod util;

use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use util::*;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNLOG_TB_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/tb-venv.sh");
    let o = Command::new("bash").arg(&script).output().expect("run scripts/tb-venv.sh");
    assert!(o.status.success(), "scripts/tb-venv.sh failed: {}", String::from_utf8_lossy(&o.stderr));
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// Runs a Python script with arguments; returns its stdout as JSON.
fn py(script: &str, args: &[&Path]) -> Json {
    let o = Command::new(python()).arg("-c").arg(script).args(args).output().expect("run python");
    assert!(o.status.success(), "python failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("python printed no JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

const WRITE_WITH_TENSORBOARDX: &str = r#"
import io, json, sys
import numpy as np
from PIL import Image
from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams

out = sys.argv[1]
want = {"run_a": {}, "run_b": {}, "run_a/eval": {}}
w = SummaryWriter(out + "/run_a")
loss = []
for s in range(200):
    v = 1.0 / (s + 1) + 0.001 * s
    w.add_scalar("loss", v, s)
    loss.append([s, float(np.float32(v))])
acc = []
for s in range(0, 200, 20):
    v = s / 199.0
    w.add_scalar("eval/acc", v, s, walltime=1_500_000_000.25 + s)
    acc.append([s, float(np.float32(v))])
imgs = []
for k, step in enumerate([5, 10]):
    a = np.zeros((3, 8, 16), dtype=np.uint8)
    a[k * 2] = 200
    w.add_image("samples", a, step, walltime=1_600_000_000.5 + k)
    imgs.append({"step": step, "ms": 1_600_000_000_500 + 1000 * k, "rgb": [int(x) for x in a[:, 0, 0]]})
w.add_text("notes", "hello from tensorboardX", 3)
w.add_histogram("weights", np.arange(100), 1)
exp, ssi, sei = hparams({"lr": 0.01, "optimizer": "adam", "batch": 32}, {"hparam/loss": 0.5})
for summary in (exp, ssi, sei):
    w.file_writer.add_summary(summary)
w.close()
want["run_a"] = {"loss": loss, "eval/acc": acc, "images": imgs, "text": "hello from tensorboardX",
                 "params": {"lr": 0.01, "optimizer": "adam", "batch": 32}}
w = SummaryWriter(out + "/run_b")
b = []
for s in range(0, 1000, 7):
    v = (s % 13) * 0.37 - 2.5
    w.add_scalar("loss", v, s)
    b.append([s, float(np.float32(v))])
w.close()
want["run_b"] = {"loss": b}
w = SummaryWriter(out + "/run_a/eval")
w.add_scalar("val_loss", 0.25, 1)
w.close()
want["run_a/eval"] = {"val_loss": [[1, 0.25]]}
json.dump(want, sys.stdout)
"#;

const READ_WITH_EVENT_ACCUMULATOR: &str = r#"
import io, json, sys
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
out = {"tags": {k: sorted(v) for k, v in tags.items() if isinstance(v, list)}, "scalars": {}, "images": {}, "texts": {}}
for t in tags["scalars"]:
    out["scalars"][t] = [[e.step, e.value, e.wall_time] for e in ea.Scalars(t)]
for t in tags["images"]:
    out["images"][t] = []
    for e in ea.Images(t):
        im = Image.open(io.BytesIO(e.encoded_image_string)).convert("RGB")
        out["images"][t].append({"step": e.step, "width": e.width, "height": e.height, "pixel": list(im.getpixel((0, 0)))})
for t in tags["tensors"]:
    out["texts"][t] = [[e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode()] for e in ea.Tensors(t)]
content = ea.PluginTagToContent("hparams")
out["hparams"] = {}
for tag, raw in content.items():
    d = plugin_data_pb2.HParamsPluginData.FromString(raw)
    for k, v in d.session_start_info.hparams.items():
        kind = v.WhichOneof("kind")
        out["hparams"][k] = getattr(v, kind)
json.dump(out, sys.stdout)
"#;

fn series(store: &Path, run: &str, name: &str) -> Vec<(i64, f64)> {
    let o = ok(&runlog(store, &["metrics", run, name, "-f", "json"]));
    let v: Json = serde_json::from_str(&o).expect("JSON");
    v[0]["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| (p["step"].as_i64().expect("step"), p["value"].as_f64().expect("value")))
        .collect()
}

fn pairs(v: &Json) -> Vec<(i64, f64)> {
    v.as_array().expect("pairs").iter().map(|p| (p[0].as_i64().expect("step"), p[1].as_f64().expect("value"))).collect()
}

#[test]
fn import_tensorboardx_event_files_value_by_value_and_idempotently() {
    let d = tempfile::tempdir().expect("temp dir");
    let logs = d.path().join("logs");
    let want = py(WRITE_WITH_TENSORBOARDX, &[&logs]);
    let store = d.path().join("tb.db");

    let out = ok(&runlog(&store, &["import", "tensorboard", logs.to_str().expect("path"), "-e", "tb"]));
    let line = out.lines().find(|l| l.contains(" as tb/run_a (")).unwrap_or_else(|| panic!("run_a imported: {out}"));
    assert!(line.starts_with("imported "), "{line}");
    assert!(
        line.ends_with(": 210 scalar points, 2 images, 1 texts, 3 params; skipped 1 histograms, audio or empty values"),
        "the histogram is counted and skipped: {line}"
    );

    // Scalars, value by value (float32 as TensorBoard stores them), at their steps.
    assert_eq!(series(&store, "tb/run_a", "loss"), pairs(&want["run_a"]["loss"]));
    assert_eq!(series(&store, "tb/run_a", "eval/acc"), pairs(&want["run_a"]["eval/acc"]));
    // Each point keeps its event's wall time, not the import's.
    let o = ok(&runlog(&store, &["metrics", "tb/run_a", "eval/acc", "-f", "json"]));
    let v: Json = serde_json::from_str(&o).expect("JSON");
    let times: Vec<(i64, i64)> = v[0]["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| (p["step"].as_i64().expect("step"), p["timestamp"].as_i64().expect("timestamp")))
        .collect();
    assert_eq!(times, (0..200).step_by(20).map(|s| (s, 1_500_000_000_250 + s * 1000)).collect::<Vec<_>>());
    assert_eq!(series(&store, "tb/run_b", "loss"), pairs(&want["run_b"]["loss"]));
    assert_eq!(series(&store, "tb/run_a/eval", "val_loss"), pairs(&want["run_a/eval"]["val_loss"]));

    // Params from the hparams plugin, texts, images (decoded: the pixel colours written), and the nesting.
    let show: Json = serde_json::from_str(&ok(&runlog(&store, &["show", "tb/run_a", "--json"]))).expect("JSON");
    assert_eq!(show["params"], json!({"batch": 32, "lr": 0.01, "optimizer": "adam"}));
    assert_eq!(show["properties"]["tensorboard.source"], "run_a");
    let imgs = show["images"].as_array().expect("images");
    assert_eq!(imgs.len(), 2, "{show}");
    let runs: Json = serde_json::from_str(&ok(&runlog(&store, &["ls", "--json"]))).expect("JSON");
    let eval = runs.as_array().expect("runs").iter().find(|r| r["name"] == "run_a/eval").expect("the nested run");
    assert_eq!(eval["parent"], show["id"], "a run directory inside another is its child");
    let (_ui, url) = start_ui(&store);
    let api_imgs = http("GET", &format!("{url}/api/images?run=tb%2Frun_a"), None).json();
    for (k, img) in api_imgs.as_array().expect("images").iter().enumerate() {
        let want_img = &want["run_a"]["images"][k];
        assert_eq!(
            (&img["step"], &img["timestamp"]),
            (&want_img["step"], &want_img["ms"]),
            "image {k}'s own step and time"
        );
        let png = http("GET", &format!("{url}/api/blob/{}", img["hash"].as_str().expect("hash")), None).body;
        let px = decode_first_pixel(&png);
        let rgb: Vec<u8> = want["run_a"]["images"][k]["rgb"]
            .as_array()
            .expect("rgb")
            .iter()
            .map(|c| c.as_u64().expect("c") as u8)
            .collect();
        assert_eq!(px, rgb, "image {k}");
        assert_eq!((img["width"].as_u64(), img["height"].as_u64()), (Some(16), Some(8)));
    }
    let run = http("GET", &format!("{url}/api/run?run=tb%2Frun_a"), None).json();
    // tensorboardX writes add_text("notes") under the tag "notes/text_summary", which is what TensorBoard shows too.
    assert_eq!(run["texts"][0]["name"], "notes/text_summary");
    assert_eq!(run["texts"][0]["text"], want["run_a"]["text"]);
    assert_eq!(run["texts"][0]["step"], 3, "the text's own step");

    // Importing again adds nothing.
    let before = ok(&runlog(&store, &["ls", "--json"]));
    let again = ok(&runlog(&store, &["import", "tensorboard", logs.to_str().expect("path"), "-e", "tb"]));
    assert!(again.contains("nothing new to import"), "{again}");
    assert!(again.contains("updated") && again.contains(": 0 scalar points, 0 images, 0 texts, 0 params"), "{again}");
    let after = ok(&runlog(&store, &["ls", "--json"]));
    let strip = |s: &str| -> Json {
        let mut v: Json = serde_json::from_str(s).expect("JSON");
        for r in v.as_array_mut().expect("runs") {
            r.as_object_mut().expect("run").remove("duration_ms");
        }
        v
    };
    assert_eq!(strip(&before), strip(&after), "a second import changed the runs");
    assert_eq!(series(&store, "tb/run_a", "loss").len(), 200);
    let show2: Json = serde_json::from_str(&ok(&runlog(&store, &["show", "tb/run_a", "--json"]))).expect("JSON");
    assert_eq!(show2["images"].as_array().map(Vec::len), Some(2));

    // A directory that grew: only the new events are added.
    py(
        "import sys\nfrom tensorboardX import SummaryWriter\nw = SummaryWriter(sys.argv[1] + '/run_b')\nw.add_scalar('loss', 9.5, 5000)\nw.close()\nprint('{}')",
        &[&logs],
    );
    let grew = ok(&runlog(&store, &["import", "tensorboard", logs.to_str().expect("path"), "-e", "tb"]));
    assert!(grew.contains("tb/run_b") && grew.contains(": 1 scalar points"), "{grew}");
    let b = series(&store, "tb/run_b", "loss");
    assert_eq!(b.len(), want["run_b"]["loss"].as_array().expect("b").len() + 1);
    assert_eq!(b.last(), Some(&(5000, 9.5)));

    // Errors name the problem.
    let o = runlog(&store, &["import", "tensorboard", d.path().join("nope").to_str().expect("path")]);
    fails(&o, 1, "nope");
    let empty = d.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    fails(&runlog(&store, &["import", "tensorboard", empty.to_str().expect("path")]), 4, "no TensorBoard event files");
}

fn decode_first_pixel(png: &[u8]) -> Vec<u8> {
    let p = tiny_skia::Pixmap::decode_png(png).expect("a PNG");
    let c = p.pixel(0, 0).expect("a pixel").demultiply();
    vec![c.red(), c.green(), c.blue()]
}

#[test]
fn export_is_read_by_tensorboards_event_accumulator() {
    let d = tempfile::tempdir().expect("temp dir");
    let path = d.path().join("runs.db");
    let store = open_store(&path);
    let run = store.start_named_run("exp", "to-tb").expect("run");
    run.log_param("lr", 0.003).expect("param");
    run.log_param("layers", 4i64).expect("param");
    run.log_param("optimizer", "adamw").expect("param");
    let loss: Vec<(i64, f64)> =
        (0..500).map(|s| (s * 2, 1.0 / (1.0 + s as f64 * 0.01) + (s % 3) as f64 * 1e-3)).collect();
    for &(s, v) in &loss {
        run.log_at("loss", s, v).expect("log");
    }
    run.log_at("acc", 10, 0.5).expect("log");
    run.log_at("acc", 20, 0.75).expect("log");
    run.log_image("samples", &png(12, 6, (250, 10, 10)), "red").expect("image");
    run.log_image_at("samples", &png(12, 6, (10, 10, 250)), "blue", 7, 1_700_000_000_000).expect("image");
    run.log_text("notes", "exported from runlog").expect("text");
    run.complete().expect("end");
    store.flush().expect("flush");
    let stored = store.reader().series(run.id(), "loss").expect("series");
    drop(store);

    let out_dir = d.path().join("tb");
    let out = ok(&runlog(&path, &["export", "tensorboard", "exp/to-tb", out_dir.to_str().expect("path")]));
    assert!(out.trim_end().ends_with(": 502 scalar points, 2 images, 1 texts, 3 params"), "{out}");
    // Exporting again replaces the file instead of adding a second one.
    ok(&runlog(&path, &["export", "tensorboard", "exp/to-tb", out_dir.to_str().expect("path")]));
    let files: Vec<_> = std::fs::read_dir(&out_dir).expect("dir").collect();
    assert_eq!(files.len(), 1, "one event file");

    let got = py(READ_WITH_EVENT_ACCUMULATOR, &[&out_dir]);
    assert_eq!(got["tags"]["scalars"], json!(["acc", "loss"]));
    let scalars = got["scalars"]["loss"].as_array().expect("loss");
    assert_eq!(scalars.len(), loss.len());
    for (k, e) in scalars.iter().enumerate() {
        assert_eq!(e[0].as_i64(), Some(loss[k].0), "step {k}");
        assert_eq!(e[1].as_f64(), Some(loss[k].1 as f32 as f64), "value {k} (float32 in TensorBoard)");
        let wall = e[2].as_f64().expect("wall time");
        assert!((wall - stored[k].timestamp_ms as f64 / 1000.0).abs() < 1e-6, "wall time {k}");
    }
    assert_eq!(pairs(&got["scalars"]["acc"]), [(10, 0.5), (20, 0.75)]);
    let imgs = got["images"]["samples"].as_array().expect("images");
    assert_eq!(imgs.len(), 2);
    assert_eq!(imgs[0]["pixel"], json!([250, 10, 10]));
    assert_eq!(imgs[1]["pixel"], json!([10, 10, 250]));
    assert_eq!((imgs[0]["step"].as_i64(), imgs[1]["step"].as_i64()), (Some(0), Some(7)));
    assert_eq!((imgs[0]["width"].as_i64(), imgs[0]["height"].as_i64()), (Some(12), Some(6)));
    assert_eq!(got["texts"]["notes"], json!([[0, "exported from runlog"]]));
    assert_eq!(got["hparams"], json!({"lr": 0.003, "layers": 4.0, "optimizer": "adamw"}));

    // And back: importing the export gives the same values (float32-rounded), steps and params.
    let back = d.path().join("back.db");
    ok(&runlog(&back, &["import", "tensorboard", out_dir.to_str().expect("path"), "-e", "back"]));
    let back_loss = series(&back, "back/tb", "loss");
    assert_eq!(back_loss, loss.iter().map(|&(s, v)| (s, v as f32 as f64)).collect::<Vec<_>>());
    let back_show: Json = serde_json::from_str(&ok(&runlog(&back, &["show", "back/tb", "--json"]))).expect("JSON");
    let steps: Vec<_> = back_show["images"].as_array().expect("images").iter().map(|i| i["step"].clone()).collect();
    assert_eq!(steps, [json!(0), json!(7)], "image steps survive the way out and back: {back_show}");
}
