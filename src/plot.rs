//! Line charts of scalar series as PNG or SVG: one panel per tag, one colour per run, and
//! TensorBoard's smoothing drawn over the faint raw curve.
//!
//! The module knows nothing of event files: callers hand it [`Panel`]s of `(x, y)` points
//! (the `plot` command builds them from scalar series). Rendering is pure Rust (tiny-skia
//! for pixels, ab_glyph for text) with a bundled font, so it needs no system library.
//!
//! ```
//! use tfevents::plot::{render_png, smooth, Curve, Options, Panel, XAxis};
//!
//! // (0.5 * 4 * 0.5 + 0.5 * 1) / (1 - 0.5^2) = 2
//! assert_eq!(smooth(&[4.0, 1.0], 0.5), [4.0, 2.0]);
//! let panel = Panel {
//!     title: "loss".into(),
//!     x_label: "step".into(),
//!     y_label: "loss".into(),
//!     x_axis: XAxis::Linear,
//!     log_y: false,
//!     curves: vec![Curve {
//!         label: "run-a".into(),
//!         color: 0,
//!         points: vec![(0.0, 1.0), (1.0, 0.5), (2.0, 0.4)],
//!     }],
//! };
//! let png = render_png(&[panel], &Options::default())?;
//! assert_eq!(&png[1..4], b"PNG");
//! # Ok::<(), tfevents::plot::PlotError>(())
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve};
use thiserror::Error;
use tiny_skia::{FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

/// DejaVu Sans 2.37, embedded so that text needs no system font (its license is
/// `assets/DejaVuSans-LICENSE.txt`). SVG output names the family and lets the viewer draw it.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// TensorBoard's default smoothing weight (the scalar dashboard's slider starts at 0.6).
pub const DEFAULT_SMOOTHING: f64 = 0.6;
/// Default width of the image, in pixels.
pub const DEFAULT_WIDTH: u32 = 1000;
/// Default height of one panel, in pixels.
pub const DEFAULT_PANEL_HEIGHT: u32 = 600;
/// Smallest panel that can be laid out, in pixels (width, height).
pub const MIN_PANEL: (u32, u32) = (240, 160);
/// Largest image side, in pixels (a 16384 x 16384 RGBA image is 1 GiB).
pub const MAX_SIDE: u32 = 16384;

/// Coordinates beyond +-LIMIT are drawn at +-LIMIT, so that every span is finite.
const LIMIT: f64 = 1e300;

/// Opacity of the raw curve drawn behind the smoothed one.
const RAW_ALPHA: f32 = 0.25;

/// TensorBoard's smoothing of a scalar curve: an exponential moving average with weight
/// `weight` on the past, debiased for the zero it starts from.
///
/// This is the scalar dashboard's formula (`resmoothDataset` in TensorBoard's line chart):
/// with `last = 0` and `n = 0`, each finite value `y` gives `last = last * w + (1 - w) * y`,
/// `n += 1` and `last / (1 - w^n)` (`last` itself when `w == 1`). Non-finite values are
/// returned as they are and do not enter the average; when all values are equal the curve
/// is returned unchanged. `weight` 0 returns the values unchanged; TensorBoard's slider
/// spans 0 to 0.999, and callers should keep `weight` in `[0, 1)` (at 1 the formula gives a
/// flat line at 0). The result has one value per input value.
pub fn smooth(values: &[f64], weight: f64) -> Vec<f64> {
    let constant = values.first().is_some_and(|&first| {
        // TensorBoard compares with `==`, so a NaN anywhere makes the curve non-constant.
        values.iter().all(|&v| v == first)
    });
    let mut last = 0.0;
    let mut n = 0.0;
    values
        .iter()
        .map(|&y| {
            if constant || !y.is_finite() {
                return y;
            }
            last = last * weight + (1.0 - weight) * y;
            n += 1.0;
            let debias = if weight == 1.0 {
                1.0
            } else {
                1.0 - weight.powf(n)
            };
            last / debias
        })
        .collect()
}

/// How the x values of a panel are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XAxis {
    /// Plain numbers (steps, hours): ticks at round values, labels such as `2.5k`.
    #[default]
    Linear,
    /// Seconds since the Unix epoch: ticks at round times, labelled in UTC.
    UnixTime,
}

/// One chart: the curves of one tag.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Drawn above the chart (the tag).
    pub title: String,
    /// Label of the x axis (`step`).
    pub x_label: String,
    /// Label of the y axis (the tag).
    pub y_label: String,
    /// How x values are read.
    pub x_axis: XAxis,
    /// Logarithmic y axis; points with `y <= 0` are not drawn.
    pub log_y: bool,
    /// The curves, drawn and listed in the legend in this order.
    pub curves: Vec<Curve>,
}

/// One line of a panel (one run).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curve {
    /// Name in the legend (the run); long names are cut with an ellipsis in the middle.
    pub label: String,
    /// Index into the palette (see [`color`]): give a run the same index in every panel.
    pub color: usize,
    /// `(x, y)` in drawing order (ascending x for a line). Points with a non-finite
    /// coordinate are not drawn, nor are points with `y <= 0` on a log axis; smoothing runs
    /// over the points that are drawn. Coordinates beyond ±1e300 are drawn at ±1e300.
    pub points: Vec<(f64, f64)>,
}

/// Image size and smoothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Width of the image in pixels.
    pub width: u32,
    /// Height of one panel in pixels; panels are stacked, so the image is
    /// `panel_height * panels` tall.
    pub panel_height: u32,
    /// Smoothing weight for [`smooth`], in `[0, 1)`; 0 draws only the raw curves.
    pub smoothing: f64,
}

