//! BENCHMARKS.md's peer section and its chart.

use std::fmt::Write as _;

use crate::measure::Measured;
use crate::memory::Footprint;
use crate::timers::{TimerCost, TIME_BUDGET};

/// One shape's results, floor first.
pub struct ShapeResult {
    pub title: &'static str,
    pub unit: &'static str,
    pub rows: Vec<Measured>,
}

pub const BEGIN: &str =
    "<!-- peers: begin (written by benches/peers; edit the program, not this text) -->";
pub const END: &str = "<!-- peers: end -->";

pub struct Context {
    pub command: String,
    pub rounds: usize,
    pub sample_ms: u64,
    pub chart_file: &'static str,
    /// Cores the process could use, counted before any pinning.
    pub cores: usize,
    /// Whether the caller and the loop threads were pinned to cores 0 and 1.
    pub pinned: bool,
}

pub fn markdown(
    shapes: &[ShapeResult],
    footprints: &[Footprint],
    timers: &[TimerCost],
    targets: &[[String; 3]],
    context: &Context,
) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{BEGIN}");
    let _ = writeln!(text, "## Side by side with other event loops\n");
    let _ = writeln!(
        text,
        "On the dispatch shapes every loop waits with a zero timeout once per run \
         and its handlers count each event (and read the eventfd on the drain shape). \
         On the level-triggered shapes all loops watch the same eventfds, each in its \
         own epoll instance; on the drain shape each loop has eventfds of its own. \
         The loops of a shape are timed in {} rounds; each round times every loop \
         once, for about {} ms (each loop is calibrated on its own), in an order that \
         rotates from round to round. A loop's ratio is its time divided by the \
         floor's time in the same round; the tables give, separately, the median time \
         and the median ratio over the rounds, with the ratio's 25th and 75th \
         percentiles in brackets. Verdicts that compare two loops (\"faster than\") \
         divide their times round by round and need the quartiles of that ratio on \
         one side of 1; otherwise they say \"tie\".\n",
        context.rounds, context.sample_ms
    );
    let pinning = if context.pinned {
        "the measuring thread runs on core 0 and the endpoint loops' threads on core 1"
    } else {
        "threads not pinned (fewer than two cores usable)"
    };
    let _ = writeln!(text, "- Machine: {}; {pinning}.", machine(context.cores));
    let _ = writeln!(text, "- Date: {}.", today());
    let _ = writeln!(text, "- Command: `{}`.\n", context.command);
    let _ = writeln!(
        text,
        "![ratio to the floor per shape]({})\n",
        context.chart_file
    );
    let _ = writeln!(text, "### The targets in this run\n");
    let _ = writeln!(
        text,
        "| target | measured (ratios to the floor; shapes in the order below) | met |"
    );
    let _ = writeln!(text, "|---|---|---|");
    for [target, measured, met] in targets {
        let _ = writeln!(text, "| {target} | {measured} | {met} |");
    }
    text.push('\n');
    for shape in shapes {
        let _ = writeln!(text, "### {}\n", shape.title);
        let _ = writeln!(text, "| loop | {} (median) | ratio to floor |", shape.unit);
        let _ = writeln!(text, "|---|---|---|");
        for row in &shape.rows {
            let _ = writeln!(
                text,
                "| {} | {:.1} | {:.3} [{:.3}, {:.3}] |",
                row.name, row.ns_per_event, row.ratio, row.ratio_quartiles.0, row.ratio_quartiles.1
            );
        }
        text.push('\n');
    }
    let _ = writeln!(text, "### Memory\n");
    let _ = writeln!(
        text,
        "Heap bytes held by the manager, counted by a global allocator: per \
         subscriber that registers one fd (`count` of them), and per additional fd \
         of one subscriber that registers `count` fds (its bytes with all of them, \
         less its bytes with one, over `count - 1`). The last case opens 10,000 \
         other fds first, so that the measured fds have high numbers.\n"
    );
    let _ = writeln!(
        text,
        "| case | per subscriber, this crate | per subscriber, 0.4.2 | per additional fd, this crate | per additional fd, 0.4.2 |"
    );
    let _ = writeln!(text, "|---|---|---|---|---|");
    for footprint in footprints {
        let _ = writeln!(
            text,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            footprint.case,
            footprint.ours.per_subscriber,
            footprint.theirs.per_subscriber,
            footprint.ours.per_fd,
            footprint.theirs.per_fd
        );
    }
    text.push('\n');
    text.push_str(&timers_section(timers, context.rounds));
    let _ = writeln!(text, "\n{END}");
    text
}

