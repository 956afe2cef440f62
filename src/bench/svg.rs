//! Benchmark charts as SVG: query times per engine, grouped by query, on a log scale.
//!
//! Written by hand with std only: the report embeds one kind of chart as text,
//! and a plotting crate would bring fonts and dependencies for no gain. The
//! output is self-contained (no fonts, scripts or links fetched from outside),
//! and every bar carries a `<title>` so hovering shows the exact figure.

/// One group of bars: a query and each engine's value (None: it did not run).
pub struct Group {
    /// The query's name, written under its group.
    pub label: String,
    /// One value per engine, in the order of the chart's series.
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart, log scale, as an SVG document.
///
/// `series` names the engines (the legend, in order); `values[i]` of each group
/// belongs to `series[i]`. A value that is missing, not finite or not positive
/// draws a "×" at the baseline instead of a bar; values beyond the last series
/// have no engine to name and are ignored.
pub fn grouped_bars(title: &str, unit: &str, series: &[String], groups: &[Group]) -> String {
    let layout = Layout::new(title, series, groups);
    let scale = LogScale::covering(groups, series.len());
    let mut svg = open_document(&layout, title);
    svg += &y_axis(&layout, &scale, unit);
    for (index, group) in groups.iter().enumerate() {
        svg += &group_marks(&layout, &scale, index, group, series, unit);
    }
    svg += &group_labels(&layout, groups);
    svg += &legend(&layout, series, any_missing(groups, series.len()));
    svg += "</svg>\n";
    svg
}

/// Okabe–Ito colours, told apart by most colour-blind readers; the yellow is
/// left out because it vanishes on white.
const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
];

const FONT_SIZE: f64 = 12.0;
const TITLE_FONT_SIZE: f64 = 16.0;
/// Larger than the labels so a missing bar is noticed, not taken for a speck.
const MISSING_FONT_SIZE: f64 = 16.0;
/// An average glyph width at `FONT_SIZE`; without font metrics, text extents are estimates.
const CHAR_WIDTH: f64 = 7.0;
const BAR_WIDTH: f64 = 16.0;
const BAR_GAP: f64 = 2.0;
const GROUP_GAP: f64 = 20.0;
const PLOT_HEIGHT: f64 = 300.0;
/// Narrower plots make a chart of one or two queries look like a stray sliver.
const MIN_PLOT_WIDTH: f64 = 240.0;
const MARGIN: f64 = 12.0;
/// Room for the title above the plot.
const PLOT_TOP: f64 = 48.0;
/// Room for the axis title and tick labels left of the plot.
const PLOT_LEFT: f64 = 80.0;
const LEGEND_GAP: f64 = 24.0;
const LEGEND_ROW: f64 = 18.0;
const SWATCH: f64 = 12.0;
/// Longer query names are cut with "…" under the group; bar tooltips keep them whole.
const MAX_LABEL_CHARS: usize = 32;
const LABEL_ANGLE_DEGREES: f64 = 45.0;

/// Where everything goes, worked out once from the sizes of the inputs.
struct Layout {
    width: f64,
    height: f64,
    plot_left: f64,
    plot_right: f64,
    plot_bottom: f64,
    /// The x of the first group's left edge; groups are centred in the plot.
    groups_left: f64,
    group_width: f64,
    rotate_labels: bool,
    legend_left: f64,
}