impl Options {
    /// The size of an image of `panels` panels, `(width, height)`; an error when a panel
    /// would be too small or the image too large ([`PlotError::Size`]), when the smoothing
    /// weight is not in `[0, 1)`, or when there are no panels.
    pub fn image_size(&self, panels: usize) -> Result<(u32, u32), PlotError> {
        if panels == 0 {
            return Err(PlotError::NoPanels);
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(PlotError::Smoothing(self.smoothing));
        }
        let height = u32::try_from(panels)
            .ok()
            .and_then(|n| n.checked_mul(self.panel_height));
        match height {
            Some(height)
                if self.width >= MIN_PANEL.0
                    && self.panel_height >= MIN_PANEL.1
                    && self.width <= MAX_SIDE
                    && height <= MAX_SIDE =>
            {
                Ok((self.width, height))
            }
            _ => Err(PlotError::Size {
                width: self.width,
                height: self.panel_height,
            }),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: DEFAULT_WIDTH,
            panel_height: DEFAULT_PANEL_HEIGHT,
            smoothing: DEFAULT_SMOOTHING,
        }
    }
}

/// An output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG, 8-bit RGB.
    Png,
    /// SVG 1.1, text as `<text>` in the DejaVu Sans family.
    Svg,
}

impl Format {
    /// The format named by a file's extension (`.png` or `.svg`, any case); anything else
    /// is [`PlotError::UnknownFormat`].
    pub fn from_path(path: &Path) -> Result<Format, PlotError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::UnknownFormat(path.to_path_buf())),
        }
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The output file name does not end in `.png` or `.svg`.
    #[error("{}: unknown image format: the file name must end in .png or .svg", .0.display())]
    UnknownFormat(PathBuf),
    /// No panels were given.
    #[error("nothing to plot: no panels")]
    NoPanels,
    /// The image would be too small to lay out or too large to allocate.
    #[error(
        "image size {width}x{height} per panel is out of range: a panel must be at least \
         {}x{} pixels and the whole image at most {MAX_SIDE} pixels a side",
        MIN_PANEL.0,
        MIN_PANEL.1
    )]
    Size {
        /// Requested width.
        width: u32,
        /// Requested panel height.
        height: u32,
    },
    /// The smoothing weight is not in `[0, 1)`.
    #[error("smoothing {0} is out of range: it must be at least 0 and less than 1")]
    Smoothing(f64),
    /// PNG encoding failed.
    #[error("encoding PNG: {0}")]
    Png(#[from] image::ImageError),
    /// The bundled font could not be parsed (a build defect).
    #[error("the bundled font cannot be read")]
    Font,
}

/// Points of a curve that are not drawn, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Undrawable {
    /// Points with a NaN or infinite coordinate.
    pub non_finite: usize,
    /// Finite points with `y <= 0` on a log axis.
    pub non_positive: usize,
}

/// Counts the points of `points` that a panel with `log_y` would not draw (for warnings).
pub fn undrawable(points: &[(f64, f64)], log_y: bool) -> Undrawable {
    let mut out = Undrawable::default();
    for &(x, y) in points {
        if !x.is_finite() || !y.is_finite() {
            out.non_finite += 1;
        } else if log_y && y <= 0.0 {
            out.non_positive += 1;
        }
    }
    out
}

fn drawable(x: f64, y: f64, log_y: bool) -> bool {
    x.is_finite() && y.is_finite() && (!log_y || y > 0.0)
}

/// The colour of palette index `index` as RGB: matplotlib's ten "tab10" colours, then
/// further distinct hues by the golden angle.
pub fn color(index: usize) -> [u8; 3] {
    const TAB10: [[u8; 3]; 10] = [
        [0x1f, 0x77, 0xb4],
        [0xff, 0x7f, 0x0e],
        [0x2c, 0xa0, 0x2c],
        [0xd6, 0x27, 0x28],
        [0x94, 0x67, 0xbd],
        [0x8c, 0x56, 0x4b],
        [0xe3, 0x77, 0xc2],
        [0x7f, 0x7f, 0x7f],
        [0xbc, 0xbd, 0x22],
        [0x17, 0xbe, 0xcf],
    ];
    if let Some(c) = TAB10.get(index) {
        return *c;
    }
    let k = (index - TAB10.len()) as f64;
    let hue = (20.0 + k * 137.507_764) % 360.0;
    // Alternate lightness so neighbouring hues also differ in tone.
    let light = if index % 2 == 0 { 0.40 } else { 0.52 };
    hsl(hue, 0.65, light)
}

fn hsl(h: f64, s: f64, l: f64) -> [u8; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to(r), to(g), to(b)]
}

/// Draws `panels` stacked top to bottom as one image in `format`.
pub fn render(panels: &[Panel], opts: &Options, format: Format) -> Result<Vec<u8>, PlotError> {
    match format {
        Format::Png => render_png(panels, opts),
        Format::Svg => render_svg(panels, opts).map(String::into_bytes),
    }
}

/// Draws `panels` stacked top to bottom as a PNG of `opts.width` by
/// `opts.panel_height * panels.len()` pixels. Points that cannot be drawn are skipped (see
/// [`Curve::points`]); a panel with nothing to draw says "no data".
pub fn render_png(panels: &[Panel], opts: &Options) -> Result<Vec<u8>, PlotError> {
    let (width, height) = opts.image_size(panels.len())?;
    let face = Face::load()?;
    let pixmap = Pixmap::new(width, height).ok_or(PlotError::Size {
        width: opts.width,
        height: opts.panel_height,
    })?;
    let mut canvas = Raster {
        pixmap,
        face: &face,
    };
    draw(&mut canvas, &face, panels, opts);
    // The background is opaque, so premultiplied RGBA is plain RGBA: keep RGB.
    let rgb: Vec<u8> = canvas
        .pixmap
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    image::ImageEncoder::write_image(encoder, &rgb, width, height, image::ExtendedColorType::Rgb8)?;
    Ok(png)
}

