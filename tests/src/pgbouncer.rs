//! A pgbouncer of the test's own, in transaction pooling mode, in front of the PostgreSQL server
//! the other tests use: the pooler a fleet of WarTawa processes shares.
//!
//! Run from Debian's package (`pgbouncer`, 1.18 on Debian 12: no prepared statements across
//! transactions), as the `postgres` user when the tests run as root (pgbouncer refuses root),
//! on a free port of 127.0.0.1, stopped and its files deleted when dropped. Without the program
//! the test says loudly that it was skipped, or fails when `WARTAWA_REQUIRE_POSTGRES=1`.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

use crate::pg_cluster::{free_port, running_as_root};

/// A running pgbouncer; dropping it stops it.
pub struct Pgbouncer {
    base: PathBuf,
    port: u16,
    user: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn find_program() -> Option<PathBuf> {
    [
        "/usr/sbin/pgbouncer",
        "/usr/bin/pgbouncer",
        "/usr/local/bin/pgbouncer",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
}

impl Pgbouncer {
    /// Starts a pgbouncer in transaction mode in front of the server of `server_url`, or `None`
    /// after announcing the skip when pgbouncer is not installed.
    pub fn start_in_front_of(server_url: &str) -> Option<Pgbouncer> {
        let Some(program) = find_program() else {
            let reason = "pgbouncer is not installed (apt-get install pgbouncer)";
            if std::env::var("WARTAWA_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("pgbouncer is required (WARTAWA_REQUIRE_POSTGRES=1) but {reason}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "*** SKIPPED: a test behind pgbouncer did not run: {reason} ***"
            );
            return None;
        };
        let server = PgConnectOptions::from_str(server_url).expect("a PostgreSQL URL");
        let user = server.get_username().to_string();
        let base = std::env::temp_dir().join(format!(
            "wartawa-pgbouncer-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("a directory for pgbouncer");
        let bouncer = Pgbouncer {
            base,
            port: free_port(),
            user,
        };
        let host = match server.get_host() {
            "localhost" => "127.0.0.1",
            host => host,
        };
        std::fs::write(
            bouncer.base.join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={host} port={port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {base}/users.txt\n\
                 pool_mode = transaction\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 max_client_conn = 500\ndefault_pool_size = 8\n\
                 logfile = {base}/pgbouncer.log\npidfile = {base}/pgbouncer.pid\n",
                port = server.get_port(),
                listen = bouncer.port,
                base = bouncer.base.display(),
            ),
        )
        .expect("write pgbouncer.ini");
        std::fs::write(
            bouncer.base.join("users.txt"),
            format!("\"{}\" \"\"\n", bouncer.user),
        )
        .expect("write pgbouncer's users");
        let as_postgres = running_as_root();
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&bouncer.base)
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown of pgbouncer's directory failed");
        }
        let mut command = if as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .arg("-d")
            .arg(bouncer.base.join("pgbouncer.ini"))
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .output()
            .expect("run pgbouncer");
        assert!(
            output.status.success(),
            "pgbouncer did not start: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            bouncer.log()
        );
        bouncer.wait_until_listening();
        Some(bouncer)
    }

    /// The URL of `database` through the pooler.
    pub fn url_of(&self, database: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}",
            self.user, self.port
        )
    }

    /// pgbouncer's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.base.join("pgbouncer.log")).unwrap_or_default()
    }

    fn wait_until_listening(&self) {
        let give_up = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < give_up,
                "pgbouncer never listened: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid_file(&self) -> PathBuf {
        self.base.join("pgbouncer.pid")
    }
}

fn stop(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|pid| pid.trim().parse::<i32>().ok())
    else {
        return;
    };
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let give_up = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        stop(&self.pid_file());
        let _ = std::fs::remove_dir_all(&self.base);
    }
}
