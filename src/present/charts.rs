//! Charts: line, bar and funnel plots drawn with plotters, as SVG (inline
//! in pages and downloadable) and PNG.
//!
//! Text is measured and drawn with the bundled Noto Sans, which has every
//! Vietnamese glyph: plotters' own fallback font would lay out "Bắc Ninh"
//! with the wrong widths. The browser gets the same font by `@font-face`,
//! so the SVG's text is drawn with the metrics it was laid out with.

use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

pub const FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Regular.ttf");
pub const FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Bold.ttf");
/// The family name charts ask for and the pages' `@font-face` declares.
pub const FONT_FAMILY: &str = "Noto Sans";

static FONTS: Once = Once::new();

/// Registers the bundled font with plotters (once per process).
pub fn init_fonts() {
    FONTS.call_once(|| {
        for family in [FONT_FAMILY, "sans-serif"] {
            for (style, bytes) in [
                (FontStyle::Normal, FONT_REGULAR),
                (FontStyle::Bold, FONT_BOLD),
            ] {
                if plotters::style::register_font(family, style, bytes).is_err() {
                    panic!("the bundled font {family} does not parse");
                }
            }
        }
    });
}

/// Series colours, distinguishable in print and for common colour-vision
/// deficiencies (Okabe–Ito).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];
const FLAG: RGBColor = RGBColor(200, 30, 30);
const GRID: RGBColor = RGBColor(225, 225, 225);

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone)]
pub struct FunnelPoint {
    pub label: String,
    pub n: f64,
    pub rate: f64,
    pub highlight: bool,
}

/// Legend texts of a funnel plot: national rate, 95 % and 99.8 % limits.
#[derive(Debug, Clone)]
pub struct FunnelLabels {
    pub mean: String,
    pub inner: String,
    pub outer: String,
    /// Leads the names of outliers the plot had no room to label.
    pub unlabelled: String,
}

#[derive(Debug, Clone)]
pub enum Chart {
    /// Values over categories (periods), one line per series.
    Line {
        title: String,
        categories: Vec<String>,
        y_label: String,
        series: Vec<Series>,
        /// Vertical marks (an inspection, say) at a position on the category
        /// axis (category i is at i; i − 0.5 is where its period starts).
        markers: Vec<(f64, String)>,
    },
    /// One bar per category.
    Bar {
        title: String,
        categories: Vec<String>,
        y_label: String,
        values: Vec<f64>,
    },
    /// Rates against their denominators with control limits around the
    /// national rate (METHODOLOGY section 8).
    Funnel {
        title: String,
        x_label: String,
        y_label: String,
        points: Vec<FunnelPoint>,
        mean: f64,
        labels: FunnelLabels,
    },
}

pub const WIDTH: u32 = 760;
pub const HEIGHT: u32 = 380;

/// Control limit p̄ ± z·√(p̄(1−p̄)/n), clipped to [0, 1].
pub fn control_limit(mean: f64, n: f64, z: f64) -> f64 {
    if n <= 0.0 {
        return if z < 0.0 { 0.0 } else { 1.0 };
    }
    (mean + z * (mean * (1.0 - mean) / n).sqrt()).clamp(0.0, 1.0)
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> Result<String> {
    init_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart)?;
        root.present()
            .map_err(|e| anyhow!("drawing the chart: {e}"))?;
    }
    Ok(out)
}