/// Draws `panels` stacked top to bottom as an SVG document of the same size as
/// [`render_png`] would make, with the same layout.
pub fn render_svg(panels: &[Panel], opts: &Options) -> Result<String, PlotError> {
    let (width, height) = opts.image_size(panels.len())?;
    let face = Face::load()?;
    let mut canvas = Svg { out: String::new() };
    let _ = writeln!(
        canvas.out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\">"
    );
    draw(&mut canvas, &face, panels, opts);
    canvas.out.push_str("</svg>\n");
    Ok(canvas.out)
}

// ---------------------------------------------------------------------------------------
// Drawing surfaces

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

impl Rgb {
    const WHITE: Rgb = Rgb(255, 255, 255);
    const TEXT: Rgb = Rgb(0x22, 0x22, 0x22);
    const MUTED: Rgb = Rgb(0x66, 0x66, 0x66);
    const AXIS: Rgb = Rgb(0x80, 0x80, 0x80);
    const GRID: Rgb = Rgb(0xe4, 0xe4, 0xe4);

    fn of(index: usize) -> Rgb {
        let [r, g, b] = color(index);
        Rgb(r, g, b)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone, Copy)]
struct TextStyle {
    size: f32,
    color: Rgb,
    anchor: Anchor,
    /// Rotated a quarter turn anticlockwise (reading upwards), for the y axis label.
    vertical: bool,
}

/// What the layout draws with; one implementation per output format.
trait Canvas {
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb);
    fn polyline(&mut self, points: &[(f32, f32)], color: Rgb, alpha: f32, width: f32);
    fn dot(&mut self, x: f32, y: f32, radius: f32, color: Rgb, alpha: f32);
    /// `(x, y)` is the start, middle or end of the baseline, by `style.anchor`.
    fn text(&mut self, text: &str, x: f32, y: f32, style: TextStyle);
}

/// The bundled font, for measuring and (in PNG) drawing text.
struct Face {
    font: FontRef<'static>,
    /// Pixels per font unit at a size of 1 px per em.
    per_unit: f32,
}

impl Face {
    fn load() -> Result<Face, PlotError> {
        let font = FontRef::try_from_slice(FONT).map_err(|_| PlotError::Font)?;
        let units = font.units_per_em().ok_or(PlotError::Font)?;
        Ok(Face {
            font,
            per_unit: 1.0 / units,
        })
    }

    /// Glyphs of `text` with their pen positions, for an em size of `size` px.
    fn layout(&self, text: &str, size: f32) -> (Vec<(GlyphId, f32)>, f32) {
        let k = size * self.per_unit;
        let mut pen = 0.0;
        let mut prev: Option<GlyphId> = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = self.font.glyph_id(c);
            if let Some(p) = prev {
                pen += self.font.kern_unscaled(p, id) * k;
            }
            glyphs.push((id, pen));
            pen += self.font.h_advance_unscaled(id) * k;
            prev = Some(id);
        }
        (glyphs, pen)
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        self.layout(text, size).1
    }

    /// `text`, or its start and end joined by `…`, whichever fits in `max` px.
    fn fit(&self, text: &str, size: f32, max: f32) -> String {
        if self.width(text, size) <= max {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        // Keep as many characters as fit, a little more of the start than of the end.
        let mut keep = chars.len();
        while keep > 0 {
            keep -= 1;
            let head = keep.div_ceil(2);
            let tail = keep - head;
            let candidate: String = chars[..head]
                .iter()
                .chain(std::iter::once(&'…'))
                .chain(&chars[chars.len() - tail..])
                .collect();
            if self.width(&candidate, size) <= max {
                return candidate;
            }
        }
        "…".to_string()
    }
}

struct Raster<'f> {
    pixmap: Pixmap,
    face: &'f Face,
}

fn paint(color: Rgb, alpha: f32) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(
        color.0,
        color.1,
        color.2,
        (alpha.clamp(0.0, 1.0) * 255.0).round() as u8,
    );
    paint.anti_alias = true;
    paint
}

