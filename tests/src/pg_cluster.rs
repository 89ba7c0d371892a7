//! A private PostgreSQL cluster, for tests that stop and start the database server: they must
//! never do that to the shared server every other test runs on.
//!
//! The cluster is made with the server's own tools (`initdb`, `pg_ctl`) in a temporary directory,
//! listens on a free port of 127.0.0.1 with trust authentication, and is stopped and deleted when
//! the [`PrivateCluster`] is dropped, whatever the test did. PostgreSQL refuses to run as root, so
//! when the tests run as root the tools run as the `postgres` user (`runuser`).
//! Without the tools the test says loudly that it was skipped, or fails when
//! `WARTAWA_REQUIRE_POSTGRES=1`.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// How `pg_ctl stop` ends the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Every server process is killed at once, as in a crash or a power cut: no checkpoint, the
    /// next start replays the write-ahead log.
    Immediate,
    /// Sessions are ended with an error (`57P01`) and the server shuts down cleanly.
    Fast,
}

impl StopMode {
    fn as_arg(self) -> &'static str {
        match self {
            StopMode::Immediate => "immediate",
            StopMode::Fast => "fast",
        }
    }
}

/// A PostgreSQL server of the test's own; dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct PrivateCluster {
    bin: PathBuf,
    /// The temporary directory holding the data directory, the log and the socket.
    base: PathBuf,
    port: u16,
    /// Whether the tools must be run as the `postgres` user (the tests run as root).
    as_postgres: bool,
}

static NEXT_CLUSTER: AtomicU64 = AtomicU64::new(0);

/// The directory holding `initdb`, `pg_ctl` and `pg_basebackup`: `WARTAWA_PG_BIN`, else the `PATH`, else the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep them off the `PATH`).
fn find_bin() -> Option<PathBuf> {
    let has_tools = |dir: &Path| {
        ["initdb", "pg_ctl", "pg_basebackup"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    if let Some(dir) = std::env::var_os("WARTAWA_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|dir| has_tools(dir));
    }
    if let Some(dir) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| has_tools(dir))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// Whether the tests run as root (PostgreSQL's programs then run as `postgres`).
pub(crate) fn running_as_root() -> bool {
    // The owner of /proc/self is the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A port of 127.0.0.1 that nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

impl PrivateCluster {
    /// Makes and starts a cluster, or `None` after announcing the skip when the server's tools are
    /// not installed (a failure instead when `WARTAWA_REQUIRE_POSTGRES=1`).
    pub fn start_new() -> Option<PrivateCluster> {
        let as_postgres = running_as_root();
        let missing = match find_bin() {
            None => Some("initdb and pg_ctl are not installed (set WARTAWA_PG_BIN to their directory)"),
            Some(_) if as_postgres && Command::new("runuser").arg("--help").output().is_err() => {
                Some("the tests run as root and runuser, needed to run PostgreSQL as the postgres user, is missing")
            }
            Some(_) => None,
        };
        if let Some(reason) = missing {
            if std::env::var("WARTAWA_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (WARTAWA_REQUIRE_POSTGRES=1) but {reason}");
            }
            // Written to the stream itself, past the test harness's capture, so that a skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "*** SKIPPED: a test needing a private PostgreSQL cluster did not run: {reason} ***"
            );
            return None;
        }
        let bin = find_bin()?;
        let base = std::env::temp_dir().join(format!(
            "wartawa-pg-{}-{}",
            std::process::id(),
            NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        let cluster = PrivateCluster {
            bin,
            base,
            port: free_port(),
            as_postgres,
        };
        // Made by the user the server runs as, which must own the data directory.
        let mut mkdir = cluster.as_server_user("mkdir");
        mkdir.args(["-m", "700"]).arg(&cluster.base);
        cluster.run_ok(mkdir);
        let mut initdb = cluster.tool("initdb");
        initdb.arg("-D").arg(cluster.data()).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        cluster.run_ok(initdb);
        cluster.start();
        Some(cluster)
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started: a hot standby that
    /// replays what this one writes, read-only, on a port of its own.
    pub fn start_replica(&self) -> PrivateCluster {
        let replica = PrivateCluster {
            bin: self.bin.clone(),
            base: PathBuf::from(format!("{}-replica", self.base.display())),
            port: free_port(),
            as_postgres: self.as_postgres,
        };
        let _ = std::fs::remove_dir_all(&replica.base);
        let mut mkdir = replica.as_server_user("mkdir");
        mkdir.args(["-m", "700"]).arg(&replica.base);
        replica.run_ok(mkdir);
        let mut backup = replica.tool("pg_basebackup");
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(replica.data())
            .args(["-R", "-X", "stream", "--no-sync"]);
        replica.run_ok(backup);
        replica.start();
        replica
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections (after crash recovery, if any).
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.base.display()
        );
        let mut start = self.tool("pg_ctl");
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "60", "-o"])
            .arg(options)
            .arg("start");
        let output = self.run(&mut start);
        assert!(
            output.status.success(),
            "pg_ctl start failed: {}\nserver log:\n{}",
            describe(&output),
            self.log_tail()
        );
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&self, mode: StopMode) {
        let output = self.run(&mut self.stop_command(mode));
        assert!(
            output.status.success(),
            "pg_ctl stop -m {} failed: {}\nserver log:\n{}",
            mode.as_arg(),
            describe(&output),
            self.log_tail()
        );
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn data(&self) -> PathBuf {
        self.base.join("data")
    }

    fn log(&self) -> PathBuf {
        self.base.join("server.log")
    }

    fn stop_command(&self, mode: StopMode) -> Command {
        let mut stop = self.tool("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", mode.as_arg(), "-w", "-t", "60", "stop"]);
        stop
    }

    /// A command of the server's tools, run as the user the server runs as.
    fn tool(&self, name: &str) -> Command {
        self.as_server_user(self.bin.join(name))
    }

    fn as_server_user(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The test's working directory may be closed to the postgres user.
        command.current_dir(std::env::temp_dir());
        command
    }

    fn run(&self, command: &mut Command) -> Output {
        // The server started by pg_ctl writes to its log, never to these pipes, so that waiting
        // for the pipes to close does not wait for the server.
        command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
    }

    fn run_ok(&self, mut command: Command) {
        let output = self.run(&mut command);
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            describe(&output)
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Stopped whether or not it runs (stopping a stopped server fails harmlessly), then deleted.
        if self.data().join("postmaster.pid").exists() {
            let _ = self.run(&mut self.stop_command(StopMode::Immediate));
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}