impl Layout {
    fn new(title: &str, series: &[String], groups: &[Group]) -> Layout {
        let group_width = bars_width(series.len()) + GROUP_GAP;
        let used_width = group_width * groups.len() as f64;
        let plot_width = used_width.max(MIN_PLOT_WIDTH);
        let labels = LabelSpace::new(groups, group_width);
        let plot_left = PLOT_LEFT.max(labels.overhang_left);
        let plot_right = plot_left + plot_width;
        let plot_bottom = PLOT_TOP + PLOT_HEIGHT;

        let legend_left = plot_right + LEGEND_GAP;
        let legend_width = SWATCH + 6.0 + longest_legend_entry(series);
        let legend_height = LEGEND_ROW * (series.len() + 1) as f64;

        let chart_width = legend_left + legend_width + MARGIN;
        let title_width = text_width(title) * TITLE_FONT_SIZE / FONT_SIZE + 2.0 * MARGIN;
        let lowest = (plot_bottom + labels.below_plot).max(PLOT_TOP + legend_height);
        Layout {
            width: chart_width.max(title_width).ceil(),
            height: (lowest + MARGIN).ceil(),
            plot_left,
            plot_right,
            plot_bottom,
            groups_left: plot_left + (plot_width - used_width) / 2.0,
            group_width,
            rotate_labels: labels.rotated,
            legend_left,
        }
    }

    /// The x of the left edge of `engine`'s bar in group `group`.
    fn bar_left(&self, group: usize, engine: usize) -> f64 {
        self.groups_left
            + GROUP_GAP / 2.0
            + self.group_width * group as f64
            + (BAR_WIDTH + BAR_GAP) * engine as f64
    }

    /// The x of the middle of group `group`, where its label hangs.
    fn group_centre(&self, group: usize) -> f64 {
        self.groups_left + self.group_width * (group as f64 + 0.5)
    }
}

/// The room the query names need: below the plot, and left of it when the first
/// name is slanted and would otherwise run off the picture.
struct LabelSpace {
    rotated: bool,
    below_plot: f64,
    /// The smallest `plot_left` that keeps the first slanted name inside the picture.
    overhang_left: f64,
}

impl LabelSpace {
    fn new(groups: &[Group], group_width: f64) -> LabelSpace {
        let longest = groups
            .iter()
            .map(|g| text_width(&shorten(&g.label)))
            .fold(0.0, f64::max);
        if longest <= group_width - BAR_GAP {
            return LabelSpace {
                rotated: false,
                below_plot: 2.0 * FONT_SIZE,
                overhang_left: 0.0,
            };
        }
        let angle = LABEL_ANGLE_DEGREES.to_radians();
        LabelSpace {
            rotated: true,
            below_plot: longest * angle.sin() + 2.0 * FONT_SIZE,
            overhang_left: MARGIN + longest * angle.cos() - group_width / 2.0,
        }
    }
}

/// The width of one group's bars side by side, without the gap between groups.
fn bars_width(engines: usize) -> f64 {
    if engines == 0 {
        return 0.0;
    }
    BAR_WIDTH * engines as f64 + BAR_GAP * (engines - 1) as f64
}

fn longest_legend_entry(series: &[String]) -> f64 {
    let note = text_width(MISSING_NOTE);
    series
        .iter()
        .map(|name| text_width(name))
        .fold(note, f64::max)
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

/// The query name as shown under its group: long names cut so the chart stays readable.
fn shorten(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        return label.to_string();
    }
    let kept: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
    kept + "…"
}

/// A log-10 axis from one whole decade to another, so every tick is a power of ten.
struct LogScale {
    lowest_decade: i32,
    highest_decade: i32,
}

impl LogScale {
    /// The decades around every drawable value. The baseline is the power of ten
    /// below the smallest value, strictly below even when that value is itself a
    /// power of ten, so its bar still has a height.
    fn covering(groups: &[Group], engines: usize) -> LogScale {
        let logs = groups
            .iter()
            .flat_map(|g| g.values.iter().take(engines))
            .filter_map(|&v| drawable(v))
            .map(f64::log10);
        let (low, high) = logs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
            (lo.min(l), hi.max(l))
        });
        if !low.is_finite() {
            // Nothing ran: an axis of 1 to 10 ms still reads as a chart.
            return LogScale {
                lowest_decade: 0,
                highest_decade: 1,
            };
        }
        let lowest_decade = low.ceil() as i32 - 1;
        LogScale {
            lowest_decade,
            highest_decade: (high.ceil() as i32).max(lowest_decade + 1),
        }
    }

    fn decades(&self) -> std::ops::RangeInclusive<i32> {
        self.lowest_decade..=self.highest_decade
    }

    /// How far up the plot `value` sits, from 0 at the baseline to 1 at the top.
    fn fraction(&self, value: f64) -> f64 {
        let span = f64::from(self.highest_decade - self.lowest_decade);
        (value.log10() - f64::from(self.lowest_decade)) / span
    }

    fn height(&self, value: f64) -> f64 {
        self.fraction(value) * PLOT_HEIGHT
    }
}

