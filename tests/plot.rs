//! Plots: TensorBoard's smoothing, PNG and SVG rendering, and the `plot` command as a user
//! runs it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fixture;
use image::RgbImage;
use tfevents::plot::{
    color, render_png, render_svg, smooth, undrawable, Curve, Format, Options, Panel, PlotError,
    Undrawable, XAxis,
};

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-12 * y.abs().max(1.0)
        })
}

#[test]
fn smoothing_matches_tensorboard_on_values_worked_by_hand() {
    // w = 0.6, y = 1, 2, 3:
    //   last = 0.4            debias = 1 - 0.6   = 0.4    -> 1
    //   last = 0.24 + 0.8     debias = 1 - 0.36  = 0.64   -> 1.04 / 0.64 = 1.625
    //   last = 0.624 + 1.2    debias = 1 - 0.216 = 0.784  -> 1.824 / 0.784
    let got = smooth(&[1.0, 2.0, 3.0], 0.6);
    assert!(close(&got, &[1.0, 1.625, 1.824 / 0.784]), "{got:?}");
    // w = 0.5, y = 10, 0, 0, 10: last = 5, 2.5, 1.25, 5.625; debias = .5, .75, .875, .9375.
    let got = smooth(&[10.0, 0.0, 0.0, 10.0], 0.5);
    assert!(
        close(&got, &[10.0, 2.5 / 0.75, 1.25 / 0.875, 6.0]),
        "{got:?}"
    );
}

#[test]
fn smoothing_passes_non_finite_values_through_without_counting_them() {
    // The NaN does not enter the average, nor the count n used to debias.
    let got = smooth(&[1.0, f64::NAN, 3.0, f64::INFINITY], 0.6);
    // Second finite point: last = 0.4 * 0.6 + 0.4 * 3 = 1.44, debias 1 - 0.36 = 0.64.
    assert!(
        close(&got, &[1.0, f64::NAN, 1.44 / 0.64, f64::INFINITY]),
        "{got:?}"
    );
}

#[test]
fn constant_curves_weight_zero_and_empty_input_are_returned_unchanged() {
    // The debiased average of a constant 0.1 is not exactly 0.1 in floating point, so this
    // checks TensorBoard's special case for constant curves.
    let constant = [0.1; 6];
    assert_eq!(smooth(&constant, 0.6), constant);
    let values = [3.0, -1.0, 0.25, 7.5];
    assert_eq!(smooth(&values, 0.0), values);
    assert!(smooth(&[], 0.6).is_empty());
    assert_eq!(smooth(&[4.0], 0.9), [4.0]);
}

#[test]
fn smoothing_equals_the_closed_form_debiased_average() {
    // smoothed_n = sum_i (1 - w) w^(n - i) y_i / (1 - w^n), written out independently.
    let values: Vec<f64> = (0..50).map(|i| ((i * 37) % 11) as f64 - 3.5).collect();
    for w in [0.3, 0.6, 0.95] {
        let expected: Vec<f64> = (1..=values.len())
            .map(|n| {
                let sum: f64 = (1..=n)
                    .map(|i| (1.0 - w) * f64::powi(w, (n - i) as i32) * values[i - 1])
                    .sum();
                sum / (1.0 - f64::powi(w, n as i32))
            })
            .collect();
        let got = smooth(&values, w);
        assert!(
            got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-9),
            "w = {w}: {got:?} vs {expected:?}"
        );
    }
}

fn panel(title: &str, curves: Vec<Curve>) -> Panel {
    Panel {
        title: title.into(),
        x_label: "step".into(),
        y_label: title.into(),
        x_axis: XAxis::Linear,
        log_y: false,
        curves,
    }
}

fn curve(label: &str, color: usize, points: Vec<(f64, f64)>) -> Curve {
    Curve {
        label: label.into(),
        color,
        points,
    }
}

/// Pixels within a small distance of a palette colour, in a band of rows.
fn count_color(img: &RgbImage, index: usize, rows: std::ops::Range<u32>) -> usize {
    let [r, g, b] = color(index);
    img.enumerate_pixels()
        .filter(|(_, y, _)| rows.contains(y))
        .filter(|(_, _, p)| {
            let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs();
            d(p[0], r) + d(p[1], g) + d(p[2], b) < 30
        })
        .count()
}

