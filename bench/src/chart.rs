//! The throughput chart: Mpps against the number of bindings, one panel per direction, with testpmd macswap (the
//! floor) dashed next to the gateway, for each inner packet size.

use crate::results::{short_count, Row};
use crate::traffic::Direction;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;

/// Fonts tried, in order (Debian's fonts-dejavu-core provides the first).
pub const FONTS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn register_font() -> Result<(), String> {
    let bytes = FONTS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or_else(|| format!("no TrueType font found (install fonts-dejavu-core): tried {FONTS:?}"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| "invalid font file".to_string())
}

/// Draws `rows` (one worker) into a PNG at `path`; `caption` goes on top.
pub fn draw(rows: &[Row], path: &Path, caption: &str) -> Result<(), String> {
    register_font()?;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    const SIZE: (u32, u32) = (1800, 950);
    let mut pixels = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (title, body) = root.split_vertically(50);
        title.draw(&Text::new(caption.to_owned(), (20, 15), ("sans-serif", 22).into_font())).map_err(|e| err(&e))?;
        let panels = body.split_evenly((2, 4));
        let sizes: Vec<usize> = {
            let mut s: Vec<usize> = rows.iter().map(|r| r.inner_len).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        let colours = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];
        for (panel, direction) in panels.iter().zip(Direction::ALL) {
            let name = direction.to_string();
            let mine: Vec<&Row> = rows.iter().filter(|r| r.direction == name).collect();
            let (min_n, max_n) = mine
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(f64::from(r.bindings)), hi.max(f64::from(r.bindings))));
            if mine.is_empty() {
                continue;
            }
            let top = mine.iter().map(|r| r.gw_mpps.max(r.macswap_mpps)).fold(0.0, f64::max) * 1.5 + 0.1;
            let mut chart = ChartBuilder::on(panel)
                .caption(&name, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(45)
                .build_cartesian_2d((min_n * 0.7..max_n * 1.4).log_scale(), 0f64..top)
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc("bindings")
                .y_desc("Mpps")
                .x_label_formatter(&|n| short_count(n.round() as u32))
                .x_labels(4)
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| err(&e))?;
            for (k, size) in sizes.iter().enumerate() {
                let colour = colours[k % colours.len()];
                let points = |f: fn(&Row) -> f64| {
                    let mut v: Vec<(f64, f64)> =
                        mine.iter().filter(|r| r.inner_len == *size).map(|r| (f64::from(r.bindings), f(r))).collect();
                    v.sort_by(|a, b| a.0.total_cmp(&b.0));
                    v
                };
                let gw = points(|r| r.gw_mpps);
                let floor = points(|r| r.macswap_mpps);
                chart
                    .draw_series(LineSeries::new(gw.clone(), colour.stroke_width(3)))
                    .map_err(|e| err(&e))?
                    .label(format!("pmipgw {size} B"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3)));
                chart.draw_series(gw.iter().map(|&p| Circle::new(p, 4, colour.filled()))).map_err(|e| err(&e))?;
                chart
                    .draw_series(floor.iter().map(|&p| TriangleMarker::new(p, 5, colour.stroke_width(2))))
                    .map_err(|e| err(&e))?;
                chart
                    .draw_series(DashedLineSeries::new(floor, 8, 5, colour.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(format!("testpmd macswap {size} B"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], colour.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    write_png(path, SIZE, &pixels)
}

fn write_png(path: &Path, (width, height): (u32, u32), rgb: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())
}
