//! `runlog import tensorboard DIR` and `runlog export tensorboard RUN DIR`: TensorBoard event files in and out.
//!
//! Import follows TensorBoard's own notion of a run: every directory under DIR that holds `*tfevents*` files is one
//! run, named by its path relative to DIR (DIR itself: its own name); a run directory inside another run directory
//! becomes a child run. Scalars (`simple_value`, and scalar tensors) keep their step and value (float32, as
//! TensorBoard stores them); images (the `image` field and the images plugin) and texts (the text plugin) keep their
//! order, with TensorBoard's step in the image description; the hparams plugin's session start becomes params.
//! Histograms, audio, graphs and other plugins are counted and skipped.
//!
//! Import is idempotent: each run carries the property `tensorboard.source` (its relative path), and a second import
//! of the same directory into the same experiment attaches to that run and adds only what it lacks: scalar points
//! past the last stored step of their series, images and texts past the stored count of their name, params not yet
//! set. Importing twice adds nothing; importing a directory that grew adds the new events.
//!
//! Export writes one event file for a run: its scalar series (float32 `simple_value`, the run's own timestamps as
//! wall times), images, texts (text plugin) and params (the hparams plugin's session start), so TensorBoard and its
//! `EventAccumulator` read a runlog run like any other.

use super::Global;
use crate::common;
use crate::tb;
use anyhow::Context as _;
use prost::Message as _;
use runlog_core::{Run, RunId, Store, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The property that names the event directory a run was imported from (relative to the imported directory).
pub const SOURCE_PROPERTY: &str = "tensorboard.source";

/// Arguments of `runlog import tensorboard`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Every directory under DIR holding *tfevents* files is one run, named by its path relative to \
DIR. Scalars keep their step; images and texts keep their order (TensorBoard's step is in the image description);
hparams become params; histograms, audio and graphs are skipped. Importing the same DIR into the same experiment
again adds only events that are not in the store yet (runs are matched by their tensorboard.source property).
The store is created if it does not exist.")]
pub struct ImportArgs {
    /// The TensorBoard log directory.
    pub dir: PathBuf,
    /// Experiment of the imported runs (default: DIR's name).
    #[arg(long, short = 'e')]
    pub experiment: Option<String>,
}

/// Arguments of `runlog export tensorboard`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The run: id, unambiguous id prefix, or experiment/name.
    pub run: String,
    /// Directory to write the event file into (created; an earlier export of the run there is replaced).
    pub dir: PathBuf,
}

/// What one directory's import added and skipped.
#[derive(Debug, Default)]
struct Counts {
    points: u64,
    images: u64,
    texts: u64,
    params: u64,
    already: u64,
    skipped: BTreeMap<String, u64>,
    errors: BTreeMap<String, String>,
}

/// A run directory found under the root.
#[derive(Debug)]
struct Found {
    rel: String,
    files: Vec<PathBuf>,
}

fn find_runs(root: &Path) -> anyhow::Result<Vec<Found>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut files = Vec::new();
        for e in std::fs::read_dir(&dir).with_context(|| format!("read directory {}", dir.display()))? {
            let e = e.with_context(|| format!("read directory {}", dir.display()))?;
            // Not following symlinked directories: a link back up would loop.
            let t = e.file_type().with_context(|| format!("stat {}", e.path().display()))?;
            if t.is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().contains("tfevents") {
                files.push(e.path());
            }
        }
        if !files.is_empty() {
            files.sort();
            let rel = dir.strip_prefix(root).unwrap_or(&dir).to_string_lossy().into_owned();
            out.push(Found { rel: if rel.is_empty() { ".".into() } else { rel }, files });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Runs `runlog import tensorboard`.
pub fn import(args: ImportArgs, g: &Global) -> anyhow::Result<ExitCode> {
    let root = std::fs::canonicalize(&args.dir)
        .map_err(|e| common::coded(common::code::ERROR, format!("cannot open {}: {e}", args.dir.display())))?;
    let experiment = match &args.experiment {
        Some(e) => e.clone(),
        None => root.file_name().map_or_else(|| "tensorboard".into(), |n| n.to_string_lossy().into_owned()),
    };
    let found = find_runs(&root)?;
    if found.is_empty() {
        return Err(common::coded(
            common::code::NOT_FOUND,
            format!("no TensorBoard event files (*tfevents*) under {}", root.display()),
        ));
    }
    let path = g.store_path();
    let store = Store::open(&path).with_context(|| format!("open store {}", path.display()))?;
    let existing: HashMap<String, RunId> = store
        .reader()
        .runs()
        .context("list runs")?
        .into_iter()
        .filter(|r| r.experiment == experiment)
        .filter_map(|r| r.properties.get(SOURCE_PROPERTY).cloned().map(|s| (s, r.id)))
        .collect();
    let mut runs: HashMap<String, Run> = HashMap::new();
    let root_name = root.file_name().map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned());
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut total = 0u64;
    for f in &found {
        let (run, new) = match existing.get(&f.rel) {
            Some(id) => (Run::attach(&store, id).with_context(|| format!("attach to run {id}"))?, false),
            None => {
                let name = if f.rel == "." { root_name.clone() } else { f.rel.clone() };
                // The nearest enclosing run directory is the parent.
                let parent = Path::new(&f.rel)
                    .ancestors()
                    .skip(1)
                    .map(|a| if a.as_os_str().is_empty() { ".".to_string() } else { a.to_string_lossy().into_owned() })
                    .find_map(|a| runs.get(&a).filter(|_| a != f.rel));
                let run = match parent {
                    Some(p) => p.child(&name),
                    None => store.start_named_run(&experiment, &name),
                }
                .with_context(|| format!("start run {experiment}/{name}"))?;
                run.add_property(SOURCE_PROPERTY, &f.rel).context("record the source")?;
                run.add_property("tensorboard.logdir", &root.to_string_lossy()).context("record the source")?;
                (run, true)
            }
        };
        let c = import_run(&store, &run, &f.files)?;
        total += c.points + c.images + c.texts + c.params;
        let mut line = format!(
            "{} {} as {}/{} ({}): {} scalar points, {} images, {} texts, {} params",
            if new { "imported" } else { "updated" },
            root.join(&f.rel).display(),
            run.experiment(),
            run.name(),
            &run.id().as_str()[..8],
            c.points,
            c.images,
            c.texts,
            c.params
        );
        if c.already > 0 {
            line.push_str(&format!("; {} already in the store", c.already));
        }
        if !c.skipped.is_empty() {
            let s: Vec<String> = c.skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
            line.push_str(&format!("; skipped {}", s.join(", ")));
        }
        writeln!(out, "{line}").context("write output")?;
        for (tag, e) in &c.errors {
            eprintln!("runlog: {}: tag {tag:?} not imported: {e}", root.join(&f.rel).display());
        }
        runs.insert(f.rel.clone(), run);
    }
    for (rel, run) in &runs {
        if !existing.contains_key(rel) {
            run.complete().with_context(|| format!("end run {}", run.id()))?;
        }
    }
    store.flush().context("flush the store")?;
    if total == 0 {
        writeln!(out, "nothing new to import").context("write output")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn param_value(v: &tb::PbValue) -> Option<Value> {
    Some(match v.kind.as_ref()? {
        tb::PbKind::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Value::I64(*n as i64),
        tb::PbKind::Number(n) => Value::F64(*n),
        tb::PbKind::Str(s) => Value::Str(s.clone()),
        tb::PbKind::Bool(b) => Value::Bool(*b),
        tb::PbKind::Null(_) => return None,
    })
}

fn image_format_ok(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG") || b.starts_with(&[0xff, 0xd8])
}

/// Imports one run directory's event files into `run`, adding only what the run lacks.
fn import_run(store: &Store, run: &Run, files: &[PathBuf]) -> anyhow::Result<Counts> {
    let reader = store.reader();
    let id = run.id().clone();
    let last: HashMap<String, i64> =
        reader.summary(&id).context("read the run")?.into_iter().map(|m| (m.name, m.last_step)).collect();
    let mut have_images: HashMap<String, u64> = HashMap::new();
    for e in reader.images(&id, None).context("read the run")? {
        *have_images.entry(e.name).or_default() += 1;
    }
    let mut have_texts: HashMap<String, u64> = HashMap::new();
    for e in reader.texts(&id, None).context("read the run")? {
        *have_texts.entry(e.name).or_default() += 1;
    }
    let params = reader.run(&id).context("read the run")?.params;
    let mut seen_images: HashMap<String, u64> = HashMap::new();
    let mut seen_texts: HashMap<String, u64> = HashMap::new();
    let mut c = Counts::default();
    let mut buf = Vec::new();
    for file in files {
        let f = std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?;
        let mut r = BufReader::with_capacity(64 << 10, f);
        let mut index = 0u64;
        loop {
            match tb::read_record(&mut r, &mut buf) {
                Ok(true) => {}
                Ok(false) => break,
                Err(tb::RecordError::Truncated) => {
                    eprintln!(
                        "runlog: {}: the last record is incomplete (still being written?); read up to it",
                        file.display()
                    );
                    break;
                }
                Err(e) => return Err(anyhow::anyhow!("{}: record {index}: {e}", file.display())),
            }
            index += 1;
            let ev = tb::Event::decode(&buf[..])
                .map_err(|e| anyhow::anyhow!("{}: record {index} is not a TensorBoard event: {e}", file.display()))?;
            let Some(tb::What::Summary(s)) = ev.what else { continue };
            for v in s.value {
                let plugin = v.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()).map(|p| p.plugin_name.as_str());
                let result = match (&v.kind, plugin) {
                    (_, Some("hparams")) => {
                        let content = v.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()).map(|p| &p.content[..]);
                        match content.map(tb::HParamsPluginData::decode) {
                            Some(Ok(d)) => {
                                let mut hp: Vec<(String, tb::PbValue)> =
                                    d.session_start_info.map(|s| s.hparams.into_iter().collect()).unwrap_or_default();
                                hp.sort_by(|a, b| a.0.cmp(&b.0));
                                let mut res = Ok(());
                                for (k, pv) in hp {
                                    let Some(val) = param_value(&pv) else { continue };
                                    if params.contains_key(&k) {
                                        c.already += 1;
                                        continue;
                                    }
                                    res = res.and(run.log_param(&k, val));
                                    c.params += 1;
                                }
                                res
                            }
                            Some(Err(e)) => Err(runlog_core::Error::Invalid(format!("hparams plugin data: {e}"))),
                            None => Ok(()),
                        }
                    }
                    (Some(tb::Kind::SimpleValue(x)), _) => {
                        scalar(run, &last, &v.tag, (ev.step, ev.wall_time), f64::from(*x), &mut c)
                    }
                    (Some(tb::Kind::Tensor(t)), None | Some("scalars")) if t.scalar().is_some() => {
                        scalar(run, &last, &v.tag, (ev.step, ev.wall_time), t.scalar().unwrap_or(f64::NAN), &mut c)
                    }
                    (Some(tb::Kind::Image(img)), _) if image_format_ok(&img.encoded_image_string) => {
                        let n = seen_images.entry(v.tag.clone()).or_default();
                        *n += 1;
                        if *n <= have_images.get(&v.tag).copied().unwrap_or(0) {
                            c.already += 1;
                            Ok(())
                        } else {
                            c.images += 1;
                            run.log_image_at(&v.tag, &img.encoded_image_string, "", ev.step, wall_ms(ev.wall_time))
                        }
                    }
                    (Some(tb::Kind::Tensor(t)), Some("images")) if t.string_val.len() > 2 => {
                        // The images plugin: [width, height, image, image, ...] as strings.
                        let mut res = Ok(());
                        for img in t.string_val[2..].iter().filter(|b| image_format_ok(b)) {
                            let n = seen_images.entry(v.tag.clone()).or_default();
                            *n += 1;
                            if *n <= have_images.get(&v.tag).copied().unwrap_or(0) {
                                c.already += 1;
                                continue;
                            }
                            c.images += 1;
                            res = res.and(run.log_image_at(&v.tag, img, "", ev.step, wall_ms(ev.wall_time)));
                        }
                        res
                    }
                    (Some(tb::Kind::Tensor(t)), Some("text")) => {
                        let text: Vec<String> =
                            t.string_val.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
                        let n = seen_texts.entry(v.tag.clone()).or_default();
                        *n += 1;
                        if *n <= have_texts.get(&v.tag).copied().unwrap_or(0) {
                            c.already += 1;
                            Ok(())
                        } else {
                            c.texts += 1;
                            run.log_text_at(&v.tag, &text.join("\n"), ev.step, wall_ms(ev.wall_time))
                        }
                    }
                    (kind, plugin) => {
                        let what = match (kind, plugin) {
                            (_, Some(p)) => format!("{p} values"),
                            (Some(tb::Kind::Image(_)), None) => "images that are neither PNG nor JPEG".into(),
                            (None, None) => "histograms, audio or empty values".into(),
                            _ => "other values".into(),
                        };
                        *c.skipped.entry(what).or_default() += 1;
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    c.errors.entry(v.tag.clone()).or_insert_with(|| e.to_string());
                }
            }
        }
    }
    Ok(c)
}

/// Imports one scalar at the event's step and with the event's own wall time in seconds (not the import's).
fn scalar(
    run: &Run,
    last: &HashMap<String, i64>,
    tag: &str,
    (step, wall_time): (i64, f64),
    v: f64,
    c: &mut Counts,
) -> runlog_core::Result<()> {
    if last.get(tag).is_some_and(|&l| step <= l) {
        c.already += 1;
        return Ok(());
    }
    c.points += 1;
    run.log_at_time(tag, step, v, wall_ms(wall_time))
}

/// An event's wall time (seconds since the Unix epoch) in milliseconds.
fn wall_ms(wall_time: f64) -> i64 {
    (wall_time * 1000.0).round() as i64
}

fn summary_event(at_ms: i64, step: i64, value: tb::SummaryValue) -> tb::Event {
    tb::Event {
        wall_time: at_ms as f64 / 1000.0,
        step,
        what: Some(tb::What::Summary(tb::Summary { value: vec![value] })),
    }
}

fn plugin(name: &str, content: Vec<u8>) -> Option<tb::SummaryMetadata> {
    Some(tb::SummaryMetadata {
        plugin_data: Some(tb::PluginData { plugin_name: name.into(), content }),
        display_name: String::new(),
        summary_description: String::new(),
    })
}

/// Runs `runlog export tensorboard`.
pub fn export(args: ExportArgs, g: &Global) -> anyhow::Result<ExitCode> {
    let (reader, info) = common::open_run(&g.store_path(), &args.run)?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("create {}", args.dir.display()))?;
    let file =
        args.dir.join(format!("events.out.tfevents.{}.runlog.{}", info.started_at / 1000, &info.id.as_str()[..12]));
    // Written beside, then renamed: TensorBoard never sees half a file (the name has no "tfevents" in it).
    let tmp = args.dir.join(format!(".runlog-export-{}.partial", info.id));
    let f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(64 << 10, f);
    let werr = |e: std::io::Error| anyhow::Error::new(e).context(format!("write {}", tmp.display()));
    let first = tb::Event {
        wall_time: info.started_at as f64 / 1000.0,
        step: 0,
        what: Some(tb::What::FileVersion("brain.Event:2".into())),
    };
    tb::write_record(&mut w, &first.encode_to_vec()).map_err(werr)?;
    let mut buf = Vec::with_capacity(128);
    let mut points = 0u64;
    for m in reader.metrics(&info.id).context("list metrics")? {
        if m.kind != runlog_core::MetricKind::Scalar {
            continue;
        }
        for p in reader.series(&info.id, &m.name).with_context(|| format!("read series {:?}", m.name))? {
            let v = tb::SummaryValue {
                tag: m.name.clone(),
                metadata: None,
                kind: Some(tb::Kind::SimpleValue(p.value as f32)),
            };
            buf.clear();
            summary_event(p.timestamp_ms, p.step, v).encode(&mut buf).map_err(|e| anyhow::anyhow!("encode: {e}"))?;
            tb::write_record(&mut w, &buf).map_err(werr)?;
            points += 1;
        }
    }
    let images = reader.images(&info.id, None).context("list images")?;
    for e in &images {
        let bytes = reader.blob(&e.value.hash).with_context(|| format!("read image {:?}", e.name))?;
        let img = tb::Image {
            height: e.value.height as i32,
            width: e.value.width as i32,
            colorspace: 4,
            encoded_image_string: bytes,
        };
        let v = tb::SummaryValue { tag: e.name.clone(), metadata: None, kind: Some(tb::Kind::Image(img)) };
        tb::write_record(&mut w, &summary_event(e.timestamp_ms, e.step.unwrap_or(0), v).encode_to_vec())
            .map_err(werr)?;
    }
    let texts = reader.texts(&info.id, None).context("list texts")?;
    for e in &texts {
        let t = tb::TensorProto {
            dtype: tb::dtype::STRING,
            tensor_shape: Some(tb::TensorShape { dim: vec![] }),
            string_val: vec![e.value.text.clone().into_bytes()],
            ..Default::default()
        };
        let v =
            tb::SummaryValue { tag: e.name.clone(), metadata: plugin("text", vec![]), kind: Some(tb::Kind::Tensor(t)) };
        tb::write_record(&mut w, &summary_event(e.timestamp_ms, e.step.unwrap_or(0), v).encode_to_vec())
            .map_err(werr)?;
    }
    if !info.params.is_empty() {
        let hparams = info
            .params
            .iter()
            .map(|(k, v)| {
                let kind = match v {
                    Value::Bool(b) => tb::PbKind::Bool(*b),
                    Value::I64(i) => tb::PbKind::Number(*i as f64),
                    Value::F64(f) => tb::PbKind::Number(*f),
                    Value::Str(s) => tb::PbKind::Str(s.clone()),
                };
                (k.clone(), tb::PbValue { kind: Some(kind) })
            })
            .collect();
        let data = tb::HParamsPluginData {
            version: 0,
            session_start_info: Some(tb::SessionStartInfo {
                hparams,
                group_name: String::new(),
                start_time_secs: info.started_at as f64 / 1000.0,
            }),
        };
        let v = tb::SummaryValue {
            tag: "_hparams_/session_start_info".into(),
            metadata: plugin("hparams", data.encode_to_vec()),
            kind: None,
        };
        tb::write_record(&mut w, &summary_event(info.started_at, 0, v).encode_to_vec()).map_err(werr)?;
    }
    w.flush().map_err(werr)?;
    drop(w);
    std::fs::rename(&tmp, &file).with_context(|| format!("rename {} to {}", tmp.display(), file.display()))?;
    println!(
        "wrote {}: {points} scalar points, {} images, {} texts, {} params",
        file.display(),
        images.len(),
        texts.len(),
        info.params.len()
    );
    Ok(ExitCode::SUCCESS)
}