#[test]
fn png_has_the_requested_size_and_draws_each_panel_s_curves() {
    let rising: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, i as f64)).collect();
    let falling: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 100.0 - i as f64)).collect();
    let panels = [
        panel("a", vec![curve("up", 0, rising)]),
        panel("b", vec![curve("down", 1, falling)]),
    ];
    let opts = Options {
        width: 640,
        panel_height: 360,
        smoothing: 0.6,
    };
    let png = render_png(&panels, &opts).unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (640, 720));
    assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255], "white background");
    // Each colour is drawn, and only in its own panel.
    assert!(count_color(&img, 0, 0..360) > 300);
    assert_eq!(count_color(&img, 0, 360..720), 0);
    assert!(count_color(&img, 1, 360..720) > 300);
    assert_eq!(count_color(&img, 1, 0..360), 0);
    // The rising line goes from the plot's lower left to its upper right: its colour is in
    // the lower left quarter and the upper right quarter of the panel, not the others.
    let in_quarter = |x: std::ops::Range<u32>, y: std::ops::Range<u32>| {
        let [r, g, b] = color(0);
        img.enumerate_pixels()
            .filter(|(px, py, p)| x.contains(px) && y.contains(py) && p.0 == [r, g, b])
            .count()
    };
    assert!(in_quarter(60..300, 180..330) > 50);
    assert!(in_quarter(320..520, 40..180) > 50);
    assert_eq!(in_quarter(60..250, 40..150), 0);
}

#[test]
fn raw_curve_is_faint_behind_the_smoothed_one() {
    // A step from 0 to 0.93 halfway: the raw line is flat on the right half (off the grid
    // lines), where the heavily smoothed line stays below it.
    let step: Vec<(f64, f64)> = (0..60)
        .map(|i| (i as f64, if i < 30 { 0.0 } else { 0.93 }))
        .collect();
    let render = |smoothing| {
        let opts = Options {
            smoothing,
            ..Options::default()
        };
        let png = render_png(&[panel("z", vec![curve("z", 0, step.clone())])], &opts).unwrap();
        image::load_from_memory(&png).unwrap().to_rgb8()
    };
    // Ink (darkness below white) per channel, over the rows around `row` in columns 600..900.
    let ink = |img: &RgbImage, row: u32| {
        let mut sum = [0u32; 3];
        for x in 600..900 {
            for y in row.saturating_sub(3)..=row + 3 {
                let p = img.get_pixel(x, y);
                for (s, v) in sum.iter_mut().zip(p.0) {
                    *s += 255 - u32::from(v);
                }
            }
        }
        sum
    };
    // Unsmoothed, the line is drawn in the full colour: find its row.
    let c = color(0);
    let raw_only = render(0.0);
    let row = (0..raw_only.height())
        .find(|&y| (600..900).all(|x| raw_only.get_pixel(x, y).0 == c))
        .expect("a full-colour horizontal line");
    let smoothed = render(0.9);
    let (full, faint) = (ink(&raw_only, row)[0], ink(&smoothed, row));
    // The faint line is about a quarter as dark (and a little thinner), in the same hue.
    let ratio = f64::from(faint[0]) / f64::from(full);
    assert!((0.1..0.35).contains(&ratio), "ink ratio {ratio}");
    assert!(faint[0] > faint[1] && faint[1] > faint[2], "{faint:?}");
    // The full colour is elsewhere: the smoothed line.
    let [r, g, b] = c;
    assert!(smoothed.pixels().filter(|p| p.0 == [r, g, b]).count() > 500);
    // The SVG says the same in numbers.
    let svg = |smoothing| {
        let opts = Options {
            smoothing,
            ..Options::default()
        };
        render_svg(&[panel("z", vec![curve("z", 0, step.clone())])], &opts).unwrap()
    };
    let smoothed = svg(0.6);
    assert_eq!(smoothed.matches("stroke-opacity=\"0.25\"").count(), 1);
    assert_eq!(
        smoothed.matches("stroke-opacity=\"1\"").count(),
        2,
        "line and swatch"
    );
    assert!(!svg(0.0).contains("stroke-opacity=\"0.25\""));
}