/// The chart as SVG for a page: drawn to its `viewBox` only, so that it
/// takes the width of its container (phone or desktop) and keeps its
/// proportions; named for screen readers by its title.
pub fn svg_inline(chart: &Chart) -> Result<String> {
    let drawn = svg(chart)?;
    let sized = format!(r#"<svg width="{WIDTH}" height="{HEIGHT}" "#);
    let Some(rest) = drawn.strip_prefix(&sized) else {
        return Ok(drawn);
    };
    let title = match chart {
        Chart::Line { title, .. } | Chart::Bar { title, .. } | Chart::Funnel { title, .. } => title,
    };
    Ok(format!(
        r#"<svg class="plot" role="img" aria-label="{}" {rest}"#,
        xml_escape(title)
    ))
}

/// The chart as a PNG image: the SVG above, rasterized by resvg, whose
/// text shaping (rustybuzz, over the same bundled font) places Vietnamese
/// diacritics as the browser does. Plotters' own bitmap text measured each
/// stacked-diacritic letter by its ink and left gaps after "ể" or "ễ".
pub fn png(chart: &Chart) -> Result<Vec<u8>> {
    let svg = svg(chart)?;
    let opt = raster_options();
    let tree = resvg::usvg::Tree::from_str(&svg, opt)
        .map_err(|e| anyhow!("reading the chart's SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow!("a chart of zero size"))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| anyhow!("encoding the PNG: {e}"))
}

/// resvg's options with only the bundled fonts (no system fonts: the
/// picture is the same on every machine), built once.
fn raster_options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: std::sync::OnceLock<resvg::usvg::Options<'static>> = std::sync::OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut opt = resvg::usvg::Options {
            font_family: FONT_FAMILY.to_string(),
            ..Default::default()
        };
        let db = opt.fontdb_mut();
        db.load_font_data(FONT_REGULAR.to_vec());
        db.load_font_data(FONT_BOLD.to_vec());
        db.set_sans_serif_family(FONT_FAMILY);
        opt
    })
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

/// One legend entry: the series' colour as a line (or a dot) and its name.
struct Key {
    label: String,
    color: RGBColor,
    stroke: u32,
    dot: bool,
}

impl Key {
    fn line(label: &str, color: RGBColor, stroke: u32) -> Key {
        Key {
            label: label.to_string(),
            color,
            stroke,
            dot: false,
        }
    }
}

/// Height of one legend line (px).
const LEGEND_LINE: i32 = 20;
/// Room for a key's swatch before its text (px).
const SWATCH: i32 = 24;

/// What is drawn under the plot: the keys, flowing left to right, then
/// notes (names the plot could not label), wrapped by words.
enum LegendItem {
    Key(usize),
    Note(String),
}

/// Lays the legend out in lines no wider than `width`.
fn legend_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
    notes: &[String],
    width: i32,
) -> Vec<Vec<(i32, LegendItem)>> {
    let font = (FONT_FAMILY, 13).into_font();
    let measure = |t: &str| {
        area.estimate_text_size(t, &font.clone().into())
            .map(|(w, _)| w as i32)
            .unwrap_or(7 * t.chars().count() as i32)
    };
    let mut lines: Vec<Vec<(i32, LegendItem)>> = vec![Vec::new()];
    let mut x = 0;
    for (i, k) in keys.iter().enumerate() {
        let w = SWATCH + measure(&k.label) + 18;
        if x > 0 && x + w > width {
            lines.push(Vec::new());
            x = 0;
        }
        lines
            .last_mut()
            .expect("a line")
            .push((x, LegendItem::Key(i)));
        x += w;
    }
    for note in notes {
        let mut text = String::new();
        for word in note.split(' ') {
            let candidate = if text.is_empty() {
                word.to_string()
            } else {
                format!("{text} {word}")
            };
            if !text.is_empty() && measure(&candidate) > width {
                lines.push(vec![(0, LegendItem::Note(std::mem::take(&mut text)))]);
                text = word.to_string();
            } else {
                text = candidate;
            }
        }
        lines.push(vec![(0, LegendItem::Note(text))]);
    }
    lines.retain(|l| !l.is_empty());
    lines
}

/// Height the legend needs under a plot `width` pixels wide.
fn legend_height<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
    notes: &[String],
) -> i32 {
    let width = area.dim_in_pixel().0 as i32 - 2 * LEGEND_MARGIN;
    legend_lines(area, keys, notes, width).len() as i32 * LEGEND_LINE + 6
}

const LEGEND_MARGIN: i32 = 16;