impl Canvas for Raster<'_> {
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            let mut p = paint(color, 1.0);
            p.anti_alias = false;
            self.pixmap.fill_rect(rect, &p, Transform::identity(), None);
        }
    }

    fn polyline(&mut self, points: &[(f32, f32)], color: Rgb, alpha: f32, width: f32) {
        let mut pb = PathBuilder::new();
        let mut iter = points.iter();
        let Some(&(x, y)) = iter.next() else {
            return;
        };
        pb.move_to(x, y);
        for &(x, y) in iter {
            pb.line_to(x, y);
        }
        let Some(path) = pb.finish() else {
            return;
        };
        let stroke = Stroke {
            width,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        self.pixmap.stroke_path(
            &path,
            &paint(color, alpha),
            &stroke,
            Transform::identity(),
            None,
        );
    }

    fn dot(&mut self, x: f32, y: f32, radius: f32, color: Rgb, alpha: f32) {
        if let Some(path) = PathBuilder::from_circle(x, y, radius) {
            self.pixmap.fill_path(
                &path,
                &paint(color, alpha),
                FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }

    fn text(&mut self, text: &str, x: f32, y: f32, style: TextStyle) {
        let face = self.face;
        let (glyphs, width) = face.layout(text, style.size);
        let start = match style.anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -width / 2.0,
            Anchor::End => -width,
        };
        let k = style.size * face.per_unit;
        // Glyph outlines in text space: x along the baseline, y down, origin at the anchor.
        let mut pb = PathBuilder::new();
        for (id, pen) in glyphs {
            let Some(outline) = face.font.outline(id) else {
                continue;
            };
            let at = |p: ab_glyph::Point| (start + pen + p.x * k, -p.y * k);
            let mut end: Option<ab_glyph::Point> = None;
            for curve in &outline.curves {
                let (p0, last) = match *curve {
                    OutlineCurve::Line(p0, p1) => (p0, p1),
                    OutlineCurve::Quad(p0, _, p2) => (p0, p2),
                    OutlineCurve::Cubic(p0, _, _, p3) => (p0, p3),
                };
                if end != Some(p0) {
                    if end.is_some() {
                        pb.close();
                    }
                    let (x0, y0) = at(p0);
                    pb.move_to(x0, y0);
                }
                match *curve {
                    OutlineCurve::Line(_, p1) => {
                        let (x1, y1) = at(p1);
                        pb.line_to(x1, y1);
                    }
                    OutlineCurve::Quad(_, c, p2) => {
                        let ((cx, cy), (x2, y2)) = (at(c), at(p2));
                        pb.quad_to(cx, cy, x2, y2);
                    }
                    OutlineCurve::Cubic(_, c1, c2, p3) => {
                        let ((ax, ay), (bx, by), (x3, y3)) = (at(c1), at(c2), at(p3));
                        pb.cubic_to(ax, ay, bx, by, x3, y3);
                    }
                }
                end = Some(last);
            }
            if end.is_some() {
                pb.close();
            }
        }
        let Some(path) = pb.finish() else {
            return;
        };
        let transform = if style.vertical {
            Transform::from_row(0.0, -1.0, 1.0, 0.0, x, y)
        } else {
            Transform::from_translate(x, y)
        };
        self.pixmap.fill_path(
            &path,
            &paint(style.color, 1.0),
            FillRule::Winding,
            transform,
            None,
        );
    }
}

struct Svg {
    out: String,
}

impl Rgb {
    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// `text` with XML's special characters escaped and characters XML cannot hold replaced.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

impl Canvas for Svg {
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"/>",
            color.hex()
        );
    }

    fn polyline(&mut self, points: &[(f32, f32)], color: Rgb, alpha: f32, width: f32) {
        if points.is_empty() {
            return;
        }
        let _ = write!(
            self.out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-opacity=\"{alpha}\" \
             stroke-width=\"{width:.2}\" stroke-linejoin=\"round\" stroke-linecap=\"round\" \
             points=\"",
            color.hex()
        );
        for (i, (x, y)) in points.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(self.out, "{sep}{x:.1},{y:.1}");
        }
        self.out.push_str("\"/>\n");
    }

    fn dot(&mut self, x: f32, y: f32, radius: f32, color: Rgb, alpha: f32) {
        let _ = writeln!(
            self.out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{radius:.1}\" fill=\"{}\" \
             fill-opacity=\"{alpha}\"/>",
            color.hex()
        );
    }

    fn text(&mut self, text: &str, x: f32, y: f32, style: TextStyle) {
        let anchor = match style.anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let rotate = if style.vertical {
            format!(" transform=\"rotate(-90 {x:.1} {y:.1})\"")
        } else {
            String::new()
        };
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{:.1}\" fill=\"{}\" \
             text-anchor=\"{anchor}\"{rotate}>{}</text>",
            style.size,
            style.color.hex(),
            xml_escape(text)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Layout

/// A curve ready to draw: drawable points and their smoothing, in data coordinates (y as
/// log10 on a log axis).
struct Prepared {
    label: String,
    color: Rgb,
    raw: Vec<(f64, f64)>,
    smoothed: Option<Vec<(f64, f64)>>,
}

fn prepare(panel: &Panel, smoothing: f64) -> Vec<Prepared> {
    panel
        .curves
        .iter()
        .map(|c| {
            let raw: Vec<(f64, f64)> = c
                .points
                .iter()
                .filter(|&&(x, y)| drawable(x, y, panel.log_y))
                // Spans of the clamped values still fit in an f64.
                .map(|&(x, y)| (x.clamp(-LIMIT, LIMIT), y.clamp(-LIMIT, LIMIT)))
                .collect();
            let smoothed = (smoothing > 0.0).then(|| {
                let ys: Vec<f64> = raw.iter().map(|p| p.1).collect();
                raw.iter()
                    .zip(smooth(&ys, smoothing))
                    .map(|(&(x, _), y)| (x, y))
                    .collect::<Vec<_>>()
            });
            let to_axis = |v: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
                if panel.log_y {
                    v.into_iter().map(|(x, y)| (x, y.log10())).collect()
                } else {
                    v
                }
            };
            Prepared {
                label: c.label.clone(),
                color: Rgb::of(c.color),
                raw: to_axis(raw),
                smoothed: smoothed.map(to_axis),
            }
        })
        .collect()
}

/// `[lo, hi]` of the values, widened when empty or a single value.
fn extent(values: impl Iterator<Item = f64>, pad: f64, unit: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return (0.0, unit);
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()) {
        let half = if lo == 0.0 {
            unit / 2.0
        } else {
            lo.abs() * 0.1
        };
        return (lo - half, hi + half);
    }
    let margin = (hi - lo) * pad;
    (lo - margin, hi + margin)
}

fn draw(canvas: &mut dyn Canvas, face: &Face, panels: &[Panel], opts: &Options) {
    let (w, h) = (opts.width as f32, opts.panel_height as f32);
    canvas.rect(0.0, 0.0, w, h * panels.len() as f32, Rgb::WHITE);
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(canvas, face, panel, opts, i as f32 * h);
    }
}

