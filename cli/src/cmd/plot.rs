//! `runlog plot RUN NAME...`: a line chart of scalar series in the terminal (Braille dots), or a PNG with `--png`.
//!
//! Both read the series through the UI's chunk-statistics downsampler, so a 10M-point series plots without decoding
//! every point, and its minima and maxima stay visible. The PNG is drawn with tiny-skia (anti-aliased lines, PNG
//! encoding built in) and labelled with the font8x8 bitmap font: no system fonts, no font files, no C libraries.
//!
//! Opens the store read-only; writes nothing but the PNG asked for.

use super::Global;
use crate::common::{self, format_value};
use crate::ui::downsample::downsample;
use anyhow::Context as _;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `runlog plot`.
#[derive(Debug, clap::Args)]
#[command(after_help = "In the terminal each series is drawn with Braille dots (2x4 per character), in colour on a
terminal. With --png FILE a PNG is written instead (white background, one colour per series, a legend).")]
pub struct Args {
    /// The run: id, unambiguous id prefix, or experiment/name.
    pub run: String,
    /// Scalar series to draw (at least one).
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Write a PNG to this file instead of drawing in the terminal.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Chart width: terminal columns, or pixels with --png (default: 100 columns / 1000 pixels).
    #[arg(long)]
    pub width: Option<u32>,
    /// Chart height: terminal rows, or pixels with --png (default: 20 rows / 500 pixels).
    #[arg(long)]
    pub height: Option<u32>,
}

/// One series to draw: its name and (step, value) points in step order.
struct Line {
    name: String,
    points: Vec<(i64, f64)>,
}

const RGB: [(u8, u8, u8); 6] =
    [(47, 111, 222), (228, 87, 46), (41, 163, 106), (155, 89, 182), (240, 162, 2), (23, 162, 184)];
const ANSI: [&str; 6] = ["34", "31", "32", "35", "33", "36"];