/// Draws the legend in its own band under the plot, so that it never
/// covers the data.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
    notes: &[String],
) -> Result<()> {
    let width = area.dim_in_pixel().0 as i32 - 2 * LEGEND_MARGIN;
    let font = (FONT_FAMILY, 13).into_font();
    for (row, line) in legend_lines(area, keys, notes, width).iter().enumerate() {
        let y = row as i32 * LEGEND_LINE + 2;
        for (x, item) in line {
            let x = x + LEGEND_MARGIN;
            match item {
                LegendItem::Key(i) => {
                    let k = &keys[*i];
                    let mid = y + LEGEND_LINE / 2 - 2;
                    if k.dot {
                        area.draw(&Circle::new((x + 9, mid), 4, k.color.filled()))
                            .map_err(err)?;
                    } else {
                        area.draw(&PathElement::new(
                            vec![(x, mid), (x + 18, mid)],
                            k.color.stroke_width(k.stroke),
                        ))
                        .map_err(err)?;
                    }
                    area.draw_text(&k.label, &font.color(&BLACK), (x + SWATCH, y))
                        .map_err(err)?;
                }
                LegendItem::Note(text) => {
                    area.draw_text(text, &font.color(&RGBColor(60, 60, 60)), (x, y))
                        .map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

/// Splits the area under the title into the plot and the legend band.
fn plot_and_legend<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    keys: &[Key],
    notes: &[String],
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let h = legend_height(body, keys, notes);
    let total = body.dim_in_pixel().1 as i32;
    body.split_vertically((total - h).max(total / 2))
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let title_font = (FONT_FAMILY, 18).into_font().style(FontStyle::Bold);
    let title = match chart {
        Chart::Line { title, .. } | Chart::Bar { title, .. } | Chart::Funnel { title, .. } => title,
    };
    let body = root
        .margin(6, 0, 0, 0)
        .titled(title, title_font)
        .map_err(err)?;
    match chart {
        Chart::Line {
            categories,
            y_label,
            series,
            markers,
            ..
        } => draw_line(&body, categories, y_label, series, markers),
        Chart::Bar {
            categories,
            y_label,
            values,
            ..
        } => draw_bar(&body, categories, y_label, values),
        Chart::Funnel {
            x_label,
            y_label,
            points,
            mean,
            labels,
            ..
        } => draw_funnel(&body, x_label, y_label, points, *mean, labels),
    }
}

/// The label a category axis shows at `x` (categories sit at integers).
fn category_at(categories: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        categories.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

fn draw_line<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    categories: &[String],
    y_label: &str,
    series: &[Series],
    markers: &[(f64, String)],
) -> Result<()> {
    let label_font = (FONT_FAMILY, 13).into_font();
    let keys: Vec<Key> = series
        .iter()
        .enumerate()
        .map(|(k, s)| Key::line(&s.name, PALETTE[k % PALETTE.len()], 2))
        .collect();
    let (plot, legend) = plot_and_legend(body, &keys, &[]);
    let n = categories.len().max(1);
    let values = series.iter().flat_map(|s| s.values.iter().flatten());
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let (lo, hi) = if lo > hi {
        (0.0, 100.0)
    } else {
        ((lo - 5.0).max(0.0).min(lo), (hi + 5.0).min(100.0).max(hi))
    };
    let mut c = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
        .map_err(err)?;
    c.configure_mesh()
        .light_line_style(GRID)
        .x_labels(n.min(12))
        .x_label_formatter(&|x| category_at(categories, *x))
        .y_desc(y_label)
        .label_style(label_font.clone())
        .draw()
        .map_err(err)?;
    for (k, s) in series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        // A gap in the data is a gap in the line, not a drop to 0.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => runs.last_mut().expect("a run").push((i as f64, *v)),
                None => runs.push(Vec::new()),
            }
        }
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let points = run.clone();
            c.draw_series(LineSeries::new(run, color.stroke_width(2)))
                .map_err(err)?;
            c.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(err)?;
        }
    }
    let mark = RGBColor(120, 60, 160);
    for (x, label) in markers {
        c.draw_series(LineSeries::new(
            vec![(*x, lo), (*x, hi)],
            mark.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_series(std::iter::once(Text::new(
            label.clone(),
            (*x, hi),
            label_font.clone().color(&mark),
        )))
        .map_err(err)?;
    }
    draw_legend(&legend, &keys, &[])
}

fn draw_bar<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    categories: &[String],
    y_label: &str,
    values: &[f64],
) -> Result<()> {
    let n = categories.len().max(1);
    let top = values.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1;
    let mut c = ChartBuilder::on(body)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
        .map_err(err)?;
    c.configure_mesh()
        .light_line_style(GRID)
        .x_labels(n)
        .x_label_formatter(&|x| category_at(categories, *x))
        .y_desc(y_label)
        .label_style((FONT_FAMILY, 13).into_font())
        .draw()
        .map_err(err)?;
    c.draw_series(values.iter().enumerate().map(|(i, v)| {
        Rectangle::new(
            [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, *v)],
            PALETTE[0].filled(),
        )
    }))
    .map_err(err)?;
    Ok(())
}