fn draw_panel(canvas: &mut dyn Canvas, face: &Face, panel: &Panel, opts: &Options, top: f32) {
    let (w, h) = (opts.width as f32, opts.panel_height as f32);
    // Text and strokes grow with the panel, within reason.
    let s = (w / DEFAULT_WIDTH as f32)
        .min(h / DEFAULT_PANEL_HEIGHT as f32)
        .clamp(0.75, 3.0);
    let pad = 14.0 * s;
    let title_size = 18.0 * s;
    let label_size = 14.0 * s;
    let tick_size = 12.5 * s;
    let note_size = 12.0 * s;
    let curves = prepare(panel, opts.smoothing);

    // Title, and the smoothing weight at the right.
    let title_base = top + pad + title_size * 0.8;
    let note = if opts.smoothing > 0.0 {
        format!("smoothing {}", opts.smoothing)
    } else {
        "no smoothing".to_string()
    };
    let note_w = face.width(&note, note_size);
    let title = face.fit(&panel.title, title_size, w - 2.0 * pad - note_w - 20.0 * s);
    canvas.text(
        &title,
        pad,
        title_base,
        text(title_size, Rgb::TEXT, Anchor::Start),
    );
    canvas.text(
        &note,
        w - pad,
        title_base,
        text(note_size, Rgb::MUTED, Anchor::End),
    );

    let plot_top = title_base + 18.0 * s;
    let x_label_base = top + h - pad;
    let x_tick_base = x_label_base - label_size - 10.0 * s;
    let plot_bottom = x_tick_base - tick_size - 8.0 * s;
    let plot_h = (plot_bottom - plot_top).max(1.0);

    // Legend at the right, as wide as its names up to a quarter of the panel.
    let legend = Legend::layout(face, &curves, s, w * 0.24, plot_top, top + h - pad);
    let plot_right = w
        - pad
        - if legend.width > 0.0 {
            legend.width + 18.0 * s
        } else {
            0.0
        };

    // Y axis: ticks, then the space their labels take.
    let (y0, y1) = extent(
        curves.iter().flat_map(|c| c.raw.iter().map(|p| p.1)),
        0.05,
        1.0,
    );
    let y_target = ((plot_h / (55.0 * s)) as usize).clamp(2, 10);
    let y_ticks = if panel.log_y {
        log_ticks(y0, y1, y_target)
    } else {
        linear_ticks(y0, y1, y_target)
    };
    let y_tick_w = y_ticks
        .iter()
        .map(|t| face.width(&t.label, tick_size))
        .fold(0.0, f32::max);
    let y_label_x = pad + label_size * 0.8;
    let plot_left = y_label_x + 10.0 * s + y_tick_w + 8.0 * s;
    let plot_w = (plot_right - plot_left).max(1.0);

    // X axis: as many ticks as fit their labels.
    let (x0, x1) = extent(
        curves.iter().flat_map(|c| c.raw.iter().map(|p| p.0)),
        0.0,
        1.0,
    );
    let mut x_target = ((plot_w / (100.0 * s)) as usize).clamp(2, 12);
    let x_ticks = loop {
        let ticks = match panel.x_axis {
            XAxis::Linear => linear_ticks(x0, x1, x_target),
            XAxis::UnixTime => time_ticks(x0, x1, x_target),
        };
        let widest = ticks
            .iter()
            .map(|t| face.width(&t.label, tick_size))
            .fold(0.0, f32::max);
        if x_target <= 2 || (widest + 16.0 * s) * ticks.len() as f32 <= plot_w {
            break ticks;
        }
        x_target -= 1;
    };

    let map = Map {
        x0,
        x1,
        y0,
        y1,
        left: plot_left,
        top: plot_top,
        width: plot_w,
        height: plot_h,
    };

    // Grid and tick labels.
    let tick_style = text(tick_size, Rgb::TEXT, Anchor::End);
    for t in &y_ticks {
        let y = map.y(t.pos).round() + 0.5;
        canvas.rect(plot_left, y - 0.5, plot_w, 1.0, Rgb::GRID);
        canvas.rect(plot_left - 5.0 * s, y - 0.5, 5.0 * s, 1.0, Rgb::AXIS);
        canvas.text(
            &t.label,
            plot_left - 8.0 * s,
            y + tick_size * 0.36,
            tick_style,
        );
    }
    for t in &x_ticks {
        let x = map.x(t.pos).round() + 0.5;
        canvas.rect(x - 0.5, plot_top, 1.0, plot_h, Rgb::GRID);
        canvas.rect(x - 0.5, plot_bottom, 1.0, 5.0 * s, Rgb::AXIS);
        canvas.text(
            &t.label,
            x,
            x_tick_base,
            text(tick_size, Rgb::TEXT, Anchor::Middle),
        );
    }

    // Curves: all raw curves (faint when smoothed) first, then the smoothed ones on top.
    let raw_alpha = if opts.smoothing > 0.0 { RAW_ALPHA } else { 1.0 };
    let raw_width = if opts.smoothing > 0.0 { 1.3 } else { 1.8 } * s;
    for c in &curves {
        draw_curve(canvas, &map, &c.raw, c.color, raw_alpha, raw_width, s);
    }
    for c in &curves {
        if let Some(smoothed) = &c.smoothed {
            draw_curve(canvas, &map, smoothed, c.color, 1.0, 2.0 * s, s);
        }
    }
    if curves.iter().all(|c| c.raw.is_empty()) {
        canvas.text(
            "no data",
            plot_left + plot_w / 2.0,
            plot_top + plot_h / 2.0,
            text(label_size, Rgb::MUTED, Anchor::Middle),
        );
    }

    // Axes over the grid, then their labels.
    canvas.rect(plot_left - 0.5, plot_top, 1.0, plot_h + 0.5, Rgb::AXIS);
    canvas.rect(
        plot_left - 0.5,
        plot_bottom - 0.5,
        plot_w + 0.5,
        1.0,
        Rgb::AXIS,
    );
    let x_label = face.fit(&panel.x_label, label_size, plot_w);
    canvas.text(
        &x_label,
        plot_left + plot_w / 2.0,
        x_label_base,
        text(label_size, Rgb::TEXT, Anchor::Middle),
    );
    let y_label = face.fit(&panel.y_label, label_size, plot_h);
    canvas.text(
        &y_label,
        y_label_x,
        plot_top + plot_h / 2.0,
        TextStyle {
            vertical: true,
            ..text(label_size, Rgb::TEXT, Anchor::Middle)
        },
    );

    legend.draw(canvas, &curves, w - pad - legend.width);
}

