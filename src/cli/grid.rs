//! Tables of text for people and machines: aligned columns that fit the terminal, CSV,
//! JSON and Markdown.

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// A cell: its text for people, and its value for CSV and JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing.
    Empty,
    /// A number (printed in full in CSV and JSON).
    Number(f64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

/// One cell: what a person sees, and the value behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Shown in text tables and Markdown.
    pub display: String,
    /// Written to CSV and JSON.
    pub value: Value,
}

/// Rows under a header.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<Cell>>,
    /// Columns that are right-aligned (numbers).
    pub right: Vec<bool>,
}

/// A number for people: up to 6 significant digits, no trailing zeros.
pub fn short_number(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return tfevents::query::format_number(x);
    }
    let a = x.abs();
    if (1e-4..1e7).contains(&a) {
        let digits = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        };
        return s;
    }
    format!("{x:.4e}")
}

/// Display width of a string in terminal columns (wide characters take two).
fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `w` columns, with an ellipsis when cut.
fn cut(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_owned();
    }
    if w == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > w - 1 {
            break;
        }
        used += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` on one line: newlines, tabs and other control characters written as escapes (`\n`).
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The width to fit: `COLUMNS` when set to a number, else the terminal's width when stdout
/// is one.
pub fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(cols);
    }
    terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0))
}

impl Grid {
    /// Writes an aligned text table. With `max_width`, columns are capped at a readable width
    /// (longer cells and headers cut with `…`) and the columns that do not fit after that are
    /// left out from the right; returns how many were.
    pub fn write_text(&self, out: &mut dyn Write, max_width: Option<usize>) -> io::Result<usize> {
        const GAP: usize = 2;
        /// Widest a column gets on a terminal.
        const MAX_COL: usize = 32;
        /// A header may be cut down to this when its values are narrower.
        const MIN_HEADER: usize = 16;
        let n = self.header.len();
        let header: Vec<String> = self.header.iter().map(|h| one_line(h)).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| one_line(&c.display)).collect())
            .collect();
        let mut widths: Vec<usize> = (0..n)
            .map(|c| {
                let cells = rows.iter().map(|r| width(&r[c])).max().unwrap_or(0);
                let header = width(&header[c]);
                match max_width {
                    Some(_) => cells.max(header.min(MIN_HEADER.max(cells))).min(MAX_COL),
                    None => cells.max(header),
                }
            })
            .collect();
        let mut shown = n;
        if let Some(max) = max_width {
            let mut used = 0;
            shown = 0;
            for &w in &widths {
                let need = if shown == 0 { w } else { used + GAP + w };
                if need > max {
                    break;
                }
                used = need;
                shown += 1;
            }
            if shown == 0 && n > 0 {
                shown = 1;
                widths[0] = max.max(1);
            }
        }
        let line = |cells: Vec<String>, out: &mut dyn Write| -> io::Result<()> {
            let mut s = String::new();
            for (c, text) in cells.iter().enumerate().take(shown) {
                let t = cut(text, widths[c]);
                let pad = widths[c] - width(&t);
                if c > 0 {
                    s.push_str(&" ".repeat(GAP));
                }
                if self.right.get(c).copied().unwrap_or(false) {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(&t);
                } else {
                    s.push_str(&t);
                    if c + 1 < shown {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            writeln!(out, "{}", s.trim_end())
        };
        line(header, out)?;
        for row in rows {
            line(row, out)?;
        }
        Ok(n - shown)
    }

    /// Writes CSV (RFC 4180): a header line, numbers in full precision, empty cells empty.
    pub fn write_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        let header: Vec<String> = self.header.iter().map(|h| quote(h)).collect();
        writeln!(out, "{}", header.join(","))?;
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match &c.value {
                    Value::Empty => String::new(),
                    Value::Number(x) => tfevents::query::format_number(*x),
                    Value::Text(t) => quote(t),
                    Value::Bool(b) => b.to_string(),
                })
                .collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }

    /// Writes a JSON array of objects keyed by column name (empty cells as null, NaN and
    /// infinities as the strings "nan", "inf", "-inf").
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "[")?;
        for (i, row) in self.rows.iter().enumerate() {
            // Keys in column order.
            let mut line = String::from("{");
            for (j, (name, c)) in self.header.iter().zip(row).enumerate() {
                let v = match &c.value {
                    Value::Empty => serde_json::Value::Null,
                    // Integral numbers as integers (steps, sizes, integer parameters).
                    Value::Number(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                        serde_json::json!(*x as i64)
                    }
                    Value::Number(x) if x.is_finite() => serde_json::json!(x),
                    Value::Number(x) => {
                        serde_json::Value::String(tfevents::query::format_number(*x))
                    }
                    Value::Text(t) => serde_json::Value::String(t.clone()),
                    Value::Bool(b) => serde_json::Value::Bool(*b),
                };
                if j > 0 {
                    line.push(',');
                }
                line.push_str(&serde_json::Value::String(name.clone()).to_string());
                line.push(':');
                line.push_str(&v.to_string());
            }
            line.push('}');
            let sep = if i + 1 < self.rows.len() { "," } else { "" };
            writeln!(out, "  {line}{sep}")?;
        }
        writeln!(out, "]")
    }

    /// Writes a Markdown (GitHub) table.
    pub fn write_markdown(&self, out: &mut dyn Write) -> io::Result<()> {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let header: Vec<String> = self.header.iter().map(|h| esc(h)).collect();
        writeln!(out, "| {} |", header.join(" | "))?;
        let align: Vec<&str> = (0..self.header.len())
            .map(|c| {
                if self.right.get(c).copied().unwrap_or(false) {
                    "--:"
                } else {
                    "---"
                }
            })
            .collect();
        writeln!(out, "|{}|", align.join("|"))?;
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| esc(&c.display)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let cell = |s: &str| Cell {
            display: s.into(),
            value: Value::Text(s.into()),
        };
        Grid {
            header: vec![
                "run".into(),
                "params.optimizer".into(),
                "metrics.loss".into(),
            ],
            rows: vec![
                vec![
                    cell("a-very-long-run-name-indeed-and-then-some"),
                    cell("adam, \"beta\""),
                    Cell {
                        display: "0.5".into(),
                        value: Value::Number(0.5),
                    },
                ],
                vec![
                    cell("b"),
                    cell("sgd"),
                    Cell {
                        display: "".into(),
                        value: Value::Empty,
                    },
                ],
            ],
            right: vec![false, false, true],
        }
    }

    fn text(g: &Grid, w: Option<usize>) -> (String, usize) {
        let mut out = Vec::new();
        let hidden = g.write_text(&mut out, w).unwrap();
        (String::from_utf8(out).unwrap(), hidden)
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(short_number(0.916000008583), "0.916");
        assert_eq!(short_number(1234.5678), "1234.57");
        assert_eq!(short_number(3.0), "3");
        assert_eq!(short_number(1e-3), "0.001");
        assert_eq!(short_number(1.5e-9), "1.5000e-9");
        assert_eq!(short_number(f64::NAN), "nan");
    }
    #[test]
    fn text_tables_fit_the_width() {
        let (full, hidden) = text(&grid(), None);
        assert_eq!(hidden, 0);
        assert!(full.lines().next().unwrap().starts_with("run  "));
        assert!(full.contains("a-very-long-run-name-indeed-and-then-some"));
        // Cells are capped at 32 characters on a terminal; all columns fit in 80.
        let (wide, hidden) = text(&grid(), Some(80));
        assert_eq!(hidden, 0, "{wide}");
        assert!(wide.contains("a-very-long-run-name-indeed-and…"), "{wide}");
        assert_eq!(
            wide.lines().map(|l| l.chars().count()).max(),
            Some(32 + 2 + 16 + 2 + 12)
        );
        // Columns that do not fit are left out from the right.
        let (narrow, hidden) = text(&grid(), Some(55));
        assert_eq!(hidden, 1, "{narrow}");
        assert!(narrow.lines().all(|l| l.chars().count() <= 55), "{narrow}");
        assert!(!narrow.contains("metrics.loss"));
        let (tiny, hidden) = text(&grid(), Some(16));
        assert_eq!(hidden, 2, "{tiny}");
        assert!(tiny.lines().all(|l| l.chars().count() <= 16), "{tiny}");
    }

    #[test]
    fn csv_json_markdown() {
        let mut csv = Vec::new();
        grid().write_csv(&mut csv).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "run,params.optimizer,metrics.loss\na-very-long-run-name-indeed-and-then-some,\"adam, \"\"beta\"\"\",0.5\nb,sgd,\n"
        );
        let mut json = Vec::new();
        grid().write_json(&mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v[0]["metrics.loss"], 0.5);
        assert!(v[1]["metrics.loss"].is_null());
        let mut md = Vec::new();
        grid().write_markdown(&mut md).unwrap();
        let md = String::from_utf8(md).unwrap();
        assert!(md.starts_with("| run | params.optimizer | metrics.loss |\n|---|---|--:|\n"));
    }
}