/// A pixel rectangle: x0, y0, x1, y1.
type Rect = (i32, i32, i32, i32);
/// A label wanted at a point: its text, the point and the text's size (px).
type Wanted = (String, (i32, i32), (i32, i32));
/// Labels placed (text, top-left pixel) and the names left unplaced.
type Placement = (Vec<(String, (i32, i32))>, Vec<String>);

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Places each label beside its point (right, left, above or below),
/// inside `bounds` and clear of the labels already placed; a label with
/// no free place is returned among the unplaced.
fn place_labels(wanted: &[Wanted], bounds: Rect) -> Placement {
    let mut placed: Vec<(String, (i32, i32))> = Vec::new();
    let mut boxes: Vec<Rect> = Vec::new();
    let mut unplaced = Vec::new();
    for (label, (px, py), (w, h)) in wanted {
        let candidates = [
            (px + 8, py - h / 2),
            (px - 8 - w, py - h / 2),
            (px - w / 2, py - 8 - h),
            (px - w / 2, py + 8),
        ];
        let free = candidates.into_iter().find(|&(x, y)| {
            let r = (x, y, x + w, y + h);
            r.0 >= bounds.0
                && r.2 <= bounds.2
                && r.1 >= bounds.1
                && r.3 <= bounds.3
                && boxes.iter().all(|b| !overlaps(r, *b))
        });
        match free {
            Some((x, y)) => {
                boxes.push((x, y, x + w, y + h));
                placed.push((label.clone(), (x, y)));
            }
            None => unplaced.push(label.clone()),
        }
    }
    (placed, unplaced)
}

fn funnel_keys(labels: &FunnelLabels) -> Vec<Key> {
    vec![
        Key::line(&labels.mean, RGBColor(90, 90, 90), 2),
        Key::line(&labels.inner, PALETTE[1], 1),
        Key::line(&labels.outer, FLAG, 1),
    ]
}

/// The funnel's value ranges: (x range, y range, smallest n drawn).
fn funnel_ranges(points: &[FunnelPoint], mean: f64) -> (f64, f64, f64) {
    let max_n = points.iter().map(|p| p.n).fold(10.0, f64::max) * 1.05;
    let min_n = (max_n / 200.0).max(1.0);
    let lowest = points.iter().map(|p| p.rate).fold(1.0, f64::min);
    let floor = control_limit(mean, min_n.max(max_n / 20.0), -3.09)
        .min(lowest)
        .max(0.0);
    (max_n, (floor - 0.05).max(0.0), min_n)
}

fn draw_funnel<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    x_label: &str,
    y_label: &str,
    points: &[FunnelPoint],
    mean: f64,
    labels: &FunnelLabels,
) -> Result<()> {
    let label_font = (FONT_FAMILY, 13).into_font();
    let keys = funnel_keys(labels);
    let (max_n, y_lo, min_n) = funnel_ranges(points, mean);
    let build = |plot: &DrawingArea<DB, Shift>| {
        ChartBuilder::on(plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..max_n, y_lo..1.0)
            .map_err(err)
    };
    // The outliers (and the province the page is about) are labelled;
    // labels that find no free place are named under the plot instead.
    // Building a chart draws nothing, so the placement can be tried on a
    // plot sized for the legend it leads to, until the two agree.
    let mut notes: Vec<String> = Vec::new();
    let mut tries = 0;
    let (_plot, legend, mut c, placed) = loop {
        let (plot, legend) = plot_and_legend(body, &keys, &notes);
        let c = build(&plot)?;
        let (placed, rest) = funnel_labels(&c, body, points, mean, &label_font);
        let wanted = if rest.is_empty() {
            Vec::new()
        } else {
            vec![format!("{} {}", labels.unlabelled, rest.join(", "))]
        };
        tries += 1;
        let settled = wanted == notes || tries == 3;
        notes = wanted;
        if settled {
            break (plot, legend, c, placed);
        }
    };
    c.configure_mesh()
        .light_line_style(GRID)
        .x_desc(x_label)
        .y_desc(y_label)
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(label_font.clone())
        .draw()
        .map_err(err)?;
    let steps = 120;
    let curve = |z: f64| -> Vec<(f64, f64)> {
        (0..=steps)
            .map(|i| {
                let n = min_n + (max_n - min_n) * i as f64 / steps as f64;
                (n, control_limit(mean, n, z))
            })
            .collect()
    };
    c.draw_series(LineSeries::new(
        vec![(0.0, mean), (max_n, mean)],
        keys[0].color.stroke_width(2),
    ))
    .map_err(err)?;
    for (z, key) in [
        (1.96, &keys[1]),
        (-1.96, &keys[1]),
        (3.09, &keys[2]),
        (-3.09, &keys[2]),
    ] {
        c.draw_series(LineSeries::new(curve(z), key.color.stroke_width(1)))
            .map_err(err)?;
    }
    for p in points {
        let flagged = p.rate < control_limit(mean, p.n, -3.09);
        let color = if flagged { FLAG } else { PALETTE[0] };
        let r = if p.highlight { 7 } else { 4 };
        c.draw_series(std::iter::once(Circle::new(
            (p.n, p.rate),
            r,
            color.filled(),
        )))
        .map_err(err)?;
    }
    for (label, pos) in placed {
        body.draw_text(&label, &label_font.color(&BLACK), body_point(body, pos))
            .map_err(err)?;
    }
    draw_legend(&legend, &keys, &notes)
}