/// The value if it can be drawn on a log scale; zero, negative and NaN cannot.
fn drawable(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v > 0.0)
}

/// The value `engine` has in `group`; a short `values` list means the rest did not run.
fn value_of(group: &Group, engine: usize) -> Option<f64> {
    drawable(group.values.get(engine).copied().flatten())
}

fn any_missing(groups: &[Group], engines: usize) -> bool {
    groups
        .iter()
        .any(|g| (0..engines).any(|engine| value_of(g, engine).is_none()))
}

fn colour(engine: usize) -> &'static str {
    PALETTE[engine % PALETTE.len()]
}

fn open_document(layout: &Layout, title: &str) -> String {
    let (width, height) = (layout.width, layout.height);
    let title = escape(title);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"{FONT_SIZE}\">\n\
         <title>{title}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text class=\"title\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-size=\"{TITLE_FONT_SIZE}\" \
         font-weight=\"bold\">{title}</text>\n",
        x = px(width / 2.0),
        y = px(PLOT_TOP / 2.0 + 4.0),
    )
}

/// Gridlines and labels at each power of ten, the axis lines, and the unit.
fn y_axis(layout: &Layout, scale: &LogScale, unit: &str) -> String {
    let mut svg = String::from("<g class=\"axis\">\n");
    for decade in scale.decades() {
        svg += &decade_tick(layout, scale, decade);
    }
    let (left, right, bottom) = (
        px(layout.plot_left),
        px(layout.plot_right),
        px(layout.plot_bottom),
    );
    svg += &format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\" stroke=\"#333333\"/>\n\
         <line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#333333\"/>\n",
        top = px(PLOT_TOP),
    );
    let (x, y) = (
        px(MARGIN + FONT_SIZE / 2.0),
        px(PLOT_TOP + PLOT_HEIGHT / 2.0),
    );
    svg += &format!(
        "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{} (log scale)</text>\n",
        escape(unit),
    );
    svg + "</g>\n"
}

fn decade_tick(layout: &Layout, scale: &LogScale, decade: i32) -> String {
    let y = px(layout.plot_bottom - scale.height(10f64.powi(decade)));
    format!(
        "<line x1=\"{tick}\" y1=\"{y}\" x2=\"{right}\" y2=\"{y}\" stroke=\"#e0e0e0\"/>\n\
         <text x=\"{label}\" y=\"{y}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>\n",
        power_of_ten(decade),
        tick = px(layout.plot_left - 4.0),
        right = px(layout.plot_right),
        label = px(layout.plot_left - 8.0),
    )
}

/// A power of ten written the way people read times: "0.01", "1000", and past
/// that range "1e6", which stays short beside the axis.
fn power_of_ten(decade: i32) -> String {
    match decade {
        0..=4 => 10u32.pow(decade as u32).to_string(),
        -3..0 => format!("{:.*}", decade.unsigned_abs() as usize, 10f64.powi(decade)),
        _ => format!("1e{decade}"),
    }
}

/// One group's bars, or "×" marks where an engine did not run.
fn group_marks(
    layout: &Layout,
    scale: &LogScale,
    index: usize,
    group: &Group,
    series: &[String],
    unit: &str,
) -> String {
    let mut svg = String::from("<g class=\"group\">\n");
    for (engine, name) in series.iter().enumerate() {
        let left = layout.bar_left(index, engine);
        let tooltip = format!("{} {}", group.label, name);
        svg += &match value_of(group, engine) {
            Some(value) => bar(layout, scale, left, engine, &tooltip, value, unit),
            None => missing_mark(layout, left, engine, &tooltip),
        };
    }
    svg + "</g>\n"
}

