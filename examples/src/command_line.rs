//! The examples' command lines: `--flag VALUE` options with defaults, a
//! `--help` that lists them, and usage errors on stderr.

use std::fmt::Display;
use std::process;

/// The exit status of an example given a command line it cannot run with.
pub const USAGE_ERROR: i32 = 2;

/// Help text is wrapped to this many columns.
const WIDTH: usize = 79;

/// What an example accepts on its command line and says about itself on
/// `-h` or `--help`.
///
/// Each option takes one value (`--flag VALUE`); `-h` and `--help` are
/// always accepted; anything else is an error. Parsing only checks the
/// flags: the example turns the values into what it needs, and reports a
/// value it cannot use through [`CommandLine::fail`].
///
/// ```
/// use event_manager_examples::{CommandLine, Parsed};
///
/// let command_line = CommandLine::new("tool", "does one thing")
///     .option("--count", "N", 3, "how many times to do it");
/// let args = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
///
/// let given = command_line.parse(args(&["--count", "5"])).unwrap();
/// assert_eq!(given, Parsed::Options(vec![("--count", "5".to_string())]));
/// assert_eq!(command_line.parse(args(&["--help"])).unwrap(), Parsed::Help);
/// assert!(command_line.help().contains("--count N"));
/// assert!(command_line.help().contains("[default: 3]"));
/// let err = command_line.parse(args(&["--verbose"])).unwrap_err();
/// assert_eq!(err, "unknown option `--verbose`");
/// ```
pub struct CommandLine {
    name: &'static str,
    summary: &'static str,
    about: Vec<String>,
    options: Vec<OptionSpec>,
    notes: Vec<String>,
}

struct OptionSpec {
    flag: &'static str,
    value: &'static str,
    default: String,
    meaning: String,
}

/// What a command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `-h` or `--help`: print the help and exit.
    Help,
    /// The options given, as `(flag, value)` in the order they came.
    Options(Vec<(&'static str, String)>),
}

impl CommandLine {
    /// The command line of the example `name`, which `summary` describes
    /// in a few words.
    pub fn new(name: &'static str, summary: &'static str) -> Self {
        CommandLine {
            name,
            summary,
            about: Vec::new(),
            options: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a paragraph to the description above the usage line.
    pub fn about(mut self, paragraph: impl Into<String>) -> Self {
        self.about.push(paragraph.into());
        self
    }

    /// Adds the option `flag VALUE`, which is `default` when not given.
    pub fn option(
        mut self,
        flag: &'static str,
        value: &'static str,
        default: impl Display,
        meaning: impl Into<String>,
    ) -> Self {
        self.options.push(OptionSpec {
            flag,
            value,
            default: default.to_string(),
            meaning: meaning.into(),
        });
        self
    }

    /// Adds a paragraph below the list of options.
    pub fn note(mut self, paragraph: impl Into<String>) -> Self {
        self.notes.push(paragraph.into());
        self
    }

    /// The one-line synopsis: `usage: name [--flag VALUE] ...`.
    pub fn usage(&self) -> String {
        let mut usage = format!("usage: {}", self.name);
        for option in &self.options {
            usage.push_str(&format!(" [{} {}]", option.flag, option.value));
        }
        usage
    }

    /// The text `--help` prints: what the example does, its usage, every
    /// option with its meaning and default, and the notes.
    pub fn help(&self) -> String {
        let mut help = format!("{}: {}\n", self.name, self.summary);
        for paragraph in &self.about {
            help.push('\n');
            push_wrapped(&mut help, paragraph.split_whitespace(), "", "");
        }
        help.push('\n');
        help.push_str(&self.usage());
        help.push_str("\n\n");
        if self.options.is_empty() {
            help.push_str("It takes no options; -h or --help prints this help.\n");
        } else {
            help.push_str("options:\n");
            // The default stays in one piece at the end of its entry.
            let entries: Vec<(String, String, Option<String>)> = self
                .options
                .iter()
                .map(|option| {
                    (
                        format!("{} {}", option.flag, option.value),
                        option.meaning.clone(),
                        Some(format!("[default: {}]", option.default)),
                    )
                })
                .chain([(
                    "-h, --help".to_string(),
                    "print this help and exit".to_string(),
                    None,
                )])
                .collect();
            let column = entries
                .iter()
                .map(|(left, ..)| left.len())
                .max()
                .unwrap_or(0)
                + 4;
            for (left, meaning, default) in &entries {
                let first = format!("  {left:<width$}", width = column - 2);
                let words = meaning.split_whitespace().chain(default.as_deref());
                push_wrapped(&mut help, words, &first, &" ".repeat(column));
            }
        }
        for paragraph in &self.notes {
            help.push('\n');
            push_wrapped(&mut help, paragraph.split_whitespace(), "", "");
        }
        help
    }

    /// Reads `args` (the arguments after the program's name).
    ///
    /// The error says what is wrong, without the usage line; see
    /// [`CommandLine::fail`].
    pub fn parse(&self, args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
        let mut args = args.into_iter();
        let mut given = Vec::new();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(Parsed::Help);
            }
            let Some(option) = self.options.iter().find(|option| option.flag == arg) else {
                return Err(if arg.starts_with('-') {
                    format!("unknown option `{arg}`")
                } else {
                    format!("unexpected argument `{arg}`")
                });
            };
            let value = args
                .next()
                .ok_or_else(|| format!("{} needs a value ({})", option.flag, option.value))?;
            given.push((option.flag, value));
        }
        Ok(Parsed::Options(given))
    }

    /// Reads the process's arguments: prints the help and exits with 0 on
    /// `--help`, reports a bad command line through [`CommandLine::fail`],
    /// and otherwise returns the options given.
    pub fn read_args(&self) -> Vec<(&'static str, String)> {
        match self.parse(std::env::args().skip(1)) {
            Ok(Parsed::Options(given)) => given,
            Ok(Parsed::Help) => {
                print!("{}", self.help());
                process::exit(0);
            }
            Err(message) => self.fail(message),
        }
    }

    /// Prints `message` and the usage line to stderr, and exits with
    /// [`USAGE_ERROR`].
    pub fn fail(&self, message: impl Display) -> ! {
        eprintln!(
            "{name}: {message}\n{usage}\n`{name} --help` lists every option with its default.",
            name = self.name,
            usage = self.usage()
        );
        process::exit(USAGE_ERROR);
    }
}

/// Appends `words` wrapped to `WIDTH` columns: the first line starts with
/// `first`, the others with `rest`. A word longer than a line gets a line
/// of its own.
fn push_wrapped<'a>(
    out: &mut String,
    words: impl IntoIterator<Item = &'a str>,
    first: &str,
    rest: &str,
) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in words {
        if !empty && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}
