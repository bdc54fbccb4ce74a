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

pub const FONT_REGULAR: &[u8] = include_bytes!("../assets/fonts/NotoSans-Regular.ttf");
pub const FONT_BOLD: &[u8] = include_bytes!("../assets/fonts/NotoSans-Bold.ttf");
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

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let title_font = (FONT_FAMILY, 18).into_font().style(FontStyle::Bold);
    let label_font = (FONT_FAMILY, 13).into_font();
    match chart {
        Chart::Line {
            title,
            categories,
            y_label,
            series,
            markers,
        } => {
            let n = categories.len().max(1);
            let values = series.iter().flat_map(|s| s.values.iter().flatten());
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
            let (lo, hi) = if lo > hi {
                (0.0, 100.0)
            } else {
                ((lo - 5.0).max(0.0).min(lo), (hi + 5.0).min(100.0).max(hi))
            };
            let mut c = ChartBuilder::on(root)
                .caption(title, title_font)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(52)
                .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
                .map_err(err)?;
            let cats = categories.clone();
            c.configure_mesh()
                .light_line_style(GRID)
                .x_labels(n.min(12))
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 {
                        cats.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc(y_label.as_str())
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
                let mut first = true;
                for run in runs.into_iter().filter(|r| !r.is_empty()) {
                    let points = run.clone();
                    let drawn = c
                        .draw_series(LineSeries::new(run, color.stroke_width(2)))
                        .map_err(err)?;
                    if first {
                        drawn.label(s.name.clone()).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        });
                        first = false;
                    }
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
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(label_font)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(err)?;
        }
        Chart::Bar {
            title,
            categories,
            y_label,
            values,
        } => {
            let n = categories.len().max(1);
            let top = values.iter().copied().fold(0.0, f64::max).max(1.0) * 1.1;
            let mut c = ChartBuilder::on(root)
                .caption(title, title_font)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(52)
                .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
                .map_err(err)?;
            let cats = categories.clone();
            c.configure_mesh()
                .light_line_style(GRID)
                .x_labels(n)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 {
                        cats.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc(y_label.as_str())
                .label_style(label_font)
                .draw()
                .map_err(err)?;
            c.draw_series(values.iter().enumerate().map(|(i, v)| {
                Rectangle::new(
                    [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, *v)],
                    PALETTE[0].filled(),
                )
            }))
            .map_err(err)?;
        }
        Chart::Funnel {
            title,
            x_label,
            y_label,
            points,
            mean,
            labels,
        } => {
            let max_n = points.iter().map(|p| p.n).fold(10.0, f64::max) * 1.05;
            let min_n = (max_n / 200.0).max(1.0);
            let lowest = points.iter().map(|p| p.rate).fold(1.0, f64::min);
            let floor = control_limit(*mean, min_n.max(max_n / 20.0), -3.09)
                .min(lowest)
                .max(0.0);
            let y_lo = (floor - 0.05).max(0.0);
            let mut c = ChartBuilder::on(root)
                .caption(title, title_font)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..max_n, y_lo..1.0)
                .map_err(err)?;
            c.configure_mesh()
                .light_line_style(GRID)
                .x_desc(x_label.as_str())
                .y_desc(y_label.as_str())
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
                        (n, control_limit(*mean, n, z))
                    })
                    .collect()
            };
            let grey = RGBColor(90, 90, 90);
            c.draw_series(LineSeries::new(
                vec![(0.0, *mean), (max_n, *mean)],
                grey.stroke_width(2),
            ))
            .map_err(err)?
            .label(labels.mean.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(2))
            });
            let inner = PALETTE[1];
            let outer = FLAG;
            for (z, color, label) in [
                (1.96, inner, &labels.inner),
                (-1.96, inner, &labels.inner),
                (3.09, outer, &labels.outer),
                (-3.09, outer, &labels.outer),
            ] {
                let s = c
                    .draw_series(LineSeries::new(curve(z), color.stroke_width(1)))
                    .map_err(err)?;
                if z > 0.0 {
                    s.label(label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(1))
                    });
                }
            }
            for p in points {
                let flagged = p.rate < control_limit(*mean, p.n, -3.09);
                let color = if flagged { FLAG } else { PALETTE[0] };
                let r = if p.highlight { 7 } else { 4 };
                c.draw_series(std::iter::once(Circle::new(
                    (p.n, p.rate),
                    r,
                    color.filled(),
                )))
                .map_err(err)?;
                if flagged || p.highlight {
                    c.draw_series(std::iter::once(Text::new(
                        p.label.clone(),
                        (p.n, p.rate),
                        label_font.clone().color(&BLACK),
                    )))
                    .map_err(err)?;
                }
            }
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(label_font)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(err)?;
        }
    }
    Ok(())
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
        let chart = Chart::Funnel {
            title: "Phễu".into(),
            x_label: "n".into(),
            y_label: "p".into(),
            points: vec![
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
            ],
            mean: 0.8,
            labels: FunnelLabels {
                mean: "p̄".into(),
                inner: "95%".into(),
                outer: "99.8%".into(),
            },
        };
        let s = svg(&chart).unwrap();
        assert!(s.contains("Cà Mau"), "the flagged province is labelled");
        assert!(!s.contains("Huế"), "a province within the limits is not");
    }
}