/// Runs `runlog plot`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let (reader, info) = common::open_run(&g.store_path(), &args.run)?;
    let names = super::metrics::scalar_names(&reader, &info.id, &args.names)?;
    let (w, h) = match &args.png {
        Some(_) => (args.width.unwrap_or(1000).clamp(200, 8000), args.height.unwrap_or(500).clamp(120, 8000)),
        None => (args.width.unwrap_or(100).clamp(20, 1000), args.height.unwrap_or(20).clamp(4, 200)),
    };
    let mut lines = Vec::new();
    for n in &names {
        let chunks = reader.series_chunks(&info.id, n).with_context(|| format!("read series {n:?}"))?;
        let buckets = if args.png.is_some() { w as usize } else { 2 * w as usize };
        let s = downsample(&chunks, None, None, buckets, |c| reader.chunk_points(c.seq))
            .with_context(|| format!("read series {n:?}"))?;
        lines.push(Line { name: n.clone(), points: s.points.into_iter().filter(|p| p.1.is_finite()).collect() });
    }
    let title = format!("{}/{}", info.experiment, info.name);
    match &args.png {
        Some(path) => {
            let png = render_png(&title, &lines, w, h)?;
            std::fs::write(path, png).with_context(|| format!("write {}", path.display()))?;
        }
        None => {
            let text = render_terminal(&title, &lines, w as usize, h as usize, g.color);
            std::io::stdout().lock().write_all(text.as_bytes()).context("write output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The data bounds over all lines: (x0, x1, y0, y1), widened when empty or flat.
fn bounds(lines: &[Line]) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for l in lines {
        for &(x, y) in &l.points {
            x0 = x0.min(x as f64);
            x1 = x1.max(x as f64);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x0 == x1 {
        x1 = x0 + 1.0;
    }
    if y0 == y1 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    (x0, x1, y0, y1)
}

/// Draws the lines with Braille dots, a y axis with min/mid/max labels and an x axis with the first and last step.
fn render_terminal(title: &str, lines: &[Line], w: usize, h: usize, color: bool) -> String {
    let (x0, x1, y0, y1) = bounds(lines);
    let (pw, ph) = (w * 2, h * 4);
    // Each cell: dot bits and the index of the last line that drew in it (for its colour).
    let mut cells = vec![(0u8, 0usize); w * h];
    const BITS: [[u8; 2]; 4] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];
    for (li, l) in lines.iter().enumerate() {
        let mut prev: Option<(i64, i64)> = None;
        for &(x, y) in &l.points {
            let px = ((x as f64 - x0) / (x1 - x0) * (pw - 1) as f64).round() as i64;
            let py = ((y1 - y) / (y1 - y0) * (ph - 1) as f64).round() as i64;
            let from = prev.unwrap_or((px, py));
            for (dx, dy) in segment(from, (px, py)) {
                let (cx, cy) = (dx as usize / 2, dy as usize / 4);
                if cx < w && cy < h && dx >= 0 && dy >= 0 {
                    let c = &mut cells[cy * w + cx];
                    c.0 |= BITS[dy as usize % 4][dx as usize % 2];
                    c.1 = li;
                }
            }
            prev = Some((px, py));
        }
    }
    let labels = [format_value(y1), format_value((y0 + y1) / 2.0), format_value(y0)];
    let lw = labels.iter().map(String::len).max().unwrap_or(1);
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    for row in 0..h {
        let label = if row == 0 {
            &labels[0]
        } else if row == h / 2 {
            &labels[1]
        } else if row == h - 1 {
            &labels[2]
        } else {
            ""
        };
        let _ = write!(out, "{label:>lw$} ┤");
        for col in 0..w {
            let (bits, li) = cells[row * w + col];
            if bits == 0 {
                out.push(' ');
            } else {
                let ch = char::from_u32(0x2800 + u32::from(bits)).unwrap_or('·');
                if color {
                    let _ = write!(out, "\x1b[{}m{ch}\x1b[0m", ANSI[li % ANSI.len()]);
                } else {
                    out.push(ch);
                }
            }
        }
        out.push('\n');
    }
    let (first, last) = (format_value(x0), format_value(x1));
    let _ = writeln!(out, "{:lw$} └{}", "", "─".repeat(w));
    let gap = w.saturating_sub(first.len() + last.len());
    let _ = writeln!(out, "{:lw$}  {first}{}{last}  (step)", "", " ".repeat(gap));
    for (i, l) in lines.iter().enumerate() {
        let mark = if color { format!("\x1b[{}m━━\x1b[0m", ANSI[i % ANSI.len()]) } else { "──".to_string() };
        let last = l.points.last().map_or("-".to_string(), |p| format_value(p.1));
        let _ = writeln!(out, "{:lw$}  {mark} {} (last {last})", "", l.name);
    }
    out
}

/// The integer points of a line segment (Bresenham), both ends included.
fn segment(a: (i64, i64), b: (i64, i64)) -> Vec<(i64, i64)> {
    let (mut x, mut y) = a;
    let (dx, dy) = ((b.0 - x).abs(), -(b.1 - y).abs());
    let (sx, sy) = (if x < b.0 { 1 } else { -1 }, if y < b.1 { 1 } else { -1 });
    let mut err = dx + dy;
    let mut out = Vec::with_capacity((dx - dy + 1) as usize);
    loop {
        out.push((x, y));
        if x == b.0 && y == b.1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
    out
}

/// Renders the chart as PNG bytes.
fn render_png(title: &str, lines: &[Line], w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    use tiny_skia::{Color, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};
    let mut pm = Pixmap::new(w, h).context("allocate the image")?;
    pm.fill(Color::WHITE);
    let (x0, x1, y0, y1) = bounds(lines);
    let scale = 2;
    let ylabels: Vec<(f64, String)> =
        (0..=4).map(|i| y0 + (y1 - y0) * f64::from(i) / 4.0).map(|v| (v, short(v))).collect();
    let widest = ylabels.iter().map(|(_, s)| s.len()).max().unwrap_or(1);
    let (l, r, t, b) = (16.0 + (widest * 8 * scale) as f32, 48.0, 44.0, 40.0 + 20.0 * lines.len() as f32);
    let (pw, ph) = (w as f32 - l - r, (h as f32 - t - b).max(20.0));
    let fx = |x: f64| l + ((x - x0) / (x1 - x0)) as f32 * pw;
    let fy = |y: f64| t + ph - ((y - y0) / (y1 - y0)) as f32 * ph;
    let mut paint = Paint { anti_alias: true, ..Paint::default() };
    let grid = Color::from_rgba8(225, 228, 235, 255);
    let ink = (90, 96, 110);
    let hair = Stroke { width: 1.0, ..Stroke::default() };
    // Grid and tick labels.
    for (v, s) in &ylabels {
        let y = fy(*v);
        let mut p = PathBuilder::new();
        p.move_to(l, y);
        p.line_to(l + pw, y);
        if let Some(path) = p.finish() {
            paint.set_color(grid);
            pm.stroke_path(&path, &paint, &hair, Transform::identity(), None);
        }
        let tw = (s.len() * 8 * scale) as f32;
        text(&mut pm, s, (l - tw - 8.0) as i32, (y - 8.0) as i32, scale, ink);
    }
    for i in 0..=4 {
        let v = x0 + (x1 - x0) * f64::from(i) / 4.0;
        let x = fx(v);
        let mut p = PathBuilder::new();
        p.move_to(x, t);
        p.line_to(x, t + ph);
        if let Some(path) = p.finish() {
            paint.set_color(grid);
            pm.stroke_path(&path, &paint, &hair, Transform::identity(), None);
        }
        let s = short(v.round());
        let tw = (s.len() * 8 * scale) as f32;
        text(&mut pm, &s, (x - tw / 2.0) as i32, (t + ph + 8.0) as i32, scale, ink);
    }
    if let Some(frame) = Rect::from_xywh(l, t, pw, ph) {
        let path = PathBuilder::from_rect(frame);
        paint.set_color_rgba8(190, 195, 205, 255);
        pm.stroke_path(&path, &paint, &hair, Transform::identity(), None);
    }
    text(&mut pm, title, l as i32, 12, scale, (29, 35, 48));
    // Series.
    let stroke = Stroke { width: 2.0, ..Stroke::default() };
    for (i, line) in lines.iter().enumerate() {
        let (cr, cg, cb) = RGB[i % RGB.len()];
        paint.set_color_rgba8(cr, cg, cb, 255);
        let mut p = PathBuilder::new();
        for (k, &(x, y)) in line.points.iter().enumerate() {
            if k == 0 {
                p.move_to(fx(x as f64), fy(y));
            } else {
                p.line_to(fx(x as f64), fy(y));
            }
        }
        if line.points.len() == 1 {
            if let Some(&(x, y)) = line.points.first() {
                p.push_circle(fx(x as f64), fy(y), 3.0);
            }
        }
        if let Some(path) = p.finish() {
            pm.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
        }
        let ly = h as f32 - b + 34.0 + 20.0 * i as f32;
        if let Some(sw) = Rect::from_xywh(l, ly, 24.0, 12.0) {
            pm.fill_rect(sw, &paint, Transform::identity(), None);
        }
        let last = line.points.last().map_or("-".to_string(), |p| format_value(p.1));
        text(&mut pm, &format!("{} (last {last})", line.name), (l + 34.0) as i32, (ly - 2.0) as i32, scale, ink);
    }
    pm.encode_png().context("encode the PNG")
}

/// A tick label: at most 4 significant digits.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_value(v);
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let digits = (3 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Draws ASCII text with the font8x8 bitmap font, each font pixel a `scale` x `scale` square.
fn text(pm: &mut tiny_skia::Pixmap, s: &str, x: i32, y: i32, scale: usize, rgb: (u8, u8, u8)) {
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let color = tiny_skia::ColorU8::from_rgba(rgb.0, rgb.1, rgb.2, 255).premultiply();
    let data = pm.pixels_mut();
    for (i, ch) in s.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY.get(ch as usize).copied().unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + ((i * 8 + col) * scale + dx) as i32;
                        let py = y + (row * scale + dy) as i32;
                        if px >= 0 && py >= 0 && px < w && py < h {
                            data[(py * w + px) as usize] = color;
                        }
                    }
                }
            }
        }
    }
}