/// The timers subsection: adding and cancelling many timers.
pub fn timers_section(timers: &[TimerCost], rounds: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "### Timers: add n, then cancel all\n");
    let _ = writeln!(
        text,
        "Each round adds n one-shot timers an hour or more away (deadlines spread \
         over a second, in scrambled order) to a fresh instance and then cancels \
         them all: this crate's `Timers` (one timerfd, an indexed heap) and \
         calloop's `Timer`, one source per timer, inserted with `insert_source` \
         and cancelled with `LoopHandle::remove`. Time: the median, over up to \
         {rounds} rounds (a loop stops after {budget} s of rounds), of the add and \
         cancel loops, per timer. Bytes: heap bytes counted by the global \
         allocator, per timer with all n pending, and in all still held after \
         cancelling every one (for calloop after one more dispatch with nothing \
         due; the largest of any round). In calloop 0.14 a cancel finds the \
         timer's entry by scanning its whole heap, so adding and cancelling n \
         timers takes time in n squared, and its heap and source list keep the \
         capacity of their peak; `Timers` moves the entry out of its heap from the \
         position its slot records and shrinks its vectors.\n",
        budget = TIME_BUDGET.as_secs()
    );
    let _ = writeln!(
        text,
        "| n | implementation | rounds | ns per timer (add + cancel) | bytes per timer, all pending | bytes held after cancelling all |"
    );
    let _ = writeln!(text, "|---|---|---|---|---|---|");
    for cost in timers {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {:.1} | {:.1} | {} |",
            thousands(cost.count),
            cost.name,
            cost.rounds,
            cost.ns_per_timer,
            cost.peak_bytes_per_timer,
            thousands_signed(cost.held_after_cancel)
        );
    }
    text
}

/// 100000 as "100,000".
fn thousands(value: usize) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn thousands_signed(value: isize) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}", thousands(value.unsigned_abs()))
}

/// Puts `section` in place of the old one between the markers, or at the end.
pub fn splice(document: &str, section: &str) -> String {
    match (document.find(BEGIN), document.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let after = &document[end + END.len()..];
            format!("{}{}{}", &document[..begin], section.trim_end(), after)
        }
        _ => format!(
            "{}\n{}",
            document.trim_end_matches('\n').to_owned() + "\n",
            section
        ),
    }
}

fn machine(cores: usize) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() / 86_400) as i64;
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Colours by loop name, so a loop keeps its colour across shapes.
const PALETTE: [&str; 8] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
];

/// A grouped bar chart of ratio to floor: one group per shape, one bar
/// per loop (the floor, always 1, is left out, and drawn as a dashed line).
pub fn chart(shapes: &[ShapeResult]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for row in shapes.iter().flat_map(|shape| shape.rows.iter().skip(1)) {
        if !names.contains(&row.name) {
            names.push(row.name);
        }
    }
    let max_ratio = shapes
        .iter()
        .flat_map(|shape| shape.rows.iter().map(|row| row.ratio))
        .fold(1.0f64, f64::max);
    // Ratios near 1 are the interesting ones, so the axis starts below the
    // smallest ratio rather than at 0.
    let min_ratio = shapes
        .iter()
        .flat_map(|shape| shape.rows.iter().map(|row| row.ratio))
        .fold(1.0f64, f64::min);
    let low = ((min_ratio - 0.05) * 10.0).floor() / 10.0;
    let top = ((max_ratio + 0.1) * 2.0).ceil() / 2.0;
    let step = if top - low > 2.0 { 0.5 } else { 0.25 };
    let (left, right, chart_top, bottom) = (60.0, 20.0, 20.0, 60.0);
    let group_width = 150.0;
    let width = left + right + group_width * shapes.len() as f64;
    let legend_height = 18.0 * names.len().div_ceil(3) as f64 + 10.0;
    let plot_height = 300.0;
    let height = chart_top + plot_height + bottom + legend_height;
    let y = |ratio: f64| chart_top + plot_height * (top - ratio) / (top - low);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let mut tick = (low / step).ceil() * step;
    while tick <= top + 1e-9 {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{tick:.2}</text>"##,
            width - right,
            left - 6.0,
            y(tick) + 4.0,
            y = y(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" x2="{}" y1="{y1:.1}" y2="{y1:.1}" stroke="#000" stroke-dasharray="4 3"/>"##,
        width - right,
        y1 = y(1.0)
    );
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">time / floor (1 = floor)</text>"#,
        chart_top + plot_height / 2.0,
        chart_top + plot_height / 2.0
    );
    for (group, shape) in shapes.iter().enumerate() {
        let bars: Vec<&Measured> = shape.rows.iter().skip(1).collect();
        let x0 = left + group_width * group as f64 + 10.0;
        let bar_width = (group_width - 20.0) / bars.len().max(1) as f64;
        for (index, row) in bars.iter().enumerate() {
            let colour = PALETTE
                [names.iter().position(|name| *name == row.name).unwrap_or(0) % PALETTE.len()];
            let x = x0 + bar_width * index as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {:.3}</title></rect>"#,
                y(row.ratio),
                bar_width - 2.0,
                y(low) - y(row.ratio),
                escape(row.name),
                row.ratio
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + (group_width - 20.0) / 2.0,
            chart_top + plot_height + 16.0,
            escape(short_title(shape.title))
        );
    }
    for (index, name) in names.iter().enumerate() {
        let x = left + 230.0 * (index % 3) as f64;
        let y = chart_top + plot_height + bottom - 10.0 + 18.0 * (index / 3) as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y - 10.0,
            PALETTE[index % PALETTE.len()],
            x + 16.0,
            y,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn short_title(title: &str) -> &str {
    title.split(':').next().unwrap_or(title)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