fn bar(
    layout: &Layout,
    scale: &LogScale,
    left: f64,
    engine: usize,
    tooltip: &str,
    value: f64,
    unit: &str,
) -> String {
    let height = scale.height(value);
    format!(
        "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{BAR_WIDTH}\" height=\"{}\" fill=\"{}\">\
         <title>{}: {} {}</title></rect>\n",
        px(left),
        px(layout.plot_bottom - height),
        px(height),
        colour(engine),
        escape(tooltip),
        readable_value(value),
        escape(unit),
    )
}

fn missing_mark(layout: &Layout, left: f64, engine: usize, tooltip: &str) -> String {
    format!(
        "<text class=\"missing\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{MISSING_FONT_SIZE}\" font-weight=\"bold\" fill=\"{}\">×\
         <title>{}: did not run</title></text>\n",
        px(left + BAR_WIDTH / 2.0),
        px(layout.plot_bottom - 3.0),
        colour(engine),
        escape(tooltip),
    )
}

/// Three significant figures: enough to compare runs, few enough to read at a glance.
fn readable_value(value: f64) -> String {
    let magnitude = value.log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    format!("{value:.decimals$}")
}

/// The query names under the groups, slanted when they would run into each other.
fn group_labels(layout: &Layout, groups: &[Group]) -> String {
    let mut svg = String::from("<g class=\"labels\">\n");
    let y = px(layout.plot_bottom + FONT_SIZE + 4.0);
    for (index, group) in groups.iter().enumerate() {
        let x = px(layout.group_centre(index));
        let label = escape(&shorten(&group.label));
        svg += &if layout.rotate_labels {
            format!(
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"end\" transform=\"rotate(-{LABEL_ANGLE_DEGREES} {x} {y})\">{label}</text>\n"
            )
        } else {
            format!("<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{label}</text>\n")
        };
    }
    svg + "</g>\n"
}

const MISSING_NOTE: &str = "× did not run";

/// A swatch and name per engine, and a key to the "×" mark when one is drawn.
fn legend(layout: &Layout, series: &[String], explain_missing: bool) -> String {
    let mut svg = String::from("<g class=\"legend\">\n");
    let text_x = px(layout.legend_left + SWATCH + 6.0);
    for (engine, name) in series.iter().enumerate() {
        let top = PLOT_TOP + LEGEND_ROW * engine as f64;
        svg += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{SWATCH}\" height=\"{SWATCH}\" fill=\"{}\"/>\n\
             <text x=\"{text_x}\" y=\"{}\" dy=\"0.32em\">{}</text>\n",
            px(layout.legend_left),
            px(top),
            colour(engine),
            px(top + SWATCH / 2.0),
            escape(name),
        );
    }
    if explain_missing {
        let y = px(PLOT_TOP + LEGEND_ROW * series.len() as f64 + SWATCH / 2.0);
        svg += &format!(
            "<text x=\"{}\" y=\"{y}\" dy=\"0.32em\" fill=\"#555555\">{MISSING_NOTE}</text>\n",
            px(layout.legend_left),
        );
    }
    svg + "</g>\n"
}

/// A coordinate to two decimals: shorter than `f64`'s digits, yet fine enough
/// that close values (999 and 1000 ms) still get bars of different heights.
fn px(value: f64) -> String {
    format!("{value:.2}")
}