fn text(size: f32, color: Rgb, anchor: Anchor) -> TextStyle {
    TextStyle {
        size,
        color,
        anchor,
        vertical: false,
    }
}

/// Data to pixel coordinates of one panel's plot area.
struct Map {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    left: f32,
    top: f32,
    width: f32,
    height: f32,
}

impl Map {
    fn x(&self, x: f64) -> f32 {
        self.left + ((x - self.x0) / (self.x1 - self.x0)) as f32 * self.width
    }

    fn y(&self, y: f64) -> f32 {
        self.top + self.height - ((y - self.y0) / (self.y1 - self.y0)) as f32 * self.height
    }
}

fn draw_curve(
    canvas: &mut dyn Canvas,
    map: &Map,
    points: &[(f64, f64)],
    color: Rgb,
    alpha: f32,
    width: f32,
    s: f32,
) {
    match points {
        [] => {}
        [(x, y)] => canvas.dot(map.x(*x), map.y(*y), 2.5 * s, color, alpha.max(0.6)),
        _ => {
            let screen: Vec<(f32, f32)> =
                points.iter().map(|&(x, y)| (map.x(x), map.y(y))).collect();
            canvas.polyline(&thin(&screen), color, alpha, width);
        }
    }
}

/// Fewer points that draw the same line: runs of consecutive points in one pixel column
/// become their first, lowest, highest and last point. Short lines are returned as they are.
fn thin(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    if points.len() < 4096 {
        return points.to_vec();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let column = points[i].0.floor();
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < points.len() && points[j].0.floor() == column {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let mut keep = [i, lo, hi, j - 1];
        keep.sort_unstable();
        let mut prev = usize::MAX;
        for k in keep {
            if k != prev {
                out.push(points[k]);
                prev = k;
            }
        }
        i = j;
    }
    out
}

/// The legend's rows: which names fit, at what size.
struct Legend {
    width: f32,
    size: f32,
    row: f32,
    top: f32,
    swatch: f32,
    /// Labels shown, already cut to fit.
    labels: Vec<String>,
    /// Curves not listed ("+N more").
    hidden: usize,
}

impl Legend {
    fn layout(
        face: &Face,
        curves: &[Prepared],
        s: f32,
        max_width: f32,
        top: f32,
        bottom: f32,
    ) -> Legend {
        let swatch = 26.0 * s;
        let available = bottom - top;
        // Normal size, or a smaller one if that lets every name be listed.
        let mut size = 13.0 * s;
        let mut row = size * 1.5;
        let fits = |row: f32| (available / row).floor() as usize;
        if curves.len() > fits(row) {
            let small = 11.0 * s;
            if curves.len() <= fits(small * 1.4) || fits(row) < 3 {
                size = small;
                row = small * 1.4;
            }
        }
        let rows = fits(row).max(1);
        let (shown, hidden) = if curves.len() <= rows {
            (curves.len(), 0)
        } else {
            (rows - 1, curves.len() - (rows - 1))
        };
        let text_max = (max_width - swatch).max(20.0 * s);
        let labels: Vec<String> = curves[..shown]
            .iter()
            .map(|c| face.fit(&c.label, size, text_max))
            .collect();
        let more = more_label(hidden);
        let text_w = labels
            .iter()
            .map(|l| face.width(l, size))
            .chain((hidden > 0).then(|| face.width(&more, size)))
            .fold(0.0, f32::max);
        let width = if curves.is_empty() {
            0.0
        } else {
            swatch + text_w
        };
        Legend {
            width,
            size,
            row,
            top,
            swatch,
            labels,
            hidden,
        }
    }

    fn draw(&self, canvas: &mut dyn Canvas, curves: &[Prepared], left: f32) {
        let style = text(self.size, Rgb::TEXT, Anchor::Start);
        for (i, (label, curve)) in self.labels.iter().zip(curves).enumerate() {
            let mid = self.top + self.row * (i as f32 + 0.5);
            let x = left + self.swatch * 0.15;
            canvas.polyline(
                &[(x, mid), (left + self.swatch * 0.75, mid)],
                curve.color,
                1.0,
                self.size * 0.25,
            );
            canvas.text(label, left + self.swatch, mid + self.size * 0.36, style);
        }
        if self.hidden > 0 {
            let mid = self.top + self.row * (self.labels.len() as f32 + 0.5);
            canvas.text(
                &more_label(self.hidden),
                left + self.swatch,
                mid + self.size * 0.36,
                TextStyle {
                    color: Rgb::MUTED,
                    ..style
                },
            );
        }
    }
}

fn more_label(hidden: usize) -> String {
    format!("+{hidden} more")
}

// ---------------------------------------------------------------------------------------
// Ticks

/// A tick: its position in axis coordinates (log10 of the value on a log axis) and label.
#[derive(Debug, Clone, PartialEq)]
struct Tick {
    pos: f64,
    label: String,
}

/// A round step near `span / target`: 1, 2 or 5 times a power of ten.
fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// The multiples of `step` in `[lo, hi]`.
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !step.is_finite() || step <= 0.0 || !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    if last - first > 1000.0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut k = first;
    while k <= last {
        let v = k * step;
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        k += 1.0;
    }
    out
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let step = nice_step(hi - lo, target);
    let values = multiples(lo, hi, step);
    let labels = label_linear(&values, step);
    values
        .into_iter()
        .zip(labels)
        .map(|(pos, label)| Tick { pos, label })
        .collect()
}