/// A backend pixel as a coordinate of `area` (whose origin is its corner).
fn body_point<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> (i32, i32) {
    let (xs, ys) = area.get_pixel_range();
    (x - xs.start, y - ys.start)
}

type FunnelContext<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Where the funnel's labels go (in backend pixels) and which found no place.
fn funnel_labels<DB: DrawingBackend>(
    c: &FunnelContext<'_, DB>,
    area: &DrawingArea<DB, Shift>,
    points: &[FunnelPoint],
    mean: f64,
    font: &FontDesc,
) -> Placement {
    let mut wanted: Vec<&FunnelPoint> = points
        .iter()
        .filter(|p| p.highlight || p.rate < control_limit(mean, p.n, -3.09))
        .collect();
    // The page's own province first, then the furthest below the line.
    wanted.sort_by(|a, b| {
        b.highlight
            .cmp(&a.highlight)
            .then(a.rate.total_cmp(&b.rate))
    });
    let wanted: Vec<Wanted> = wanted
        .into_iter()
        .map(|p| {
            let (w, h) = area
                .estimate_text_size(&p.label, &font.clone().into())
                .map(|(w, h)| (w as i32, h as i32))
                .unwrap_or((7 * p.label.chars().count() as i32, 14));
            (p.label.clone(), c.backend_coord(&(p.n, p.rate)), (w, h))
        })
        .collect();
    let (xs, ys) = c.plotting_area().get_pixel_range();
    place_labels(&wanted, (xs.start, ys.start, xs.end, ys.end))
}