#[test]
fn svg_is_a_document_with_the_run_names_escaped() {
    let panels = [panel(
        "val/accuracy",
        vec![
            curve("lr=0.1", 0, vec![(0.0, 0.5), (1.0, 0.7), (2.0, 0.8)]),
            curve("a<b&c", 1, vec![(0.0, 0.4), (2.0, 0.9)]),
        ],
    )];
    let svg = render_svg(&panels, &Options::default()).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("width=\"1000\" height=\"600\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(">lr=0.1</text>"));
    assert!(svg.contains(">a&lt;b&amp;c</text>"));
    assert!(!svg.contains("a<b"));
    assert!(svg.contains(">val/accuracy</text>"));
    assert!(svg.contains(">step</text>"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert_eq!(svg.matches("<svg").count(), 1);
    // Two raw and two smoothed curves, plus two legend swatches.
    assert_eq!(svg.matches("<polyline").count(), 6);
    assert_eq!(
        Format::from_path(Path::new("out/plot.SVG")).unwrap(),
        Format::Svg
    );
}

#[test]
fn many_runs_and_long_names_fit_the_legend() {
    let curves: Vec<Curve> = (0..40)
        .map(|i| {
            curve(
                &format!("sweep/2026-12-03/lr=0.00{i},batch=64,seed={i},tag=long-run-name"),
                i,
                vec![(0.0, i as f64), (10.0, i as f64 + 1.0)],
            )
        })
        .collect();
    let svg = render_svg(&[panel("loss", curves)], &Options::default()).unwrap();
    let listed = svg.matches(">sweep/").count();
    assert!((10..40).contains(&listed), "{listed} names listed");
    assert!(
        svg.contains(&format!(">+{} more</text>", 40 - listed)),
        "{svg}"
    );
    assert!(svg.contains('…'), "long names are cut");
    // Forty distinct colours.
    let colors: std::collections::BTreeSet<[u8; 3]> = (0..40).map(color).collect();
    assert_eq!(colors.len(), 40);
}

#[test]
fn undrawable_points_are_skipped_and_counted() {
    let points = vec![
        (0.0, 1.0),
        (1.0, f64::NAN),
        (2.0, f64::INFINITY),
        (3.0, 0.0),
        (4.0, -2.0),
        (f64::NAN, 1.0),
        (6.0, 10.0),
    ];
    assert_eq!(
        undrawable(&points, true),
        Undrawable {
            non_finite: 3,
            non_positive: 2
        }
    );
    assert_eq!(undrawable(&points, false).non_positive, 0);
    let mut p = panel("log", vec![curve("r", 0, points)]);
    p.log_y = true;
    let png = render_png(&[p.clone()], &Options::default()).unwrap();
    assert!(image::load_from_memory(&png).is_ok());
    // Nothing drawable at all still makes a chart.
    p.curves[0].points = vec![(0.0, -1.0), (1.0, f64::NAN)];
    let svg = render_svg(&[p], &Options::default()).unwrap();
    assert!(svg.contains(">no data</text>"));
}

#[test]
fn wall_time_axis_is_labelled_in_utc() {
    // 2026-12-03 19:00 UTC onwards, one point a minute for two hours.
    let t0 = 1_796_324_400.0;
    let points: Vec<(f64, f64)> = (0..120).map(|i| (t0 + 60.0 * i as f64, i as f64)).collect();
    let mut p = panel("wall", vec![curve("r", 0, points)]);
    p.x_axis = XAxis::UnixTime;
    let svg = render_svg(&[p], &Options::default()).unwrap();
    assert!(svg.contains(">19:30</text>"), "{svg}");
    assert!(svg.contains(">20:00</text>"));
}

#[test]
fn bad_requests_are_errors() {
    assert!(matches!(
        Format::from_path(Path::new("plot.jpg")),
        Err(PlotError::UnknownFormat(_))
    ));
    assert!(Format::from_path(Path::new("plot")).is_err());
    assert_eq!(Format::from_path(Path::new("a.png")).unwrap(), Format::Png);
    let one = [panel("x", vec![curve("r", 0, vec![(0.0, 1.0)])])];
    assert!(matches!(
        render_png(&[], &Options::default()),
        Err(PlotError::NoPanels)
    ));
    for (width, panel_height) in [(10, 600), (1000, 5), (100_000, 600), (0, 0)] {
        let opts = Options {
            width,
            panel_height,
            ..Options::default()
        };
        assert!(matches!(
            render_png(&one, &opts),
            Err(PlotError::Size { .. })
        ));
    }
    // Stacked panels may not make the image taller than the limit either.
    let many = vec![one[0].clone(); 40];
    assert!(matches!(
        render_svg(&many, &Options::default()),
        Err(PlotError::Size { .. })
    ));
    for smoothing in [1.0, -0.1, f64::NAN] {
        let opts = Options {
            smoothing,
            ..Options::default()
        };
        assert!(matches!(
            render_svg(&one, &opts),
            Err(PlotError::Smoothing(_))
        ));
    }
}

// The command as a user runs it.

fn tfevents(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(args)
        .output()
        .expect("run tfevents")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn cli_plots_a_fixture_tag_as_a_png_of_the_requested_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loss.png");
    let logdir = fixture("logdir");
    let o = tfevents(&[
        "plot",
        logdir.to_str().unwrap(),
        "--tag",
        "loss",
        "--width",
        "700",
        "--height",
        "400",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (700, 400));
    // Runs with `loss`: pt_writer and tbx_restart, the first two palette colours.
    assert!(count_color(&img, 0, 0..400) > 100);
    assert!(count_color(&img, 1, 0..400) > 100);
    assert_eq!(files_in(dir.path()), ["loss.png"], "no temporary file left");
    assert!(stderr(&o).contains("2 runs"), "{}", stderr(&o));
}

#[test]
fn cli_gives_a_run_the_same_colour_in_every_panel() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("both.svg");
    let logdir = fixture("logdir");
    let o = tfevents(&[
        "plot",
        logdir.to_str().unwrap(),
        "--tag",
        "loss",
        "--tag",
        "accuracy",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("height=\"1200\""));
    assert!(svg.contains(">loss</text>") && svg.contains(">accuracy</text>"));
    // The legend swatch just before each "pt_writer" entry has the same stroke.
    let swatches: Vec<&str> = svg
        .match_indices(">pt_writer</text>")
        .map(|(at, _)| {
            let before = &svg[..at];
            let line = &before[before.rfind("<polyline").unwrap()..];
            let stroke = line.find("stroke=\"").unwrap() + 8;
            &line[stroke..stroke + 7]
        })
        .collect();
    assert_eq!(swatches.len(), 2, "pt_writer is in both panels");
    assert_eq!(swatches[0], swatches[1]);
    // tbx_restart has no accuracy: it is listed once.
    assert_eq!(svg.matches(">tbx_restart</text>").count(), 1);
}

#[test]
fn cli_selects_runs_by_pattern_and_reads_converted_tables() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = fixture("logdir");
    let tables = dir.path().join("tables");
    let o = tfevents(&[
        "convert",
        logdir.to_str().unwrap(),
        "--out",
        tables.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("tbx.svg");
    let o = tfevents(&[
        "plot",
        tables.to_str().unwrap(),
        "--tag",
        "loss",
        "--runs",
        "tbx*",
        "--x",
        "relative",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains(">tbx_restart</text>"));
    assert!(!svg.contains("pt_writer"));
    assert!(
        svg.contains(">seconds since the run&apos;s first point</text>"),
        "{svg}"
    );
}

#[test]
fn cli_unknown_tag_is_an_error_listing_the_scalar_tags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let logdir = fixture("logdir");
    let o = tfevents(&[
        "plot",
        logdir.to_str().unwrap(),
        "--tag",
        "val/los",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("\"val/los\""), "{err}");
    assert!(
        err.contains("train/loss") && err.contains("epoch_loss"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn cli_rejects_bad_options_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = fixture("logdir");
    let run = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec!["plot", logdir.to_str().unwrap(), "--tag", "loss"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-o", out.to_str().unwrap()]);
        tfevents(&args)
    };
    let o = run(&[], "plot.jpg");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".png or .svg"), "{}", stderr(&o));
    let o = run(&["--smoothing", "1"], "plot.png");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("smoothing"), "{}", stderr(&o));
    let o = run(&["--width", "10"], "plot.png");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("out of range"), "{}", stderr(&o));
    let o = run(&["--x", "epoch"], "plot.png");
    assert_eq!(o.status.code(), Some(2));
    assert!(files_in(dir.path()).is_empty());
    // A missing directory for the output is an error naming the file, not a panic.
    let o = run(&[], "no/such/dir/plot.png");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("plot.png"), "{}", stderr(&o));
}

#[test]
fn cli_warns_about_values_it_cannot_draw() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("weird.png");
    let logdir = fixture("logdir");
    // pt_writer's weird/values: 0.25, NaN, inf, -inf, -0.0.
    let o = tfevents(&[
        "plot",
        logdir.to_str().unwrap(),
        "--tag",
        "weird/values",
        "--log-y",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("weird/values: 3 NaN or infinite values not drawn"),
        "{err}"
    );
    assert!(
        err.contains("weird/values: 1 value <= 0 not drawn"),
        "{err}"
    );
    assert!(image::open(&out).is_ok());
}

#[test]
fn extreme_and_many_values_still_make_an_image() {
    let cases = vec![
        vec![(0.0, 1e308), (1.0, -1e308)],
        vec![(i64::MIN as f64, 0.0), (i64::MAX as f64, 1.0)],
        vec![(0.0, f64::MIN_POSITIVE), (1.0, 5e-324)],
        vec![(5.0, 2.0)],
        vec![(0.0, 1.0); 3],
        (0..50_000)
            .map(|i| (i as f64, (i as f64 / 500.0).sin()))
            .collect(),
    ];
    for points in cases {
        for log_y in [false, true] {
            let mut p = panel("x", vec![curve("r", 3, points.clone())]);
            p.log_y = log_y;
            let small = Options {
                width: 400,
                panel_height: 240,
                ..Options::default()
            };
            let png = render_png(&[p.clone()], &small).unwrap();
            let img = image::load_from_memory(&png).unwrap();
            assert_eq!((img.width(), img.height()), (400, 240));
            let svg = render_svg(&[p], &small).unwrap();
            assert!(
                !svg.contains("NaN") && !svg.contains("inf"),
                "{}",
                &svg[..2000]
            );
        }
    }
}