/// Decimals needed to write multiples of `step` exactly (up to 12).
fn decimals(step: f64) -> usize {
    (0..=12)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            scaled.round() != 0.0 && (scaled - scaled.round()).abs() < 1e-6 * scaled.abs()
        })
        .unwrap_or(12)
}

/// Labels for evenly spaced ticks: `0`, `0.25`, `500`, `1.5k`, `2M`; `5e-4` for an axis
/// of tiny or huge values. Each label has the digits the step needs, trailing zeros dropped.
fn label_linear(values: &[f64], step: f64) -> Vec<String> {
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    values
        .iter()
        .map(|&v| {
            if v == 0.0 {
                return "0".to_string();
            }
            if !(1e-3..1e15).contains(&max) {
                return scientific(v);
            }
            let (unit, suffix) = SUFFIXES
                .into_iter()
                .find(|(unit, _)| v.abs() >= unit * (1.0 - 1e-9))
                .unwrap_or((1.0, ""));
            trim_zeros(format!("{:.*}", decimals(step / unit), v / unit)) + suffix
        })
        .collect()
}

/// Thousands and their suffixes, largest first.
const SUFFIXES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `v` as `m` or `me-k` with up to four significant digits: `5e-4`, `1.25e-7`.
fn scientific(v: f64) -> String {
    let s = format!("{v:.3e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let mantissa = if mantissa.contains('.') {
                mantissa.trim_end_matches('0').trim_end_matches('.')
            } else {
                mantissa
            };
            format!("{mantissa}e{exp}")
        }
        None => s,
    }
}

/// One value written compactly on its own: `0.002`, `5`, `20k`, `1.5M`, `1e-5`.
fn compact(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        return "0".to_string();
    }
    if !(1e-3..1e15).contains(&a) {
        return scientific(v);
    }
    let (scaled, suffix) = SUFFIXES
        .into_iter()
        .find(|(unit, _)| a >= *unit * (1.0 - 1e-9))
        .map_or((v, ""), |(unit, suffix)| (v / unit, suffix));
    // Three significant digits, trailing zeros dropped.
    let digits = (3 - 1 - scaled.abs().log10().floor() as i32).max(0) as usize;
    trim_zeros(format!("{scaled:.digits$}")) + suffix
}

/// Ticks for a log axis spanning `10^lo` to `10^hi`, positions in log10.
fn log_ticks(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    let span = hi - lo;
    if span < 0.6 {
        // Less than a few multiples of anything: ticks evenly spaced in value.
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        let step = nice_step(b - a, target.min(5));
        let values: Vec<f64> = multiples(a, b, step)
            .into_iter()
            .filter(|&v| v > 0.0)
            .collect();
        let labels = label_linear(&values, step);
        return values
            .into_iter()
            .zip(labels)
            .map(|(v, label)| Tick {
                pos: v.log10(),
                label,
            })
            .collect();
    }
    let mantissas: &[f64] = if span * 3.0 <= target as f64 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let stride = (span / target.max(1) as f64).ceil().max(1.0);
    let mut ticks = Vec::new();
    let mut e = (lo.floor() / stride).floor() * stride;
    while e <= hi.ceil() {
        for &m in mantissas {
            let v = m * 10f64.powf(e);
            let pos = v.log10();
            if pos >= lo - 1e-9 && pos <= hi + 1e-9 {
                ticks.push(Tick {
                    pos,
                    label: compact(v),
                });
            }
        }
        e += stride;
    }
    ticks
}

