//! The `wartawa` command as an operator meets it: help and version, every setting documented by
//! `serve --help`, and start-up that fails loudly and early (one line, a non-zero exit, never
//! "listening" first) on a bad value, a host that does not resolve or a port in use.

use std::net::TcpListener;
use std::process::{Command, Output};

/// Runs `wartawa` with `args` and only the variables given (and `PATH`), from an empty
/// directory, so that no `.env` and no variable of the test's own environment is read.
fn wartawa(args: &[&str], vars: &[(&str, &str)]) -> Output {
    wartawa_in("empty", "", args, vars)
}

/// As `wartawa`, from a directory of its own whose `.env` holds `dot_env`.
fn wartawa_in(name: &str, dot_env: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let directory = std::env::temp_dir().join(format!("wartawa-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a working directory");
    if !dot_env.is_empty() {
        std::fs::write(directory.join(".env"), dot_env).expect("a .env file");
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_wartawa"));
    command
        .args(args)
        .current_dir(&directory)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LOG_FORMAT", "text");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("wartawa runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_explain_the_commands() {
    let help = wartawa(&["--help"], &[]);
    assert!(help.status.success());
    let shown = text(&help.stdout);
    for command in ["serve", "migrate", "create-admin", "openapi"] {
        assert!(
            shown.contains(command),
            "{command} missing from --help:\n{shown}"
        );
    }
    let version = wartawa(&["--version"], &[]);
    assert!(version.status.success());
    assert_eq!(
        text(&version.stdout).trim(),
        format!("wartawa {}", env!("CARGO_PKG_VERSION"))
    );
    for command in ["serve", "migrate", "create-admin", "openapi"] {
        let help = wartawa(&[command, "--help"], &[]);
        assert!(
            help.status.success(),
            "{command} --help: {}",
            text(&help.stderr)
        );
        assert!(text(&help.stdout).contains("Usage: wartawa"));
    }
}

#[test]
fn serve_help_documents_every_setting_and_its_variable() {
    let help = text(&wartawa(&["serve", "--help"], &[]).stdout);
    for bootstrap::config::SettingVariable { variable, flag, .. } in
        bootstrap::config::setting_variables()
    {
        assert!(
            help.contains(&format!("--{flag}")) && help.contains(&format!("[env: {variable}")),
            "{variable} (--{flag}) is not in serve --help"
        );
    }
    assert!(help.contains("[default: 6543]"));
}

#[test]
fn the_openapi_document_needs_no_configuration() {
    let printed = wartawa(&["openapi"], &[("APP_PORT", "0")]);
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let document: serde_json::Value =
        serde_json::from_slice(&printed.stdout).expect("a JSON document");
    assert!(document["paths"]["/api/bookings"].is_object());
}

/// Fails before serving: exit `code`, the reason on standard error, nothing ever listening.
fn fails_early(vars: &[(&str, &str)], code: i32, reason: &str) -> String {
    let run = wartawa(&["serve"], vars);
    let (out, err) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(
        run.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    assert!(err.contains(reason), "{reason:?} not in:\n{err}");
    assert!(
        !out.contains("listening") && !err.contains("listening"),
        "{out}{err}"
    );
    err
}

#[test]
fn start_up_fails_loudly_and_early() {
    let line = fails_early(
        &[("DATABASE_POOL_SIZE", "0")],
        2,
        "invalid value '0' for DATABASE_POOL_SIZE (--database-pool-size)",
    );
    assert_eq!(line.trim().lines().count(), 1, "one line: {line}");
    let secret = fails_early(&[("JWT_SECRET", "hunter2")], 2, "JWT_SECRET");
    assert!(
        !secret.contains("hunter2"),
        "a secret is never repeated: {secret}"
    );
    fails_early(
        &[("DATABASE_URL", "mysql://app:pw@db/wartawa")],
        2,
        "postgres:// or postgresql://",
    );
    fails_early(&[("APP_HOST", "not-a-host.invalid")], 1, "cannot listen on");

    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("an address").port().to_string();
    fails_early(
        &[("APP_HOST", "127.0.0.1"), ("APP_PORT", &port)],
        1,
        "Address already in use",
    );
}

#[test]
fn dot_env_is_read_and_the_environment_wins_over_it() {
    let from_file = wartawa_in("dotenv", "DATABASE_POOL_SIZE=0\n", &["serve"], &[]);
    assert_eq!(from_file.status.code(), Some(2));
    assert!(text(&from_file.stderr).contains("DATABASE_POOL_SIZE"));
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("an address").port().to_string();
    let overridden = wartawa_in(
        "dotenv",
        "DATABASE_POOL_SIZE=0\n",
        &["serve"],
        &[
            ("DATABASE_POOL_SIZE", "5"),
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", &port),
        ],
    );
    assert_eq!(
        overridden.status.code(),
        Some(1),
        "{}",
        text(&overridden.stderr)
    );
    assert!(text(&overridden.stderr).contains("Address already in use"));
}

#[test]
fn a_misspelled_variable_is_reported() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("an address").port().to_string();
    let run = wartawa(
        &["serve"],
        &[
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", &port),
            ("APP_PROT", "8080"),
        ],
    );
    let logs = text(&run.stdout);
    assert!(
        logs.contains("APP_PROT is not a WarTawa setting and is ignored; did you mean APP_PORT?"),
        "{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal: {logs:?}"
    );
}
