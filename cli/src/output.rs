//! What commands print: aligned tables for people, JSON (`--json`) for scripts.

use serde::Serialize;

/// The output mode chosen on the command line.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Tables, or JSON with `json`.
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// Prints `value` as pretty JSON in JSON mode, else `render(value)`.
    pub fn emit<T: Serialize>(&self, value: &T, render: impl FnOnce(&T) -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("cannot print JSON: {e}"),
            }
        } else {
            print!("{}", render(value));
        }
    }

    /// A progress bar of `total` units on stderr, drawn with the indicatif `template` (its
    /// `{bar}` and counters); hidden in JSON mode.
    pub fn progress_bar(&self, total: u64, template: &str) -> indicatif::ProgressBar {
        if self.json {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    /// Prints a progress or notice line for people (to stderr, so JSON on stdout stays clean).
    pub fn note(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }
}

/// A text table: a header row and rows of cells, columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct TextTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl TextTable {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> TextTable {
        TextTable {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells print empty, extra cells are kept).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines of text.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in self.rows.iter().chain([&self.header]) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |row: &Vec<String>| {
            let cells: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, width)| {
                    let cell = row.get(i).map(String::as_str).unwrap_or("");
                    format!("{cell:<width$}")
                })
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        };
        let mut text = line(&self.header);
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut table = TextTable::new(&["table", "files"]);
        table.row(vec!["sales.orders".into(), "3".into()]);
        table.row(vec!["a.b".into(), "1200".into()]);
        assert_eq!(
            table.render(),
            "table         files\nsales.orders  3\na.b           1200\n"
        );
    }
}
