//! Running the workspace's examples as separate processes.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

/// How long to wait for an expected line before calling the process stuck.
/// Only a guard against a hang: no test depends on how fast lines come.
const STUCK_AFTER: Duration = Duration::from_secs(120);

/// The path of the example `name`, built for the profile of this test
/// binary.
///
/// `cargo test` builds the examples before running tests, but not when it
/// is asked for one test target (`--test echo`); so this runs `cargo build`
/// once per test binary, which finds the examples fresh in the first case.
pub fn example_binary(name: &str) -> PathBuf {
    static PROFILE_DIR: OnceLock<PathBuf> = OnceLock::new();
    let profile_dir = PROFILE_DIR.get_or_init(|| {
        // The test binary is <target>/<profile dir>/deps/<name>.
        let exe = std::env::current_exe().expect("locate the test binary");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test binary is in <target>/<profile>/deps")
            .to_path_buf();
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(other) => other.to_string(),
            None => panic!("no profile in {}", profile_dir.display()),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--workspace",
                "--all-features",
                "--examples",
            ])
            .args(["--profile", &profile])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --examples failed");
        profile_dir
    });
    profile_dir.join("examples").join(name)
}

/// An example running as a child process, its output read line by line.
pub struct ExampleProcess {
    name: String,
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every line read so far, for failure messages and `finish`.
    stdout_seen: Vec<String>,
    stderr_seen: Vec<String>,
}

/// How an example ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// All it wrote to stdout.
    pub stdout: String,
    /// All it wrote to stderr.
    pub stderr: String,
}

impl ExampleProcess {
    /// Starts the example `name` with `args`.
    pub fn start(name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(example_binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("start the {name} example: {err}"));
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        ExampleProcess {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            stdout_seen: Vec::new(),
            stderr_seen: Vec::new(),
        }
    }

    /// Runs the example `name` with `args` to its end.
    pub fn run(name: &str, args: &[&str]) -> Finished {
        Self::start(name, args).finish()
    }

    /// The child's process id.
    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t")
    }

    /// Waits for the next stdout line that contains `needle` and returns it.
    pub fn stdout_line_containing(&mut self, needle: &str) -> String {
        Self::line_containing(&self.name, &self.stdout, &mut self.stdout_seen, needle)
    }

    /// Waits for the next stderr line that contains `needle` and returns it.
    pub fn stderr_line_containing(&mut self, needle: &str) -> String {
        Self::line_containing(&self.name, &self.stderr, &mut self.stderr_seen, needle)
    }

    fn line_containing(
        name: &str,
        lines: &Receiver<String>,
        seen: &mut Vec<String>,
        needle: &str,
    ) -> String {
        loop {
            match lines.recv_timeout(STUCK_AFTER) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{name} closed its output before a line containing {needle:?}; it wrote:\n{}", seen.join("\n"))
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{name} wrote no line containing {needle:?}; it wrote:\n{}",
                        seen.join("\n")
                    )
                }
            }
        }
    }

    /// The numbers of the fds the child has open.
    pub fn fd_numbers(&self) -> Vec<u64> {
        crate::fd_numbers(&self.child.id().to_string())
    }

    /// The number of fds the child has open.
    pub fn open_fds(&self) -> usize {
        self.fd_numbers().len()
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill takes plain integers; the pid is our own child's,
        // which is not reaped before `finish`, so it names no other process.
        let result = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(result, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Sets the child's soft limit of open fds (`RLIMIT_NOFILE`).
    pub fn set_fd_limit(&self, soft: u64) {
        let limit = crate::fd_limit(self.pid());
        crate::set_fd_limit(
            self.pid(),
            libc::rlimit {
                rlim_cur: soft,
                ..limit
            },
        );
    }

    /// Waits for the child to exit and collects the rest of its output.
    /// A child still running after two minutes (`STUCK_AFTER`, a guard
    /// against a hang, not a timing check) is killed, and the test fails
    /// with what it wrote.
    pub fn finish(mut self) -> Finished {
        let (exited, waiting) = mpsc::channel::<()>();
        let pid = self.pid();
        let watchdog = thread::spawn(move || {
            let stuck = waiting.recv_timeout(STUCK_AFTER) == Err(RecvTimeoutError::Timeout);
            if stuck {
                // SAFETY: kill takes plain integers; the child is not
                // reaped until `wait` below returns, so the pid is its.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            stuck
        });
        let status = self.child.wait().expect("wait for the example");
        let _ = exited.send(());
        let stuck = watchdog.join().expect("the watchdog thread panicked");
        self.stdout_seen.extend(self.stdout.iter());
        self.stderr_seen.extend(self.stderr.iter());
        assert!(
            !stuck,
            "{} did not exit within {STUCK_AFTER:?}; it wrote:\n{}\n{}",
            self.name,
            self.stdout_seen.join("\n"),
            self.stderr_seen.join("\n")
        );
        Finished {
            status,
            stdout: self.stdout_seen.join("\n"),
            stderr: self.stderr_seen.join("\n"),
        }
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        // A test that panicked leaves no process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Forwards the lines of `stream` to a channel from a thread of its own.
fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}