/// Text made safe for XML content and attribute values. Control characters XML
/// 1.0 forbids even as references are dropped, since one would break the document.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn group(label: &str, values: &[Option<f64>]) -> Group {
        Group {
            label: label.to_string(),
            values: values.to_vec(),
        }
    }

    /// Panics unless `svg` is well-formed enough for a browser: tags balance,
    /// attributes are quoted, and every `&` starts an entity.
    fn assert_well_formed(svg: &str) {
        let body = match svg.strip_prefix("<?xml") {
            Some(rest) => &rest[rest.find("?>").expect("XML declaration is closed") + 2..],
            None => svg,
        };
        let mut open: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = body;
        while let Some(start) = rest.find('<') {
            assert_entities(&rest[..start]);
            let end = start + rest[start..].find('>').expect("every tag is closed");
            let tag = &rest[start + 1..end];
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in <{tag}>"
            );
            assert_entities(tag);
            let name = tag
                .trim_start_matches('/')
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/');
            assert!(!name.is_empty(), "empty tag name in <{tag}>");
            if let Some(closing) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(closing.trim()), "mismatched </{closing}>");
            } else {
                if open.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    open.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        assert_entities(rest);
        assert!(open.is_empty(), "unclosed tags: {open:?}");
        assert_eq!(roots, 1, "a document has one root element");
    }

    fn assert_entities(text: &str) {
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"];
            assert!(
                known.iter().any(|e| entity.starts_with(e)),
                "raw & in {text:?}"
            );
        }
    }

    /// The `height` of every bar, in document order (group by group, engine by engine).
    fn bar_heights(svg: &str) -> Vec<f64> {
        svg.match_indices("<rect class=\"bar\"")
            .map(|(at, _)| {
                let tag = &svg[at..at + svg[at..].find('>').unwrap()];
                let value = tag
                    .split("height=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                value.parse().unwrap()
            })
            .collect()
    }

    fn svg_width(svg: &str) -> f64 {
        let value = svg
            .split("<svg")
            .nth(1)
            .unwrap()
            .split(" width=\"")
            .nth(1)
            .unwrap();
        value.split('"').next().unwrap().parse().unwrap()
    }

    #[test]
    fn chart_is_well_formed_svg() {
        let series = names(&["datafusion", "duckdb"]);
        let groups = [
            group("q1", &[Some(1.0), Some(10_000.0)]),
            group("q2", &[None, Some(3.5)]),
        ];
        let svg = grouped_bars("TPC-H", "ms", &series, &groups);
        assert_well_formed(&svg);
        assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("viewBox=\"0 0 "));
        assert!(svg.contains("<title>q1 duckdb: 10000 ms</title>"));
    }

    #[test]
    fn one_bar_per_value_and_one_mark_per_missing_value() {
        // 3 groups x 3 engines = 9 slots; missing: q1/c (None), q2/a (0 ms),
        // q3/b (negative), q3/c (values list too short) -> 5 bars, 4 marks.
        let series = names(&["a", "b", "c"]);
        let groups = [
            group("q1", &[Some(2.0), Some(20.0), None]),
            group("q2", &[Some(0.0), Some(5.0), Some(50.0)]),
            group("q3", &[Some(7.0), Some(-1.0)]),
        ];
        let svg = grouped_bars("t", "ms", &series, &groups);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("class=\"bar\"").count(), 5);
        assert_eq!(svg.matches("class=\"missing\"").count(), 4);
        // Four marks plus the one in the legend's key.
        assert_eq!(svg.matches('×').count(), 5);
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let series = names(&["x\"y'z"]);
        let groups = [group("a<&>b", &[Some(1.5)]), group("c", &[None])];
        let svg = grouped_bars("<&> title", "m&s", &series, &groups);
        assert_well_formed(&svg);
        assert!(svg.contains("a&lt;&amp;&gt;b"));
        assert!(svg.contains("x&quot;y&apos;z"));
        assert!(svg.contains("&lt;&amp;&gt; title"));
        assert!(!svg.contains("a<&>b"));
        assert!(svg.contains("<title>a&lt;&amp;&gt;b x&quot;y&apos;z: 1.50 m&amp;s</title>"));
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(escape("a\u{0}b\u{1b}c\td"), "abc\td");
    }

    #[test]
    fn larger_value_gives_taller_bar() {
        let series = names(&["a", "b"]);
        let groups = [
            group("q1", &[Some(1.0), Some(1.1)]),
            group("q2", &[Some(10.0), Some(999.0)]),
            group("q3", &[Some(1000.0), Some(10_000.0)]),
        ];
        let heights = bar_heights(&grouped_bars("t", "ms", &series, &groups));
        assert_eq!(heights.len(), 6);
        assert!(
            heights.windows(2).all(|pair| pair[0] < pair[1]),
            "{heights:?}"
        );
    }

    #[test]
    fn one_millisecond_and_ten_seconds_both_show() {
        // 1 ms sits a decade above the 0.1 ms baseline, 10 s at the top of the axis.
        let series = names(&["a"]);
        let groups = [
            group("fast", &[Some(1.0)]),
            group("slow", &[Some(10_000.0)]),
        ];
        let svg = grouped_bars("t", "ms", &series, &groups);
        let heights = bar_heights(&svg);
        assert!(heights[0] > 0.0);
        assert_eq!(heights[1], PLOT_HEIGHT);
        assert!(svg.contains(">0.1</text>") && svg.contains(">10000</text>"));
    }

    #[test]
    fn width_grows_with_groups() {
        let series = names(&["a", "b"]);
        let few: Vec<Group> = (0..5)
            .map(|i| group(&format!("q{i}"), &[Some(1.0), Some(2.0)]))
            .collect();
        let many: Vec<Group> = (0..30)
            .map(|i| group(&format!("q{i}"), &[Some(1.0), Some(2.0)]))
            .collect();
        assert!(
            svg_width(&grouped_bars("t", "ms", &series, &many))
                > svg_width(&grouped_bars("t", "ms", &series, &few))
        );
    }

    #[test]
    fn long_labels_are_rotated() {
        let series = names(&["a"]);
        let groups = [group("attribution_last_touch_by_channel", &[Some(3.0)])];
        let svg = grouped_bars("t", "ms", &series, &groups);
        assert_well_formed(&svg);
        assert!(svg.contains("transform=\"rotate(-45 "));
    }

    #[test]
    fn slanted_first_label_stays_inside_the_picture() {
        // A 32-character name slanted at 45 degrees reaches 32 * 7 * cos 45 = 158 px
        // left of where it hangs, more than the usual 80 px left of the plot plus
        // half a 36 px group; 20 groups fill the plot, so nothing centres it.
        let label = "a".repeat(MAX_LABEL_CHARS);
        let groups: Vec<Group> = (0..20).map(|_| group(&label, &[Some(3.0)])).collect();
        let svg = grouped_bars("t", "ms", &names(&["a"]), &groups);
        let hang = svg
            .split("<g class=\"labels\">\n<text x=\"")
            .nth(1)
            .unwrap();
        let x: f64 = hang.split('"').next().unwrap().parse().unwrap();
        assert!(x - text_width(&label) * LABEL_ANGLE_DEGREES.to_radians().cos() >= 0.0);
    }

    #[test]
    fn empty_chart_is_still_a_document() {
        assert_well_formed(&grouped_bars("nothing", "ms", &[], &[]));
        let svg = grouped_bars("none ran", "ms", &names(&["a"]), &[group("q", &[None])]);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("class=\"missing\"").count(), 1);
    }

    #[test]
    fn powers_of_ten_read_as_times() {
        assert_eq!(power_of_ten(-2), "0.01");
        assert_eq!(power_of_ten(0), "1");
        assert_eq!(power_of_ten(4), "10000");
        assert_eq!(power_of_ten(6), "1e6");
        assert_eq!(power_of_ten(-5), "1e-5");
    }

    #[test]
    fn values_keep_three_significant_figures() {
        assert_eq!(readable_value(1234.4), "1234");
        assert_eq!(readable_value(12.345), "12.3");
        assert_eq!(readable_value(0.012345), "0.0123");
    }
}