/// One bar of a waterfall: a label and either a total (drawn from the
/// axis) or a step (drawn from the running total).
pub enum Bar {
    Total(String, f64),
    Step(String, f64),
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal waterfall as SVG drawn to a `viewBox`, so that it scales
/// with its container: one row per bar, labels left of the bars, values
/// right of them; falls red, rises green, totals blue. The axis starts a
/// little below the lowest running total (the steps are a few points on a
/// 0–100 scale) and says where it starts.
pub fn waterfall_svg(bars: &[Bar], number: &dyn Fn(f64) -> String) -> String {
    let (row, label_w, bar_w, value_w) = (24.0, 300.0, 300.0, 70.0);
    let width = label_w + bar_w + value_w;
    let height = row * (bars.len() as f64 + 1.0);
    let mut running = 0.0;
    let mut spans = Vec::new();
    for b in bars {
        match b {
            Bar::Total(_, v) => {
                running = *v;
                spans.push((None, *v));
            }
            Bar::Step(_, d) => {
                spans.push((Some(running), running + d));
                running += d;
            }
        }
    }
    let ends = spans
        .iter()
        .flat_map(|(a, b)| a.iter().copied().chain([*b]));
    let lo = ends.clone().fold(f64::INFINITY, f64::min);
    let hi = ends.fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = ((lo - 2.0).floor().max(0.0), (hi + 1.0).ceil());
    let x = |v: f64| label_w + (v - lo) / (hi - lo).max(1e-9) * bar_w;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="waterfall" viewBox="0 0 {width} {height}" role="img" font-family="{FONT_FAMILY}" font-size="12">"#
    );
    for (i, (b, (start, end))) in bars.iter().zip(&spans).enumerate() {
        let y = i as f64 * row + 4.0;
        let (label, value, from, fill) = match (b, start) {
            (Bar::Total(l, v), _) => (l, *v, lo, "#123d6b"),
            (Bar::Step(l, d), Some(st)) => {
                (l, *d, *st, if *d < 0.0 { "#c0392b" } else { "#2e8b57" })
            }
            (Bar::Step(l, d), None) => (l, *d, lo, "#888"),
        };
        let (x0, x1) = (x(from.min(*end)), x(from.max(*end)));
        s.push_str(&format!(
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{x0:.1}" y="{y}" width="{:.1}" height="{}" fill="{fill}"/><text x="{}" y="{}">{}</text>"#,
            label_w - 6.0,
            y + 13.0,
            xml_escape(label),
            (x1 - x0).max(1.0),
            row - 8.0,
            label_w + bar_w + 6.0,
            y + 13.0,
            xml_escape(&if matches!(b, Bar::Step(..)) && value > 0.0 {
                format!("+{}", number(value))
            } else {
                number(value).replace('-', "−")
            }),
        ));
    }
    let y = bars.len() as f64 * row + 4.0;
    s.push_str(&format!(
        r##"<line x1="{label_w}" y1="{y}" x2="{}" y2="{y}" stroke="#999"/><text x="{label_w}" y="{}" fill="#555">{}</text><text x="{}" y="{}" text-anchor="end" fill="#555">{}</text></svg>"##,
        label_w + bar_w,
        y + 14.0,
        number(lo),
        label_w + bar_w,
        y + 14.0,
        number(hi),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A funnel plot around a national rate of 80 %.
    fn funnel(points: Vec<FunnelPoint>) -> Chart {
        Chart::Funnel {
            title: "Phễu".into(),
            x_label: "n".into(),
            y_label: "p".into(),
            points,
            mean: 0.8,
            labels: FunnelLabels {
                mean: "p̄".into(),
                inner: "95%".into(),
                outer: "99.8%".into(),
                unlabelled: "Also:".into(),
            },
        }
    }

    fn line() -> Chart {
        Chart::Line {
            title: "Điểm tổng hợp — Bắc Ninh".into(),
            categories: vec![
                "Quý 1/2026".into(),
                "Quý 2/2026".into(),
                "Quý 3/2026".into(),
            ],
            y_label: "Điểm".into(),
            series: vec![Series {
                name: "Đúng hạn".into(),
                values: vec![Some(70.0), None, Some(82.5)],
            }],
            markers: vec![(1.2, "Thanh tra".into())],
        }
    }

    #[test]
    fn svg_keeps_vietnamese_text_and_draws_the_data() {
        let s = svg(&line()).unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..40]);
        assert!(s.contains("Điểm tổng hợp — Bắc Ninh"));
        assert!(s.contains("Quý 3/2026"));
        assert!(s.contains("<circle"), "points are drawn");
        assert!(s.contains("Thanh tra"), "markers are labelled");
    }