/// Ticks for Unix times in `[lo, hi]` at round UTC times, labelled by time of day, date, or
/// both as the span needs.
fn time_ticks(lo: f64, hi: f64, target: usize) -> Vec<Tick> {
    const MINUTE: f64 = 60.0;
    const HOUR: f64 = 3600.0;
    const DAY: f64 = 86400.0;
    const STEPS: [f64; 21] = [
        1.0,
        2.0,
        5.0,
        10.0,
        15.0,
        30.0,
        MINUTE,
        2.0 * MINUTE,
        5.0 * MINUTE,
        10.0 * MINUTE,
        15.0 * MINUTE,
        30.0 * MINUTE,
        HOUR,
        2.0 * HOUR,
        3.0 * HOUR,
        6.0 * HOUR,
        12.0 * HOUR,
        DAY,
        2.0 * DAY,
        7.0 * DAY,
        14.0 * DAY,
    ];
    let raw = (hi - lo) / target.max(1) as f64;
    let step = if raw < 1.0 {
        // Under a second between ticks: tenths, hundredths, ... of a second.
        nice_step(hi - lo, target)
    } else {
        STEPS
            .into_iter()
            .find(|&s| s >= raw)
            .unwrap_or_else(|| nice_step((hi - lo) / DAY, target) * DAY)
    };
    let fraction_digits = if step < 1.0 { decimals(step) } else { 0 };
    let multi_day = (hi / DAY).floor() != (lo / DAY).floor();
    multiples(lo, hi, step)
        .into_iter()
        .map(|t| {
            let scale = 10f64.powi(fraction_digits as i32);
            // Whole seconds, and the fraction in units of the last digit shown.
            let ticks = (t * scale).round();
            let secs = (ticks / scale).floor() as i64;
            let frac = (ticks - secs as f64 * scale) as i64;
            let days = secs.div_euclid(86400);
            let of_day = secs.rem_euclid(86400);
            let (y, m, d) = civil_from_days(days);
            let (hh, mm, ss) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
            let label = if step >= DAY {
                format!("{y:04}-{m:02}-{d:02}")
            } else if fraction_digits > 0 {
                format!("{hh:02}:{mm:02}:{ss:02}.{frac:0fraction_digits$}")
            } else if step < MINUTE {
                format!("{hh:02}:{mm:02}:{ss:02}")
            } else if multi_day && (of_day == 0 || step >= 6.0 * HOUR) {
                format!("{m:02}-{d:02} {hh:02}:{mm:02}")
            } else {
                format!("{hh:02}:{mm:02}")
            };
            Tick { pos: t, label }
        })
        .collect()
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn linear_labels_are_compact_and_consistent() {
        assert_eq!(
            labels(&linear_ticks(0.0, 3000.0, 6)),
            ["0", "500", "1k", "1.5k", "2k", "2.5k", "3k"]
        );
        assert_eq!(
            labels(&linear_ticks(0.0, 1.0, 5)),
            ["0", "0.2", "0.4", "0.6", "0.8", "1"]
        );
        assert_eq!(labels(&linear_ticks(-1.0, 1.0, 2)), ["-1", "0", "1"]);
        assert_eq!(labels(&linear_ticks(0.0, 2e6, 2)), ["0", "1M", "2M"]);
        assert_eq!(
            labels(&linear_ticks(0.0, 3e-4, 3)),
            ["0", "1e-4", "2e-4", "3e-4"]
        );
    }

    #[test]
    fn log_ticks_at_decades_with_compact_labels() {
        assert_eq!(
            labels(&log_ticks(-4.0, 3.0, 8)),
            ["1e-4", "0.001", "0.01", "0.1", "1", "10", "100", "1k"]
        );
        assert_eq!(labels(&log_ticks(0.0, 1.0, 8)), ["1", "2", "5", "10"]);
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(0.002), "0.002");
        assert_eq!(compact(20_000.0), "20k");
        assert_eq!(compact(1_500_000.0), "1.5M");
        assert_eq!(compact(1e-5), "1e-5");
        assert_eq!(compact(0.123_456), "0.123");
    }

    #[test]
    fn dates_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2000-03-01 is day 11017 (a leap year's February has 29 days).
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
    }

    #[test]
    fn time_ticks_at_round_times() {
        // 2026-12-03 19:00 UTC, over two hours.
        let t0 = 1_796_324_400.0;
        let ticks = time_ticks(t0, t0 + 7200.0, 4);
        assert_eq!(
            labels(&ticks),
            ["19:00", "19:30", "20:00", "20:30", "21:00"]
        );
        let days = time_ticks(t0, t0 + 10.0 * 86400.0, 5);
        assert_eq!(labels(&days)[0], "2026-12-05");
        // Under a second: fractions of a second.
        let short = time_ticks(t0 + 12.03, t0 + 12.74, 6);
        assert_eq!(labels(&short), ["19:00:12.2", "19:00:12.4", "19:00:12.6"]);
        let tiny = time_ticks(t0 + 0.5, t0 + 0.53, 3);
        assert_eq!(
            labels(&tiny),
            ["19:00:00.50", "19:00:00.51", "19:00:00.52", "19:00:00.53"]
        );
    }

    #[test]
    fn ticks_close_together_far_from_zero_are_told_apart() {
        let ticks = linear_ticks(1.0, 1.0 + 5e-7, 5);
        let l = labels(&ticks);
        assert!(l.len() >= 3, "{l:?}");
        let distinct: std::collections::BTreeSet<&&str> = l.iter().collect();
        assert_eq!(distinct.len(), l.len(), "{l:?}");
        assert_eq!(l[0], "1");
        assert_eq!(l[1], "1.0000001");
        let big = linear_ticks(1e12, 1e12 + 4000.0, 4);
        let l = labels(&big);
        assert_eq!(
            l,
            [
                "1T",
                "1.000000001T",
                "1.000000002T",
                "1.000000003T",
                "1.000000004T"
            ]
        );
    }

    #[test]
    fn long_names_are_cut_in_the_middle() {
        let face = Face::load().unwrap();
        let name = "sweep/2026-12-03/lr=0.001,batch=64,seed=1";
        let cut = face.fit(name, 13.0, 150.0);
        assert!(cut.contains('…'), "{cut}");
        assert!(cut.starts_with("sweep/") && cut.ends_with("=1"), "{cut}");
        assert!(face.width(&cut, 13.0) <= 150.0);
        assert_eq!(face.fit("short", 13.0, 150.0), "short");
    }

    #[test]
    fn thinning_keeps_extremes_of_each_column() {
        let points: Vec<(f32, f32)> = (0..10_000)
            .map(|i| (i as f32 / 100.0, if i % 100 == 50 { 9.0 } else { 1.0 }))
            .collect();
        let thin = thin(&points);
        assert!(thin.len() <= 400, "{}", thin.len());
        assert_eq!(thin.iter().filter(|p| p.1 == 9.0).count(), 100);
        assert_eq!(thin.first(), points.first());
        assert_eq!(thin.last(), points.last());
    }

    #[test]
    fn xml_escaping() {
        assert_eq!(
            xml_escape("a<b & 'c'\u{1}"),
            "a&lt;b &amp; &apos;c&apos;\u{fffd}"
        );
    }
}