    #[test]
    fn inline_svg_scales_with_its_container() {
        let s = svg_inline(&line()).unwrap();
        let head = &s[..s.find('>').unwrap()];
        assert!(head.contains(r#"viewBox="0 0 760 380""#), "{head}");
        assert!(
            !head.contains("width=") && !head.contains("height="),
            "{head}"
        );
        assert!(
            head.contains(r#"aria-label="Điểm tổng hợp — Bắc Ninh""#),
            "{head}"
        );
    }

    /// The legend sits in its own band under the plotting area: every
    /// legend text is drawn below the lowest point of the data.
    #[test]
    fn legend_is_drawn_outside_the_data() {
        let s = svg(&line()).unwrap();
        let text_y = |label: &str| -> f64 {
            let at = s.find(&format!(">\n{label}\n<")).unwrap();
            let open = s[..at].rfind("<text").unwrap();
            let tag = &s[open..at];
            let y = tag.split("y=\"").nth(1).unwrap();
            y[..y.find('"').unwrap()].parse().unwrap()
        };
        let lowest_circle = s
            .match_indices("<circle")
            .map(|(i, _)| {
                let tag = &s[i..i + s[i..].find('>').unwrap()];
                let cy = tag.split("cy=\"").nth(1).unwrap();
                cy[..cy.find('"').unwrap()].parse::<f64>().unwrap()
            })
            .fold(0.0, f64::max);
        assert!(
            text_y("Đúng hạn") > lowest_circle + 30.0,
            "legend over the data"
        );
    }

    #[test]
    fn funnel_labels_do_not_collide_and_the_rest_are_named() {
        let points: Vec<FunnelPoint> = (0..12)
            .map(|i| FunnelPoint {
                label: format!("Tỉnh số {i}"),
                n: 400.0 + i as f64,
                rate: 0.30 + 0.001 * i as f64,
                highlight: false,
            })
            .collect();
        let chart = funnel(points);
        let s = svg(&chart).unwrap();
        for i in 0..12 {
            assert!(s.contains(&format!("Tỉnh số {i}")), "province {i} is named");
        }
        assert!(s.contains("Also:"), "crowded labels are listed instead");
        let (placed, rest) = place_labels(
            &[
                ("a".into(), (100, 100), (40, 14)),
                ("b".into(), (101, 100), (40, 14)),
                ("c".into(), (102, 100), (40, 14)),
                ("d".into(), (103, 101), (40, 14)),
                ("e".into(), (104, 101), (40, 14)),
            ],
            (0, 0, 400, 400),
        );
        assert_eq!(placed.len(), 4);
        assert_eq!(rest, vec!["e".to_string()]);
        for (i, (_, a)) in placed.iter().enumerate() {
            for (_, b) in &placed[i + 1..] {
                assert!(!overlaps(
                    (a.0, a.1, a.0 + 40, a.1 + 14),
                    (b.0, b.1, b.0 + 40, b.1 + 14)
                ));
            }
        }
    }

    #[test]
    fn png_is_a_png() {
        let p = png(&line()).unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        assert!(p.len() > 2000);
    }

    /// The PNG's text is drawn with the bundled font: the title band holds
    /// ink, about as wide as the title the SVG lays out (a missing font
    /// would leave it blank; the system fonts are never consulted).
    #[test]
    fn png_text_is_drawn_with_the_bundled_font() {
        let p = png(&line()).unwrap();
        let img = resvg::tiny_skia::Pixmap::decode_png(&p).unwrap();
        let dark = |x: u32, y: u32| {
            let c = img.pixel(x, y).unwrap();
            c.red() < 100 && c.green() < 100 && c.blue() < 100
        };
        let columns: Vec<u32> = (0..img.width())
            .filter(|&x| (8..36).any(|y| dark(x, y)))
            .collect();
        assert!(columns.len() > 60, "{} inked columns", columns.len());
        let span = columns.last().unwrap() - columns.first().unwrap();
        // "Điểm tổng hợp — Bắc Ninh" in bold at about 14.5 px: 150–260 px.
        assert!((150..260).contains(&span), "title spans {span} px");
    }

    #[test]
    fn control_limits_narrow_with_n() {
        let wide = control_limit(0.8, 10.0, -3.09);
        let narrow = control_limit(0.8, 1000.0, -3.09);
        assert!(wide < narrow && narrow < 0.8);
        assert!((control_limit(0.8, 100.0, 1.96) - (0.8 + 1.96 * 0.04)).abs() < 1e-12);
        assert_eq!(control_limit(0.5, 0.0, -1.96), 0.0);
    }

    #[test]
    fn funnel_marks_provinces_below_the_outer_limit() {
        let chart = funnel(vec![
            FunnelPoint {
                label: "Cà Mau".into(),
                n: 400.0,
                rate: 0.5,
                highlight: false,
            },
            FunnelPoint {
                label: "Huế".into(),
                n: 300.0,
                rate: 0.82,
                highlight: false,
            },
        ]);
        let s = svg(&chart).unwrap();
        assert!(s.contains("Cà Mau"), "the flagged province is labelled");
        assert!(!s.contains("Huế"), "a province within the limits is not");
    }
}
